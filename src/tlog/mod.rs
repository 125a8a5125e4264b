//! The transparency log: RFC 6962 Merkle tree, proofs and signed checkpoints
//! (pure), and the server-side keeper of the tree over a store.

pub mod merkle;
pub mod note;
pub mod service;
pub mod tiles;

pub use merkle::{Hash, MerkleError, Tree};
pub use note::{Checkpoint, NoteError, Verifier};
