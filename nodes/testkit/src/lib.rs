//! The node's test harness, a dev-dependency only: a [`Sandbox`] runs a scratch database, the camera
//! simulator and `vms node` processes with an API client; the receivers are a webhook endpoint and
//! an SMTP server that record what reaches them. None of it is compiled into the `vms` binary.

mod browser;
mod console;
mod databases;
mod live;
mod node_process;
mod probes;
mod receivers;
mod sandbox;
mod waiting;

pub use console::{assert_console_pages_pass, run_console_check};
pub use databases::{PrivatePostgres, TestDatabase, test_postgres};
pub use live::{
    LiveSocket, LiveWatch, assert_plays_in_chromium, chromium_live_view, live_refusal, open_live,
    watch_live,
};
pub use node_process::NodeProcess;
pub use probes::{
    api_error, assert_refused, ffprobe_duration, ffprobe_video, jetstream_events, metric_positive,
    metric_value, typed,
};
pub use receivers::{SmtpReceiver, WebhookReceiver};
pub use sandbox::{SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD, Sandbox, SandboxBuilder};
pub use vms_node::json_response;
pub use waiting::{free_port, wait_for};
