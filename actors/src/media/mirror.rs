//! What a camera's recorder hands on for its standby node: each durable write, as written. Who
//! carries it there (the cluster's links) implements [`MirrorSink`]; the recorder only fills the
//! channel, never waiting on it.

use std::path::PathBuf;
use tokio::sync::mpsc;
use vms_messages::{CameraId, TenantId};

/// Writes waiting for the standby per camera: about as many seconds of fragments.
pub const MIRROR_QUEUE: usize = 8;

/// What one durable write put in a segment file, for the camera's standby to write the same.
#[derive(Debug)]
pub struct MirrorChunk {
    /// The segment file, relative to the camera's folder (`2026-12-03/0000000005.mp4`).
    pub file: PathBuf,
    /// Where the bytes start in it.
    pub offset: u64,
    /// The bytes: a fragment, behind the init section for a segment's first.
    pub bytes: Vec<u8>,
}

/// Carries a camera's durable writes to its standby.
pub trait MirrorSink: Send + Sync {
    /// A channel for `camera`'s durable writes (bounded by [`MIRROR_QUEUE`]); whatever carries
    /// them stops when the sender is dropped.
    fn open(&self, tenant: TenantId, camera: CameraId) -> mpsc::Sender<MirrorChunk>;
}
