//! `vms-bench`: benchmarks that print a figure and its ratio against a baseline measured in the same
//! run. A dev-only crate: they drive the `vms` binary built beside them (`cargo build --release -p
//! vms-node -p vms-bench`), and are not part of it.

pub mod auth;
pub mod context;
pub mod coverage;
pub mod detect;
pub mod events;
mod events_cluster;
pub mod export;
pub mod fairness;
pub mod glass;
pub mod ingest;
pub mod live;
pub mod live_viewers;
pub mod node;
