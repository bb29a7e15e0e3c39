//! What a camera actor needs of analytics, as traits: the analytics layer implements them and the
//! supervisor hands them down, so recording starts a camera's analysis without importing analytics.

use crate::media::ingest::KeyframeSink;
use futures_util::future::BoxFuture;
use vms_messages::Camera;

/// Starts the analysis of cameras' keyframes (the node's detectors and rules).
pub trait KeyframeAnalysis: Send + Sync {
    /// Whether the node runs detector `name`.
    fn runs(&self, name: &str) -> bool;

    /// Starts analysing `camera`, whose events carry the ownership `epoch`; returns what stops the
    /// analysis when dropped, and the sink the recording pipeline feeds keyframes to.
    fn start(
        &self,
        camera: &Camera,
        epoch: Option<i64>,
    ) -> Result<(Box<dyn CameraAnalysis>, KeyframeSink), String>;
}

/// The running analysis of one camera; it stops when dropped.
pub trait CameraAnalysis: Send + Sync {
    /// Re-reads the camera's rules (after a change through the API).
    fn reload(&self) -> BoxFuture<'_, ()>;
}
