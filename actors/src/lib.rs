//! The actors of a VMS node and what they drive: GStreamer recording pipelines and the NATS
//! publisher, over the PostgreSQL store of the `vms-store` crate.
//!
//! Supervision tree: [`supervisor::NodeSupervisor`] → [`recording::tenant::TenantActor`] per
//! tenant → [`recording::camera::CameraActor`] per camera → [`recording::segmenter::SegmenterActor`];
//! plus the singletons [`recording::retention::RetentionActor`], [`notify::notifier::NotifierActor`]
//! and [`notify::escalation::EscalationActor`].
//! Every actor builds its state from its arguments in `pre_start`, so a restart starts clean.

pub mod analytics;
pub mod backoff;
pub mod clock;
pub mod cluster;
pub mod cluster_auth;
pub mod context;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod ownership;
pub mod recording;
pub mod signing;
pub mod supervisor;

//
// Modules are reached by their folder (`vms_actors::recording::camera`); the layer order and what
// each folder may import are in `docs/architecture.md` and checked by `tests/layers.rs`.
pub use context::NodeContext;
