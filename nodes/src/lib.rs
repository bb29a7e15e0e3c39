//! The pieces of the `vms` binary: running a node, the demo, the camera simulator, the admin CLI,
//! and the child-process helpers the benchmarks (`vms-bench`) and the test harness (`vms-testkit`)
//! share. The modules are private; what the binaries and those crates use is re-exported here.

mod backend;
mod bootstrap;
mod ctl;
mod demo;
mod logging;
mod node;
mod process;
mod sim;
mod sim_auth;
mod sim_clock;
mod sim_faults;

pub use backend::NodeBackend;
pub use bootstrap::ADMIN_PASSWORD_ENV;
pub use ctl::{CtlArgs, json_response, run as run_ctl};
pub use demo::{DemoArgs, run as run_demo};
pub use logging::init_tracing;
pub use node::{RunningNode, connect_store, run as run_node, start as start_node};
pub use process::{
    SimOptions, SimProcess, cpu_seconds, cpu_seconds_between, cpu_seconds_by_process, open_fds,
    rss_mib, signal, terminate, vms_exe,
};
pub use sim::{SimArgs, person_scene_frames, run as run_sim, test_pictures};
