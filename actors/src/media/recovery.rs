//! A segment file nobody indexed (a crash, a kill, a cut-off left it): what it holds and the time
//! it covers, read from the file itself. A fragmented MP4 file is cut back to its last whole
//! fragment (the writer made each durable before the next began, so only the one in progress can be
//! torn); an MPEG-TS file from ingest v1 is read as it is.

use crate::media::fmp4::VIDEO_TIMESCALE;
use crate::media::fmp4_scan::scan;
use crate::media::fragmenter::FMP4_EXT;
use crate::media::ts_scan;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::SystemTime;
use vms_messages::{SegmentContainer, SegmentMedia};

/// What a recovered file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredFile {
    /// Wall-clock time of its first frame.
    pub start: DateTime<Utc>,
    /// Wall-clock time just after its last whole frame.
    pub end: DateTime<Utc>,
    /// Its length after recovery.
    pub bytes: u64,
    /// Its container, track and fragment index.
    pub media: SegmentMedia,
}

/// 90 kHz ticks as a wall-clock duration.
fn ticks(t: u64) -> chrono::Duration {
    chrono::Duration::microseconds(
        i64::try_from(t.saturating_mul(1_000_000) / u64::from(VIDEO_TIMESCALE)).unwrap_or(i64::MAX),
    )
}

/// The time range of a file of `duration` created `first_write` into its footage (at its first
/// frame, or as its first GOP was written), at `created`, and last written at `modified`. The end is the last write,
/// unless the creation says it ended sooner (a node frozen mid-segment closes the file when it
/// resumes, long after its last frame).
pub fn time_range(
    duration: chrono::Duration,
    first_write: chrono::Duration,
    modified: SystemTime,
    created: Option<SystemTime>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let mut end = DateTime::<Utc>::from(modified);
    if let Some(created) = created {
        end = end.min(DateTime::<Utc>::from(created) - first_write + duration);
    }
    (end - duration, end)
}

/// An MPEG-TS file: its duration comes from its own timestamps; ingest v1 wrote once per GOP, so
/// the file was created as its first GOP ended.
fn recover_ts(
    data: &[u8],
    modified: SystemTime,
    created: Option<SystemTime>,
) -> Option<RecoveredFile> {
    let (first, last) = ts_scan::pts_range(data)?;
    // The last frame's own duration is unknown; one 25 fps frame is assumed.
    let duration = ticks(last.saturating_sub(first)) + chrono::Duration::milliseconds(40);
    let first_gop =
        ts_scan::second_keyframe_pts(data).map_or(duration, |k| ticks(k.saturating_sub(first)));
    let (start, end) = time_range(duration, first_gop, modified, created);
    Some(RecoveredFile {
        start,
        end,
        bytes: u64::try_from(data.len()).unwrap_or(u64::MAX),
        media: SegmentMedia::default(),
    })
}

/// Recovers the segment file at `path` (see the module docs); `None` when it holds no whole frame.
pub fn recover_file(
    path: &Path,
    modified: SystemTime,
    created: Option<SystemTime>,
) -> Option<RecoveredFile> {
    let data = std::fs::read(path).ok()?;
    if path.extension().and_then(|e| e.to_str()) != Some(FMP4_EXT) {
        return recover_ts(&data, modified, created);
    }
    let scanned = scan(&data)?;
    if scanned.fragments.is_empty() {
        return None;
    }
    if scanned.len < u64::try_from(data.len()).unwrap_or(u64::MAX) {
        // The fragment being written when the writer died: cut it off, so players see whole ones.
        let cut = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(scanned.len).and_then(|()| f.sync_data()));
        if let Err(e) = cut {
            tracing::warn!(path = %path.display(), error = %e, "cannot cut a torn fragment off a recovered segment");
        }
    }
    // The writer creates the file at the segment's first frame.
    let (start, end) = time_range(
        ticks(scanned.duration),
        chrono::Duration::zero(),
        modified,
        created,
    );
    let track = scanned.track.as_ref();
    Some(RecoveredFile {
        start,
        end,
        bytes: scanned.len,
        media: SegmentMedia {
            container: SegmentContainer::Fmp4,
            codec: track.map(|t| t.rfc6381()),
            width: track.map(|t| u32::from(t.width)),
            height: track.map(|t| u32::from(t.height)),
            audio: scanned.audio,
            init_len: Some(scanned.init_len),
            fragments: scanned.fragments,
        },
    })
}
