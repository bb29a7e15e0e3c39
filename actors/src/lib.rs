//! The actors of a VMS node and what they drive: GStreamer recording pipelines, the PostgreSQL store,
//! and the NATS publisher.
//!
//! Supervision tree: [`supervisor::NodeSupervisor`] → [`tenant::TenantActor`] per tenant →
//! [`camera::CameraActor`] per camera → [`segmenter::SegmenterActor`]; plus [`retention::RetentionActor`].
//! Every actor builds its state from its arguments in `pre_start`, so a restart starts clean.

pub mod analytics;
pub mod backoff;
pub mod camera;
pub mod context;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod recorder;
pub mod retention;
pub mod sampler;
pub mod segmenter;
pub mod store;
pub mod supervisor;
pub mod tenant;
pub mod tsmux;

pub use context::NodeContext;
pub use store::{Store, StoreError};
