//! How a camera's frames reach a model: the [`Inference`] trait the detection task calls, which the
//! cluster layer implements by routing each frame to a model worker replica on this node or another
//! (`cluster::router`), so analytics never names the cluster.

use futures_util::future::BoxFuture;
use vms_models::{Detection, DetectorError, OwnedFrame, Submission};

/// What became of a frame handed to a model.
#[derive(Debug)]
pub enum Routed {
    /// A replica ran it (or refused it: expired, failed).
    Done(Result<Vec<Detection>, DetectorError>),
    /// A full queue shed it.
    Shed,
    /// No replica of the model could take it before its deadline.
    NoReplica,
}

/// Runs frames on the cluster's model worker replicas.
pub trait Inference: Send + Sync {
    /// Runs `frame` on a replica of `model`, as `how` says (its deadline bounds every try).
    fn detect<'a>(
        &'a self,
        model: &'a str,
        frame: OwnedFrame,
        how: Submission,
    ) -> BoxFuture<'a, Routed>;
}
