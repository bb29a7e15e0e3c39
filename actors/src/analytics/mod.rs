//! Analytics: detection on sampled keyframes, the rules that turn detections into events, the
//! durable event outbox and the live event feed. It imports recording (whose `KeyframeAnalysis`
//! it implements), media, the node context and the base modules.

pub(crate) mod detection;
pub(crate) mod feed;
pub(crate) mod inference;
pub(crate) mod outbox;
pub(crate) mod queue_metrics;
pub(crate) mod rules;
pub(crate) mod usage;

pub use detection::*;
