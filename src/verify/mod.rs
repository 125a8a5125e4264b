//! Code that trusts no server: the audit of a whole log and offline evidence bundles.

pub mod audit;
pub mod bundle;
