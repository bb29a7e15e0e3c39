//! What a camera's recorder hands on for its standby node: each durable write, as written. Who
//! carries it there (the cluster's links) implements [`MirrorSink`]; the recorder only fills the
//! channel, never waiting on it.

use crate::metrics;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vms_messages::{CameraId, StandbyStatus, StandbySync, TenantId};

/// A standby that has not acknowledged a fragment for this long is lagging.
pub const LAG_AFTER: Duration = Duration::from_secs(3);

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
    /// them stops when the sender is dropped, and tells `health` how each went.
    fn open(
        &self,
        tenant: TenantId,
        camera: CameraId,
        health: std::sync::Arc<MirrorHealth>,
    ) -> mpsc::Sender<MirrorChunk>;
}

#[derive(Default)]
struct Health {
    standby: Option<String>,
    last_ack: Option<Instant>,
    /// Why the latest fragment was not mirrored, and whether for want of a standby.
    failing: Option<(String, bool)>,
    missed: u64,
}

/// How a camera's mirroring goes, told by the recorder (writes it could not queue) and the sink
/// (acknowledgements and failures), read for the camera's status, and set on the metric
/// `vms_camera_standby_state` (0 in sync, 1 starting, 2 lagging, 3 missing).
pub struct MirrorHealth {
    camera: String,
    inner: Mutex<Health>,
}

impl MirrorHealth {
    /// Health of the camera labelled `camera` in metrics, before anything is sent.
    pub fn new(camera: &str) -> Self {
        let health = Self {
            camera: camera.to_string(),
            inner: Mutex::new(Health::default()),
        };
        health.publish(StandbySync::Starting);
        health
    }

    fn update(&self, change: impl FnOnce(&mut Health)) {
        let state = {
            let mut h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut h);
            state_of(&h).0
        };
        self.publish(state);
    }

    fn publish(&self, state: StandbySync) {
        let code = match state {
            StandbySync::InSync => 0,
            StandbySync::Starting => 1,
            StandbySync::Lagging => 2,
            StandbySync::Missing => 3,
        };
        metrics::CAMERA_STANDBY_STATE
            .with_label_values(&[&self.camera])
            .set(code);
    }

    /// `standby` acknowledged a fragment.
    pub fn acked(&self, standby: &str) {
        self.update(|h| {
            h.standby = Some(standby.to_string());
            h.last_ack = Some(Instant::now());
            h.failing = None;
        });
    }

    /// A fragment was not mirrored, because of `why`; `no_standby` when the camera has none.
    pub fn failed(&self, standby: Option<&str>, why: String, no_standby: bool) {
        self.update(|h| {
            if standby.is_some() || no_standby {
                h.standby = standby.map(str::to_string);
            }
            h.failing = Some((why, no_standby));
            h.missed += 1;
        });
    }

    /// The recorder could not queue a fragment: the standby does not keep up.
    pub fn dropped(&self) {
        self.failed(
            None,
            "the standby does not keep up: its queue is full".into(),
            false,
        );
    }

    /// The standby's side of the camera's status now.
    pub fn status(&self) -> StandbyStatus {
        let h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (state, reason) = state_of(&h);
        StandbyStatus {
            state,
            node: h.standby.clone(),
            reason,
            last_ack_seconds: h.last_ack.map(|t| t.elapsed().as_secs_f64()),
            fragments_missed: h.missed,
        }
    }
}

fn state_of(h: &Health) -> (StandbySync, Option<String>) {
    match (&h.failing, h.last_ack) {
        (Some((why, true)), _) => (StandbySync::Missing, Some(why.clone())),
        (Some((why, false)), _) => (StandbySync::Lagging, Some(why.clone())),
        (None, None) => (StandbySync::Starting, None),
        (None, Some(at)) if at.elapsed() > LAG_AFTER => (
            StandbySync::Lagging,
            Some(format!(
                "no fragment acknowledged for {:.0} s",
                at.elapsed().as_secs_f64()
            )),
        ),
        (None, Some(_)) => (StandbySync::InSync, None),
    }
}
