//! The actors of a VMS node and what they drive: GStreamer recording pipelines, the PostgreSQL store,
//! and the NATS publisher.
//!
//! Supervision tree: [`supervisor::NodeSupervisor`] → [`tenant::TenantActor`] per tenant →
//! [`camera::CameraActor`] per camera → [`segmenter::SegmenterActor`]; plus the singletons
//! [`retention::RetentionActor`], [`notifier::NotifierActor`] and [`escalation::EscalationActor`].
//! Every actor builds its state from its arguments in `pre_start`, so a restart starts clean.

pub mod analytics;
pub mod backoff;
pub mod camera;
pub mod changes;
pub mod cluster_auth;
pub mod context;
pub mod escalation;
pub mod feed;
pub mod links;
pub mod membership;
pub mod metrics;
pub mod notifier;
pub mod orphans;
pub mod outbox;
pub mod pipeline;
pub mod placement;
pub mod recorder;
pub mod retention;
pub mod rules;
pub mod sampler;
pub mod segmenter;
pub mod self_fence;
pub mod store;
pub mod supervisor;
pub mod tenant;
pub mod tsmux;

pub use context::NodeContext;
pub use store::{Store, StoreError};
