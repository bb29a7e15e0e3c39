//! The pieces of the `vms` binary: running a node, the demo, the camera simulator, benchmarks, and the
//! child-process helpers they and the test harness (the dev-only `vms-testkit` crate) share.

pub mod backend;
pub mod bootstrap;
pub mod ctl;
pub mod demo;
pub mod logging;
pub mod node;
pub mod process;
pub mod sim;
