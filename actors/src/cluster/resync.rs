//! Makes the standby copies of a camera's recent segments whole, and records in the index how much
//! of each segment its standby acknowledged. The live mirror (`cluster::mirror`) sends each durable
//! write once and tells [`Resync`] what the standby acknowledged. Every [`RESYNC_EVERY`]:
//! - each segment closed since is recorded with the bytes its standby acknowledged from its start
//!   (`segments.mirrored_to`, `mirrored_bytes`): one UPDATE per segment in the steady state;
//! - after a write failed, when the standby changed, and once when the camera starts, it reads the
//!   camera's segments this node still holds that are not in the object store (with a store: those
//!   younger than `storage.tier_after_seconds`, or waiting for an upload; without one: all it
//!   keeps), and sends from its own file what the standby lacks (writes it missed, or everything to
//!   a new standby), newest first, until none lacks anything.
//!
//! Nothing counts as copied without an acknowledgement.

use crate::cluster::mirror::StandbyLink;
use crate::context::NodeContext;
use crate::media::layout::{read_range, seq_of};
use crate::media::mirror::MirrorChunk;
use crate::metrics;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vms_messages::{CameraId, TenantId};
use vms_store::UnmirroredSegment;

/// How often a camera's mirror looks for recent segments its standby lacks.
pub const RESYNC_EVERY: Duration = Duration::from_secs(2);
/// Segments resent per round at most, so live writes wait little behind them.
const SEGMENTS_PER_ROUND: i64 = 2;
/// Largest write of a resend (well under the mirror stream's largest write).
const RESEND_CHUNK: u64 = 4 << 20;
/// Segment files whose acknowledgements are remembered.
const TRACKED: usize = 64;
/// Rounds a closed segment's count is retried while its row is not yet indexed.
const MARK_TRIES: u32 = 15;

/// What a camera's standby acknowledged of each segment file, in bytes from its start without a
/// hole: a write acknowledged after one that was not does not count until the hole is filled.
#[derive(Default)]
pub struct AckedPrefixes(HashMap<i64, (String, u64)>);

impl AckedPrefixes {
    /// `standby` acknowledged `len` bytes at `offset` of segment `file` (relative to the camera's
    /// folder, named by its number).
    pub fn acked(&mut self, file: &Path, standby: &str, offset: u64, len: u64) {
        let Some(seq) = seq_of(file) else {
            return;
        };
        let entry = self
            .0
            .entry(seq)
            .or_insert_with(|| (standby.to_string(), 0));
        if entry.0 != standby {
            *entry = (standby.to_string(), 0);
        }
        if offset <= entry.1 {
            entry.1 = entry.1.max(offset + len);
        }
        while self.0.len() > TRACKED {
            let Some(oldest) = self.0.keys().min().copied() else {
                break;
            };
            self.0.remove(&oldest);
        }
    }

    /// Bytes of segment `seq` that `standby` acknowledged, from the start.
    pub fn of(&self, seq: i64, standby: &str) -> u64 {
        match self.0.get(&seq) {
            Some((s, n)) if s == standby => *n,
            _ => 0,
        }
    }

    fn forget(&mut self, seq: i64) {
        self.0.remove(&seq);
    }
}

/// A camera's resync state: see the module docs.
pub struct Resync {
    acked: AckedPrefixes,
    /// The segment the live writes are in.
    current: Option<i64>,
    /// Closed segments whose count is not recorded yet, with the tries left.
    closed: Vec<(i64, u32)>,
    /// Whether some recent segment may lack bytes on the standby.
    dirty: bool,
    /// The standby of the last round.
    standby: Option<String>,
}

impl Default for Resync {
    fn default() -> Self {
        Self {
            acked: AckedPrefixes::default(),
            current: None,
            closed: Vec::new(),
            // A camera that starts (or moves here) may have recent segments its standby lacks.
            dirty: true,
            standby: None,
        }
    }
}

impl Resync {
    /// A live write to `file` is about to be sent: a new file closes the one before.
    pub fn writing(&mut self, file: &Path) {
        let seq = seq_of(file);
        if seq != self.current {
            if let Some(done) = self.current {
                self.closed.push((done, MARK_TRIES));
            }
            self.current = seq;
        }
    }

    /// `standby` acknowledged the live write of `len` bytes at `offset` of `file`.
    pub fn acked(&mut self, file: &Path, standby: &str, offset: u64, len: u64) {
        self.acked.acked(file, standby, offset, len);
    }

    /// A live write was not acknowledged: the next rounds resend it once its segment is closed.
    pub fn missed(&mut self) {
        self.dirty = true;
    }

    /// The live writes ended (the camera stopped or moved): its last segment is closed.
    pub fn finish(&mut self) {
        if let Some(done) = self.current.take() {
            self.closed.push((done, MARK_TRIES));
        }
    }

    /// Whether closed segments still wait for their count to be recorded.
    pub fn pending(&self) -> bool {
        !self.closed.is_empty()
    }

    /// One round with `standby` (see the module docs).
    pub(crate) async fn round(
        &mut self,
        ctx: &NodeContext,
        link: &mut StandbyLink,
        ids: (TenantId, CameraId),
        standby: &str,
    ) -> Result<(), vms_store::StoreError> {
        if self.standby.as_deref() != Some(standby) {
            self.standby = Some(standby.to_string());
            self.dirty = true;
        }
        let mut left = Vec::new();
        for (seq, tries) in std::mem::take(&mut self.closed) {
            let have = self.acked.of(seq, standby);
            match ctx
                .store
                .mark_mirrored(ids.1, seq, ctx.node_id(), standby, have)
                .await?
            {
                Some(true) => {}
                // A write the recorder could not queue, or the standby did not acknowledge.
                Some(false) => self.dirty = true,
                None if tries > 1 => left.push((seq, tries - 1)),
                None => {}
            }
        }
        self.closed = left;
        if self.dirty {
            self.dirty = !resync(ctx, link, (ids, standby), &mut self.acked).await?;
        }
        Ok(())
    }
}

/// A segment file's name relative to its camera's folder: its day folder and its name.
fn relative(path: &Path) -> PathBuf {
    let mut parts: Vec<_> = path.components().rev().take(2).collect();
    parts.reverse();
    parts.iter().collect()
}

/// Sends bytes `from..` of `segment` to `standby`; how far it acknowledged, and why it stopped
/// short.
async fn resend(
    link: &mut StandbyLink,
    (ids, standby): ((TenantId, CameraId), &str),
    segment: &UnmirroredSegment,
    from: u64,
) -> (u64, Option<&'static str>) {
    let file = relative(&segment.path);
    let mut at = from;
    while at < segment.bytes {
        let end = segment.bytes.min(at + RESEND_CHUNK);
        let bytes = match read_range(segment.path.clone(), at..end).await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(path = %segment.path.display(), error = %e, "cannot read a segment to resend");
                return (at, Some("unreadable"));
            }
        };
        let chunk = MirrorChunk {
            file: file.clone(),
            offset: at,
            bytes,
        };
        if let Err(reason) = link.send(standby, ids, &chunk).await {
            return (at, Some(reason));
        }
        metrics::MIRROR_RESENT_BYTES.inc_by(end - at);
        at = end;
    }
    (at, None)
}

/// Makes the copies of `camera`'s recent segments on `standby` whole, a few at a time, and records
/// them in the index; whether none lacked anything.
async fn resync(
    ctx: &NodeContext,
    link: &mut StandbyLink,
    ((tenant, camera), standby): ((TenantId, CameraId), &str),
    acked: &mut AckedPrefixes,
) -> Result<bool, vms_store::StoreError> {
    let segments = ctx
        .store
        .unmirrored_segments(camera, ctx.node_id(), standby, SEGMENTS_PER_ROUND)
        .await?;
    let none = segments.is_empty();
    for segment in segments {
        let mut have = acked.of(segment.seq, standby);
        if segment.mirrored_to.as_deref() == Some(standby) {
            have = have.max(segment.mirrored_bytes);
        }
        let mut failed = None;
        if have < segment.bytes {
            (have, failed) = resend(link, ((tenant, camera), standby), &segment, have).await;
        }
        ctx.store
            .mark_mirrored(camera, segment.seq, ctx.node_id(), standby, have)
            .await?;
        if have >= segment.bytes {
            acked.forget(segment.seq);
        }
        if let Some(reason) = failed {
            metrics::MIRROR_FAILED.with_label_values(&[reason]).inc();
            break;
        }
    }
    Ok(none)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_without_a_hole_before_them_count() {
        let file = Path::new("2026-12-03/0000000007.mp4");
        let mut acked = AckedPrefixes::default();
        acked.acked(file, "b", 0, 100);
        acked.acked(file, "b", 200, 50); // 100..200 was not acknowledged
        assert_eq!(acked.of(7, "b"), 100);
        acked.acked(file, "b", 100, 100);
        acked.acked(file, "b", 200, 50);
        assert_eq!(acked.of(7, "b"), 250);
        assert_eq!(acked.of(7, "c"), 0, "another standby holds none of it");
        acked.acked(file, "c", 250, 10);
        assert_eq!(
            acked.of(7, "c"),
            0,
            "a new standby without the start holds nothing"
        );
        assert_eq!(acked.of(7, "b"), 0, "the old standby is forgotten");
    }

    #[test]
    fn a_segment_path_is_named_relative_to_its_camera_folder() {
        assert_eq!(
            relative(Path::new("/data/segments/t/c/2026-12-03/0000000007.mp4")),
            PathBuf::from("2026-12-03/0000000007.mp4")
        );
    }
}
