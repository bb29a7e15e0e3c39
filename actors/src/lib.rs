//! The actors of a VMS node and what they drive: GStreamer recording pipelines and the NATS
//! publisher, over the PostgreSQL store of the `vms-store` crate.
//!
//! Supervision tree: [`supervisor::NodeSupervisor`] → [`tenant::TenantActor`] per tenant →
//! [`camera::CameraActor`] per camera → [`segmenter::SegmenterActor`]; plus the singletons
//! [`retention::RetentionActor`], [`notifier::NotifierActor`] and [`escalation::EscalationActor`].
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

// The paths modules had before they were grouped by job, kept while code moves over to the new ones.
pub use analytics::{feed, outbox, rules};
pub use cluster::{changes, links, local, membership, placement, self_fence};
pub use media::{pipeline, recorder, sampler, tsmux};
pub use notify::{escalation, notifier};
pub use recording::{analysis, camera, orphans, retention, segmenter, tenant};

pub use context::NodeContext;
