//! The pieces of the `vms` binary: running a node, the demo, the camera simulator, benchmarks, and the
//! child-process helpers they and the integration tests share.

pub mod backend;
pub mod bench;
pub mod bootstrap;
pub mod ctl;
pub mod demo;
pub mod node;
pub mod process;
pub mod receivers;
pub mod sandbox;
pub mod sim;
