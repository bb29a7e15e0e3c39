//! `SegmentRecorder`: turns a camera's H.264 access units into MPEG-TS segment files.
//!
//! Runs on the pipeline's streaming thread and does no I/O per frame: access units are muxed into an
//! in-memory GOP buffer that is written with one call per GOP (Moonfire NVR's rule), so a crash loses
//! at most one GOP and the file on disk is always playable. A segment is cut on the first keyframe at or
//! after the target length; each segment starts with PAT, PMT, SPS and PPS, so it plays on its own.
//! Wall-clock times come from one mapping of the stream's timestamps, so consecutive segments abut.

use crate::media::tsmux::TsMuxer;
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Access unit delimiter NAL, required before each access unit in MPEG-TS.
const AUD: [u8; 6] = [0, 0, 0, 1, 9, 0xf0];
/// Timestamps in the file start here (90 kHz) so the PCR, set below the PTS, never goes negative.
const PTS_OFFSET: u64 = 126_000;
/// How far the PCR runs behind the PTS (90 kHz): the decoder's buffering allowance.
const PCR_DELAY: u64 = 63_000;
/// A timestamp this far behind the previous one is a discontinuity, not B-frame reordering.
const BACKWARDS_JUMP_NS: u64 = 1_000_000_000;
/// Frame duration assumed until two timestamps have been seen.
const DEFAULT_FRAME_NS: u64 = 40_000_000;

/// Where segments of one camera go and how they are numbered.
#[derive(Clone, Debug)]
pub struct SegmentLayout {
    /// `<data>/segments/<tenant>/<camera>`.
    pub camera_dir: PathBuf,
    /// Sequence number of the first segment written.
    pub first_seq: i64,
}

impl SegmentLayout {
    /// `<camera_dir>/<YYYY-MM-DD>/<seq>.ts`.
    pub fn path_for(&self, seq: i64, at: DateTime<Utc>) -> PathBuf {
        self.path_with_ext(seq, at, SEGMENT_EXT)
    }

    /// `<camera_dir>/<YYYY-MM-DD>/<seq>.<ext>`.
    pub fn path_with_ext(&self, seq: i64, at: DateTime<Utc>, ext: &str) -> PathBuf {
        self.camera_dir
            .join(at.format("%Y-%m-%d").to_string())
            .join(format!("{seq:010}.{ext}"))
    }
}

/// File extension of segments.
pub const SEGMENT_EXT: &str = "ts";

/// A write that failed (disk full, I/O error), with the segment it still closed, if any.
#[derive(Debug)]
pub struct RecordError {
    /// The I/O error.
    pub error: std::io::Error,
    /// A segment closed despite the error, holding what reached the disk.
    pub closed: Option<ClosedSegment>,
}

/// A finished segment file.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedSegment {
    /// Per-camera sequence number.
    pub seq: i64,
    /// File path.
    pub path: PathBuf,
    /// Wall-clock time of the first frame.
    pub start: DateTime<Utc>,
    /// Wall-clock time just after the last frame.
    pub end: DateTime<Utc>,
}

struct OpenSegment {
    seq: i64,
    path: PathBuf,
    file: File,
    first_pts: u64,
    /// Timestamp up to which the file holds every frame (the start of the GOP not yet written).
    durable_pts: u64,
    /// Bytes of whole GOPs in the file.
    durable_len: u64,
    /// A GOP could not be written: the file ends at `durable_pts`, whatever came after.
    damaged: bool,
}

/// NAL unit types found at the start of an access unit.
#[derive(Default)]
struct AuScan {
    keyframe: bool,
    has_params: bool,
}

/// Calls `f` with each NAL unit (without start code) of an Annex B buffer, until `f` returns false.
fn for_each_nal(data: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                let mut end = i;
                if end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                if !f(&data[s..end]) {
                    return;
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start
        && s < data.len()
    {
        f(&data[s..]);
    }
}

/// Writes a camera's segments; see the module docs.
pub struct SegmentRecorder {
    layout: SegmentLayout,
    next_seq: i64,
    target_ns: u64,
    mux: TsMuxer,
    base: Option<(u64, DateTime<Utc>)>,
    open: Option<OpenSegment>,
    gop: Vec<u8>,
    sps: Vec<u8>,
    pps: Vec<u8>,
    last_pts: Option<u64>,
    frame_ns: u64,
    /// Added to the camera's timestamps so that time never goes backwards here.
    pts_offset: u64,
}

impl SegmentRecorder {
    /// A recorder writing segments of about `target` under `layout`.
    pub fn new(layout: SegmentLayout, target: Duration) -> Self {
        let next_seq = layout.first_seq;
        Self {
            layout,
            next_seq,
            target_ns: u64::try_from(target.as_nanos()).unwrap_or(u64::MAX),
            mux: TsMuxer::new(),
            base: None,
            open: None,
            gop: Vec::with_capacity(1 << 20),
            sps: Vec::new(),
            pps: Vec::new(),
            last_pts: None,
            frame_ns: DEFAULT_FRAME_NS,
            pts_offset: 0,
        }
    }

    /// Seeds SPS and PPS from the session description (`sprop-parameter-sets`), for cameras that send
    /// them only there.
    pub fn set_parameter_sets(&mut self, sps: &[u8], pps: &[u8]) {
        if !sps.is_empty() {
            self.sps = [&[0, 0, 0, 1][..], sps].concat();
        }
        if !pps.is_empty() {
            self.pps = [&[0, 0, 0, 1][..], pps].concat();
        }
    }

    fn wall(&self, pts: u64) -> DateTime<Utc> {
        let (base_pts, base_wall) = self.base.unwrap_or((pts, Utc::now()));
        let ns = i64::try_from(pts.saturating_sub(base_pts)).unwrap_or(i64::MAX);
        base_wall + chrono::Duration::nanoseconds(ns)
    }

    fn scan(&mut self, data: &[u8]) -> AuScan {
        let mut scan = AuScan::default();
        for_each_nal(data, |nal| {
            let Some(&header) = nal.first() else {
                return true;
            };
            match header & 0x1f {
                7 => {
                    scan.has_params = true;
                    self.sps = [&[0, 0, 0, 1][..], nal].concat();
                    true
                }
                8 => {
                    self.pps = [&[0, 0, 0, 1][..], nal].concat();
                    true
                }
                5 => {
                    scan.keyframe = true;
                    false
                }
                1 => false,
                _ => true,
            }
        });
        scan
    }

    /// Writes the buffered GOP; on success the file holds every frame before `through_pts`.
    fn flush_gop(&mut self, through_pts: u64) -> std::io::Result<()> {
        if let Some(open) = &mut self.open
            && !self.gop.is_empty()
        {
            let written = open.file.write_all(&self.gop);
            let len = self.gop.len() as u64;
            self.gop.clear();
            if let Err(e) = written {
                // Cut a partly written GOP off, so the file ends on a whole packet at `durable_pts`.
                let _ = open.file.set_len(open.durable_len);
                open.damaged = true;
                return Err(e);
            }
            open.durable_pts = through_pts;
            open.durable_len += len;
        }
        self.gop.clear();
        Ok(())
    }

    /// Closes the open segment at `end_pts` after writing what is buffered. When that write fails (disk
    /// full), the segment still closes, ending where the file's content ends, and the error is returned
    /// beside it: what reached the disk stays indexed and playable.
    fn close(&mut self, end_pts: u64) -> (Option<ClosedSegment>, Option<std::io::Error>) {
        let error = self.flush_gop(end_pts).err();
        let Some(open) = self.open.take() else {
            return (None, error);
        };
        drop(open.file);
        let end = if error.is_some() || open.damaged {
            open.durable_pts
        } else {
            end_pts
        };
        if end <= open.first_pts {
            // Nothing playable reached the disk.
            let _ = std::fs::remove_file(&open.path);
            return (None, error);
        }
        let segment = ClosedSegment {
            seq: open.seq,
            path: open.path,
            start: self.wall(open.first_pts),
            end: self.wall(end),
        };
        (Some(segment), error)
    }

    fn open_at(&mut self, pts: u64) -> std::io::Result<()> {
        let seq = self.next_seq;
        let path = self.layout.path_for(seq, self.wall(pts));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(&path)?;
        self.next_seq += 1;
        self.open = Some(OpenSegment {
            seq,
            path,
            file,
            first_pts: pts,
            durable_pts: pts,
            durable_len: 0,
            damaged: false,
        });
        Ok(())
    }

    /// Adds one access unit (Annex B). `delta` is the buffer's delta-unit flag: non-keyframes are not
    /// scanned. Returns the segment this access unit completed, if any. Before the first keyframe,
    /// access units are dropped (nothing before it could be decoded).
    pub fn push(
        &mut self,
        data: &[u8],
        pts_ns: Option<u64>,
        delta: bool,
    ) -> Result<Option<ClosedSegment>, RecordError> {
        self.push_arrived(data, pts_ns, delta, Utc::now())
    }

    /// [`SegmentRecorder::push`] of an access unit that arrived at `arrived`: the first keyframe's
    /// arrival anchors the recording's wall-clock time, so that anything else timed by the same
    /// arrival (an event raised on that keyframe) falls inside its segment.
    pub fn push_arrived(
        &mut self,
        data: &[u8],
        pts_ns: Option<u64>,
        delta: bool,
        arrived: DateTime<Utc>,
    ) -> Result<Option<ClosedSegment>, RecordError> {
        let mut pts = pts_ns
            .map(|p| p.saturating_add(self.pts_offset))
            .or(self.last_pts.map(|p| p + self.frame_ns))
            .unwrap_or(0);
        // A camera whose timestamps jump backwards (a restart of its encoder, a wrapped clock)
        // would leave the open segment never long enough to cut, and a segment that ends before it
        // starts. Its timeline goes on from the last frame instead, one frame later. (B-frames step
        // back a few frames in decode order; only a jump of more than a second is a discontinuity.)
        if let Some(prev) = self.last_pts
            && pts.saturating_add(BACKWARDS_JUMP_NS) < prev
            && pts_ns.is_some()
        {
            let shift = prev + self.frame_ns - pts;
            self.pts_offset = self.pts_offset.saturating_add(shift);
            pts += shift;
        }
        if let Some(prev) = self.last_pts {
            let d = pts.saturating_sub(prev);
            if d > 0 && d < 1_000_000_000 {
                self.frame_ns = d;
            }
        }
        let scan = if delta {
            AuScan::default()
        } else {
            self.scan(data)
        };
        if self.base.is_none() {
            if !scan.keyframe {
                return Ok(None);
            }
            self.base = Some((pts, arrived));
        }
        let mut closed = None;
        if scan.keyframe {
            match &self.open {
                Some(open)
                    if pts.saturating_sub(open.first_pts) + self.frame_ns / 2 >= self.target_ns =>
                {
                    let (segment, error) = self.close(pts);
                    if let Some(e) = error {
                        return Err(RecordError {
                            error: e,
                            closed: segment,
                        });
                    }
                    closed = segment;
                }
                Some(_) => {
                    if let Err(e) = self.flush_gop(pts) {
                        return Err(RecordError {
                            error: e,
                            closed: None,
                        });
                    }
                }
                None => {}
            }
            if self.open.is_none() {
                self.open_at(pts).map_err(|error| RecordError {
                    error,
                    closed: closed.take(),
                })?;
            }
            self.mux.write_tables(&mut self.gop);
        }
        if self.open.is_none() {
            return Ok(closed);
        }
        let base_pts = self.base.map_or(pts, |(p, _)| p);
        let pts90 = u64::try_from(u128::from(pts.saturating_sub(base_pts)) * 9 / 100_000)
            .unwrap_or(0)
            + PTS_OFFSET;
        let aud: &[u8] = if data.starts_with(&AUD[..5]) || data.starts_with(&AUD[1..5]) {
            &[]
        } else {
            &AUD
        };
        let (sps, pps): (&[u8], &[u8]) = if scan.keyframe && !scan.has_params {
            (&self.sps, &self.pps)
        } else {
            (&[], &[])
        };
        self.mux.write_access_unit(
            &mut self.gop,
            pts90,
            pts90 - PCR_DELAY,
            scan.keyframe,
            &[aud, sps, pps, data],
        );
        self.last_pts = Some(pts);
        // A new segment's keyframe goes to disk at once (one extra write per segment): a camera that
        // starts recording, after a failover say, has bytes on disk a GOP sooner.
        if scan.keyframe && self.open.as_ref().is_some_and(|o| o.durable_len == 0) {
            self.flush_gop(pts + self.frame_ns)
                .map_err(|error| RecordError {
                    error,
                    closed: closed.take(),
                })?;
        }
        Ok(closed)
    }

    /// Writes what is buffered and closes the open segment, ending it after the last frame. A write error
    /// is logged; the segment then ends where its file's content ends.
    pub fn finish(&mut self) -> Option<ClosedSegment> {
        let last = self.last_pts?;
        let (segment, error) = self.close(last + self.frame_ns);
        if let Some(e) = error {
            tracing::warn!(error = %e, "last gop of the segment not written");
        }
        segment
    }

    /// Sequence number the next segment will get.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }
}

/// Deletes a file or a whole folder; a path already gone is not an error, anything else is logged.
pub fn remove_path(path: &Path) {
    let result = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    if let Err(e) = result
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot delete recording");
    }
}

/// Sequence number of a segment file, from its name (`0000000042.ts`).
pub(crate) fn seq_of(path: &Path) -> Option<i64> {
    path.file_stem()?.to_str()?.parse().ok()
}

/// The time range of a segment file nobody indexed (left by a crash or a cut-off), or `None` when it
/// holds no frame. Its duration comes from its own timestamps. Its end is the last write (its
/// modification time), unless the file's creation says it ended sooner: the recorder writes once per
/// GOP, so the file was created as its first GOP ended, and a node frozen mid-segment closes the file
/// when it resumes, long after its last frame.
pub fn recovered_time_range(
    path: &Path,
    modified: std::time::SystemTime,
    created: Option<std::time::SystemTime>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let data = std::fs::read(path).ok()?;
    let (first, last) = crate::media::tsmux::pts_range(&data)?;
    let ticks = |t: u64| chrono::Duration::nanoseconds(i64::try_from(t * 100_000 / 9).unwrap_or(0));
    // The last frame's own duration is unknown; one 25 fps frame is assumed.
    let duration = ticks(last.saturating_sub(first)) + chrono::Duration::milliseconds(40);
    let mut end = DateTime::<Utc>::from(modified);
    if let Some(created) = created {
        let first_gop = crate::media::tsmux::second_keyframe_pts(&data)
            .map_or(duration, |k| ticks(k.saturating_sub(first)));
        end = end.min(DateTime::<Utc>::from(created) - first_gop + duration);
    }
    Some((end - duration, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(keyframe: bool, size: usize) -> Vec<u8> {
        let mut v = Vec::new();
        if keyframe {
            v.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f]);
            v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
            v.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        } else {
            v.extend_from_slice(&[0, 0, 0, 1, 0x41]);
        }
        v.resize(v.len() + size, 0x11);
        v
    }

    #[test]
    fn cuts_on_the_first_keyframe_at_the_target_and_abuts() {
        let dir = std::env::temp_dir().join(format!("vms-rec-{}", uuid::Uuid::now_v7()));
        let layout = SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 7,
        };
        let mut rec = SegmentRecorder::new(layout, Duration::from_secs(5));
        let frame = 40_000_000u64;
        let mut closed = Vec::new();
        // A delta frame before any keyframe is dropped.
        assert!(rec.push(&au(false, 100), Some(0), true).unwrap().is_none());
        for i in 0..(25 * 12) {
            let key = i % 25 == 0; // 1 s GOP
            if let Some(c) = rec
                .push(&au(key, 3000), Some(frame * (i + 1)), !key)
                .unwrap()
            {
                closed.push(c);
            }
        }
        closed.extend(rec.finish());
        assert_eq!(
            closed.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![7, 8, 9]
        );
        assert_eq!((closed[0].end - closed[0].start).num_milliseconds(), 5000);
        assert_eq!((closed[1].end - closed[1].start).num_milliseconds(), 5000);
        assert_eq!((closed[2].end - closed[2].start).num_milliseconds(), 2000);
        assert_eq!(closed[0].end, closed[1].start, "segments abut");
        for c in &closed {
            let bytes = std::fs::read(&c.path).unwrap();
            assert_eq!(bytes.len() % 188, 0);
            assert_eq!(bytes[0], 0x47);
        }
        assert_eq!(rec.next_seq(), 10);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn timestamps_jumping_backwards_still_cut_segments_that_end_after_they_start() {
        let dir = std::env::temp_dir().join(format!("vms-rec-{}", uuid::Uuid::now_v7()));
        let layout = SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        };
        let mut rec = SegmentRecorder::new(layout, Duration::from_secs(5));
        let frame = 40_000_000u64;
        let mut closed = Vec::new();
        // 12 s of 1 s GOPs whose timestamps restart from 0 every 3 s (a camera resetting its clock).
        for i in 0..(25 * 12u64) {
            let key = i % 25 == 0;
            let pts = frame * (i % 75 + 1);
            if let Some(c) = rec.push(&au(key, 3000), Some(pts), !key).unwrap() {
                closed.push(c);
            }
        }
        closed.extend(rec.finish());
        assert_eq!(
            closed.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![1, 2, 3],
            "segments are still cut at the target"
        );
        for c in &closed {
            assert!(c.end > c.start, "segment {} ends after it starts", c.seq);
            assert!(c.path.exists(), "segment {} kept", c.seq);
        }
        let total: i64 = closed
            .iter()
            .map(|c| (c.end - c.start).num_milliseconds())
            .sum();
        assert!(
            (11_900..=12_100).contains(&total),
            "12 s recorded: {total} ms"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_failed_gop_write_never_makes_the_segment_claim_it() {
        // The segment file is a link to /dev/full: every write fails with ENOSPC.
        let dir = std::env::temp_dir().join(format!("vms-rec-{}", uuid::Uuid::now_v7()));
        let layout = SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        };
        let path = layout.path_for(1, Utc::now());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        let mut rec = SegmentRecorder::new(layout, Duration::from_secs(5));
        let mut failed = false;
        for i in 0..30u64 {
            let key = i % 25 == 0;
            if let Err(e) = rec.push(&au(key, 1000), Some(40_000_000 * i), !key) {
                assert_eq!(e.error.kind(), std::io::ErrorKind::StorageFull);
                assert!(e.closed.is_none());
                failed = true;
                break;
            }
        }
        assert!(failed, "the second keyframe's GOP write fails");
        // Nothing reached the disk, so no segment is reported for the frames that were lost.
        assert!(rec.finish().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn files_left_by_a_crash_are_recovered_with_their_duration() {
        let dir = std::env::temp_dir().join(format!("vms-rec-{}", uuid::Uuid::now_v7()));
        let layout = SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 3,
        };
        let mut rec = SegmentRecorder::new(layout, Duration::from_secs(5));
        for i in 0..60u64 {
            let key = i % 25 == 0;
            rec.push(&au(key, 1000), Some(40_000_000 * i), !key)
                .unwrap();
        }
        // No finish(): the process "crashed" with two GOPs on disk and one in memory.
        drop(rec);
        let day = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let file = std::fs::read_dir(&day)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert_eq!(seq_of(&file), Some(3));
        assert_eq!(crate::recording::orphans::highest_seq_on_disk(&dir), 3);
        let meta = std::fs::metadata(&file).unwrap();
        let modified = meta.modified().unwrap();
        let (start, end) = recovered_time_range(&file, modified, None).expect("frames on disk");
        // Two 1 s GOPs reached the disk; the last frame's 40 ms is assumed.
        assert_eq!((end - start).num_milliseconds(), 1960 + 40);
        assert_eq!(end, DateTime::<Utc>::from(modified));
        // Closed long after its last frame (a frozen node resumed): the file was created as its
        // first 1 s GOP ended, so it started 1 s before its creation and ended 2 s after its start.
        let created = modified - Duration::from_secs(60);
        let (start, end) = recovered_time_range(&file, modified, Some(created)).unwrap();
        let created = DateTime::<Utc>::from(created);
        assert_eq!(start, created - chrono::Duration::seconds(1));
        assert_eq!(end, start + chrono::Duration::milliseconds(2000));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn nal_scan_finds_parameter_sets_and_idr() {
        let mut rec = SegmentRecorder::new(
            SegmentLayout {
                camera_dir: PathBuf::from("/nonexistent"),
                first_seq: 1,
            },
            Duration::from_secs(5),
        );
        let scan = rec.scan(&au(true, 10));
        assert!(scan.keyframe && scan.has_params);
        assert_eq!(rec.sps, vec![0, 0, 0, 1, 0x67, 0x42, 0x00, 0x1f]);
        assert_eq!(rec.pps, vec![0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        let scan = rec.scan(&au(false, 10));
        assert!(!scan.keyframe && !scan.has_params);
    }
}
