//! The `suyuan` binary.
#![forbid(unsafe_code)]

mod cli;

// glibc's malloc spent ~20% of the scan page's CPU in its slow paths
// (consolidation of freed page-sized buffers); mimalloc's per-thread pages avoid them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
