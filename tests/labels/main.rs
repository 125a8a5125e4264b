//! Labels end to end: every format rendered to real bytes, decoded by a real
//! QR decoder back to the exact URL, whose signature verifies with the demo
//! factory key; zip archives of labels; printing to a local TCP listener; bad input; the committed
//! samples; and the real binary against a real `suyuan serve --demo`.
//! One test binary (one link) for all of it.

mod archive;
mod cli;
mod decode;
mod formats;
mod mask;
mod printing;
mod samples;
