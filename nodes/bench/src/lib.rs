//! `vms bench`: benchmarks that print a figure and its ratio against a baseline measured in the same
//! run.

pub mod auth;
pub mod context;
pub mod coverage;
pub mod detect;
pub mod events;
pub mod ingest;
pub mod node;
