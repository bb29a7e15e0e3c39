//! The node's test harness, a dev-dependency only: [`sandbox`] runs a scratch database, the camera
//! simulator and `vms node` processes with an API client; [`receivers`] are a webhook endpoint and
//! an SMTP server that record what reaches them. None of it is compiled into the `vms` binary.

pub mod receivers;
pub mod sandbox;
