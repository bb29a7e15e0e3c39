//! `FragmentRecorder`: turns a camera's access units into fragmented MP4 segment files (ingest v2).
//!
//! A segment is an init section and fragments of about `fragment` each (one second by default);
//! fragments need not start on keyframes, so long-GOP cameras still get short fragments. Each
//! fragment is written with one write and made durable (`fdatasync`) before it counts, so a kill
//! loses at most the fragment in progress. A segment is cut on the first keyframe at or after the
//! target length. The recorder keeps each segment's fragment index (byte offsets, times, which
//! fragments start on a keyframe), so playback can seek and live view can start from a keyframe
//! without reading whole files.

use crate::media::audio_queue::{AudioFrame, AudioQueue};
use crate::media::fmp4::{
    self, Fmp4Error, Sample, TrackRun, VIDEO_TIMESCALE, VIDEO_TRACK, VideoTrack, ticks_to_ms,
};
use crate::media::fmp4_audio::{AUDIO_TRACK, AudioTrack};
use crate::media::layout::SegmentLayout;
use crate::media::live::LivePublisher;
use crate::media::mirror::{MirrorChunk, MirrorHealth};
use crate::metrics;
use chrono::{DateTime, Utc};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use vms_messages::{SegmentContainer, SegmentFragment, SegmentMedia};

/// File extension of fragmented MP4 segments.
pub const FMP4_EXT: &str = "mp4";
/// Duration of a sample whose successor has not been seen, until two timestamps have (25 fps).
const DEFAULT_SAMPLE_TICKS: u64 = 3600;
/// A timestamp this far (90 kHz) behind the previous one is a discontinuity (a camera's encoder
/// restarted, its clock wrapped), not B-frame reordering.
const BACKWARDS_JUMP: u64 = VIDEO_TIMESCALE as u64;

/// A finished fragmented MP4 segment.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedFragments {
    /// Per-camera sequence number.
    pub seq: i64,
    /// File path.
    pub path: PathBuf,
    /// Wall-clock time of the first frame.
    pub start: DateTime<Utc>,
    /// Wall-clock time just after the last frame.
    pub end: DateTime<Utc>,
    /// Its track, init section length and fragments, as the index keeps them.
    pub media: SegmentMedia,
}

/// A write that failed, with what reached the disk before it.
#[derive(Debug, thiserror::Error)]
pub enum FragmentError {
    /// The file could not be created, written or made durable (disk full, I/O error).
    #[error("cannot write segment {path}: {error}")]
    Io {
        /// The segment's file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
        /// The segment, closed at its last durable fragment.
        closed: Option<Box<ClosedFragments>>,
    },
    /// The track or a fragment cannot be muxed (a decoder configuration that does not parse).
    #[error(transparent)]
    Mux(#[from] Fmp4Error),
}

impl FragmentError {
    /// The segment it closed at its last durable fragment, taken out of it.
    pub fn take_closed(&mut self) -> Option<ClosedFragments> {
        match self {
            Self::Io { closed, .. } => closed.take().map(|c| *c),
            Self::Mux(_) => None,
        }
    }
}

struct PendingSample {
    data: Vec<u8>,
    pts: u64,
    keyframe: bool,
    /// When it arrived (its capture, as far as the node can tell).
    at: DateTime<Utc>,
}

struct OpenSegment {
    seq: i64,
    path: PathBuf,
    file: File,
    /// Wall-clock time of the first frame.
    start: DateTime<Utc>,
    /// Timestamp (90 kHz) of the first frame.
    first_pts: u64,
    /// Where the segment starts in the audio track's clock (its audio decode times count from here).
    audio_origin: u64,
    /// The connection's mapping of timestamps to wall-clock time.
    anchor: (u64, DateTime<Utc>),
    /// Init section, until the first fragment is written with it.
    init: Option<Vec<u8>>,
    /// Bytes durable in the file.
    len: u64,
    /// Timestamp up to which the file holds every frame.
    durable_pts: u64,
    /// Its track and fragment index so far.
    media: SegmentMedia,
}

impl OpenSegment {
    fn millis(&self, pts: u64) -> u32 {
        ticks_to_ms(pts.saturating_sub(self.first_pts))
    }

    fn close(self) -> Option<ClosedFragments> {
        let (t0, w0) = self.anchor;
        (!self.media.fragments.is_empty()).then(|| ClosedFragments {
            seq: self.seq,
            path: self.path,
            start: self.start,
            end: w0 + ticks(self.durable_pts.saturating_sub(t0)),
            media: self.media,
        })
    }
}

/// The tracks with their init section, built once.
struct CurrentTrack {
    track: VideoTrack,
    audio: Option<AudioTrack>,
    init: Vec<u8>,
}

/// 90 kHz ticks as a wall-clock duration.
fn ticks(t: u64) -> chrono::Duration {
    chrono::Duration::microseconds(i64::try_from(t.saturating_mul(100) / 9).unwrap_or(i64::MAX))
}

/// Writes a camera's fragmented MP4 segments; see the module docs.
pub struct FragmentRecorder {
    layout: SegmentLayout,
    target: u64,
    fragment: u64,
    track: Option<CurrentTrack>,
    next_seq: i64,
    open: Option<OpenSegment>,
    pending: Vec<PendingSample>,
    /// Duration of the last sample seen, for a fragment's last sample at the end.
    last_step: u64,
    /// Last timestamp seen, after `pts_offset`.
    last_pts: Option<u64>,
    /// Added to the camera's timestamps so that they never run backwards in the files.
    pts_offset: u64,
    /// One mapping of timestamps to wall-clock time per connection: (timestamp, its time).
    anchor: Option<(u64, DateTime<Utc>)>,
    /// Audio frames waiting for their fragment, when the camera sends audio.
    audio: Option<AudioQueue>,
    /// The camera's timestamp (before `pts_offset`) of the last video frame and when it arrived:
    /// where audio frames are placed on the video's clock.
    last_arrival: Option<(u64, DateTime<Utc>)>,
    /// Where each durable write goes on to, for the standby (none without one).
    mirror: Option<(
        tokio::sync::mpsc::Sender<MirrorChunk>,
        std::sync::Arc<MirrorHealth>,
    )>,
    /// Where each frame goes on to, for live viewers.
    live: Option<LivePublisher>,
}

impl FragmentRecorder {
    /// A recorder cutting segments of about `target`, with fragments of about `fragment`.
    pub fn new(layout: SegmentLayout, target: Duration, fragment: Duration) -> Self {
        let ticks_of = |d: Duration| {
            u64::try_from(d.as_micros() * u128::from(VIDEO_TIMESCALE) / 1_000_000)
                .unwrap_or(u64::MAX)
        };
        Self {
            next_seq: layout.first_seq,
            layout,
            target: ticks_of(target),
            fragment: ticks_of(fragment).max(1),
            track: None,
            open: None,
            pending: Vec::new(),
            last_step: DEFAULT_SAMPLE_TICKS,
            last_pts: None,
            pts_offset: 0,
            anchor: None,
            audio: None,
            last_arrival: None,
            mirror: None,
            live: None,
        }
    }

    /// Publishes every recorded frame to live viewers through `live` as well.
    pub fn live_to(&mut self, mut live: LivePublisher) {
        if let Some(current) = &self.track
            && let Err(e) = live.set_track(&current.track, current.audio.as_ref())
        {
            tracing::warn!(error = %e, "live view cannot describe the track");
        }
        self.live = Some(live);
    }

    /// Hands every durable write on to `mirror` as well, without waiting: a write the channel has
    /// no room for is counted (`vms_mirror_chunks_dropped_total`, and in `health`) and left out.
    pub fn mirror_to(
        &mut self,
        mirror: tokio::sync::mpsc::Sender<MirrorChunk>,
        health: std::sync::Arc<MirrorHealth>,
    ) {
        self.mirror = Some((mirror, health));
    }

    /// The camera's timestamp on the recording's timeline: a jump backwards of more than a second
    /// continues from the last frame instead, one frame later.
    fn timeline(&mut self, pts: u64) -> u64 {
        let mut t = pts.saturating_add(self.pts_offset);
        if let Some(prev) = self.last_pts
            && t.saturating_add(BACKWARDS_JUMP) < prev
        {
            self.pts_offset = (prev + self.last_step).saturating_sub(pts);
            t = prev + self.last_step;
        }
        t
    }

    /// The connection's mapping of timestamps to wall-clock time, set by its first keyframe.
    fn anchor(&mut self, pts: u64, at: DateTime<Utc>) -> (u64, DateTime<Utc>) {
        *self.anchor.get_or_insert((pts, at))
    }

    /// Sets the tracks: video (codec, decoder configuration, size) and audio, if any. Other tracks
    /// than the open segment's close it: the next keyframe starts a segment with the new init
    /// section.
    pub fn set_track(
        &mut self,
        track: VideoTrack,
        audio: Option<AudioTrack>,
    ) -> Result<Option<ClosedFragments>, FragmentError> {
        if self
            .track
            .as_ref()
            .is_some_and(|t| t.track == track && t.audio == audio)
        {
            return Ok(None);
        }
        let init = fmp4::init_segment(&track, audio.as_ref())?;
        if let Some(live) = self.live.as_mut()
            && let Err(e) = live.set_track(&track, audio.as_ref())
        {
            tracing::warn!(error = %e, "live view cannot describe the track");
        }
        let closed = match self.last_pts {
            Some(last) => self.write_and_close(last + self.last_step)?,
            None => None,
        };
        // A new video track keeps the audio queued for it; a new audio rate needs a new queue.
        let rate = audio.as_ref().map(|a| a.sample_rate);
        if self.audio.as_ref().map(AudioQueue::rate) != rate {
            self.audio = rate.map(AudioQueue::new);
        }
        self.track = Some(CurrentTrack { track, audio, init });
        Ok(closed)
    }

    /// Adds one audio frame (`at` and `duration` in the audio track's clock) that arrived at
    /// `arrived`. Audio and video clocks start apart, so the session's first audio frame is placed
    /// on the video's clock by its arrival beside the last video frame's, and the audio clock runs
    /// on from there. It goes into the fragment whose video it starts within; frames before the
    /// segment's first keyframe are dropped.
    pub fn push_audio(&mut self, data: Vec<u8>, at: u64, duration: u32, arrived: DateTime<Utc>) {
        let (Some(queue), Some(_), Some((video, video_arrived))) =
            (self.audio.as_mut(), self.open.as_ref(), self.last_arrival)
        else {
            return;
        };
        // Where the video's clock stood when this frame arrived.
        let since = (arrived - video_arrived).num_microseconds().unwrap_or(0);
        let video_now = video.saturating_add_signed(since.saturating_mul(9) / 100);
        let at = queue.align(at, video_now);
        if let (Some(live), Some((t0, w0))) = (self.live.as_mut(), self.anchor) {
            // On the live clock, as `publish_live` puts the video: the audio clock is the video's
            // (before `pts_offset`) in the track's rate.
            let base = queue.of_video((ticks_90k(w0) + self.pts_offset).saturating_sub(t0));
            live.push_audio(&data, base + at, duration);
        }
        queue.push(AudioFrame { data, at, duration });
    }

    /// Adds one access unit: length-prefixed NAL units without parameter sets, its timestamp in
    /// 90 kHz ticks, whether it is a keyframe, and the wall-clock time of its capture. Returns the
    /// segment it completed, if any. Access units before the first keyframe of a segment, or before
    /// a track is set, are dropped (nothing before a keyframe could be decoded).
    pub fn push(
        &mut self,
        data: Vec<u8>,
        pts: u64,
        keyframe: bool,
        at: DateTime<Utc>,
    ) -> Result<Option<ClosedFragments>, FragmentError> {
        self.last_arrival = Some((pts, at));
        let pts = self.timeline(pts);
        if let Some(prev) = self.last_pts.filter(|&p| pts > p) {
            self.last_step = pts - prev;
        }
        self.last_pts = Some(pts);
        let mut closed = None;
        match &self.open {
            None if !keyframe || self.track.is_none() => return Ok(None),
            None => {
                let anchor = self.anchor(pts, at);
                self.open_segment(pts, anchor)?;
            }
            // Half a frame early counts: a live source's timestamps jitter around the frame grid.
            Some(open)
                if keyframe
                    && pts.saturating_sub(open.first_pts) + self.last_step / 2 >= self.target =>
            {
                closed = self.write_and_close(pts)?;
                let anchor = self.anchor(pts, at);
                self.open_segment(pts, anchor)?;
            }
            Some(_) => {
                let first = self.pending.first().map(|s| s.pts);
                if first.is_some_and(|f| pts.saturating_sub(f) >= self.fragment) {
                    self.write_fragment(pts)?;
                }
            }
        }
        self.publish_live(&data, pts, keyframe, at);
        self.pending.push(PendingSample {
            data,
            pts,
            keyframe,
            at,
        });
        Ok(closed)
    }

    /// Writes what is pending and closes the open segment (the camera stopped, or the node does).
    /// The next connection's first keyframe anchors its own wall-clock mapping.
    pub fn finish(&mut self) -> Result<Option<ClosedFragments>, FragmentError> {
        let end = self.last_pts.map(|p| p + self.last_step);
        self.anchor = None;
        if let Some(live) = &self.live {
            live.pause();
        }
        self.last_pts = None;
        self.last_arrival = None;
        self.pts_offset = 0;
        if let Some(queue) = self.audio.as_mut() {
            queue.restart();
        }
        match end {
            Some(end) => self.write_and_close(end),
            None => Ok(self.open.take().and_then(OpenSegment::close)),
        }
    }

    /// Hands a frame of the open segment to live viewers, its time on the connection's wall clock.
    fn publish_live(&mut self, data: &[u8], pts: u64, keyframe: bool, at: DateTime<Utc>) {
        let (Some(live), Some(_), Some((t0, w0))) = (self.live.as_mut(), &self.open, self.anchor)
        else {
            return;
        };
        let start = ticks_90k(w0);
        let step = u32::try_from(self.last_step).unwrap_or(u32::MAX);
        let time = start + pts.saturating_sub(t0);
        if let Err(e) = live.publish(data, time, step, keyframe, at) {
            tracing::debug!(error = %e, "frame not published to live viewers");
        }
    }

    /// Sequence number the next segment will get.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Writes the pending samples as a fragment ending at `end` and closes the open segment.
    fn write_and_close(&mut self, end: u64) -> Result<Option<ClosedFragments>, FragmentError> {
        if !self.pending.is_empty() {
            self.write_fragment(end)?;
        }
        Ok(self.open.take().and_then(OpenSegment::close))
    }

    fn open_segment(
        &mut self,
        pts: u64,
        anchor: (u64, DateTime<Utc>),
    ) -> Result<(), FragmentError> {
        let Some(CurrentTrack { track, audio, init }) = &self.track else {
            return Ok(());
        };
        let audio_origin = match self.audio.as_mut() {
            Some(queue) => {
                let origin = queue.of_video(pts.saturating_sub(self.pts_offset));
                queue.drop_before(origin);
                origin
            }
            None => 0,
        };
        let at = anchor.1 + ticks(pts.saturating_sub(anchor.0));
        let seq = self.next_seq;
        let path = self.layout.path_with_ext(seq, at, FMP4_EXT);
        let created = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| File::create(&path));
        let file = created.map_err(|error| FragmentError::Io {
            path: path.clone(),
            error,
            closed: None,
        })?;
        self.next_seq += 1;
        self.open = Some(OpenSegment {
            seq,
            path,
            file,
            start: at,
            first_pts: pts,
            audio_origin,
            anchor,
            init: Some(init.clone()),
            len: 0,
            durable_pts: pts,
            media: SegmentMedia {
                container: SegmentContainer::Fmp4,
                codec: Some(track.rfc6381()),
                width: Some(u32::from(track.width)),
                height: Some(u32::from(track.height)),
                audio: audio.as_ref().map(AudioTrack::rfc6381),
                init_len: Some(u64::try_from(init.len()).unwrap_or(u64::MAX)),
                fragments: Vec::new(),
            },
        });
        Ok(())
    }

    /// Writes the pending samples as one fragment ending at `end` (the next sample's timestamp),
    /// with one write, and makes it durable.
    fn write_fragment(&mut self, end: u64) -> Result<(), FragmentError> {
        let pending = std::mem::take(&mut self.pending);
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let Some(first) = pending.first() else {
            return Ok(());
        };
        let samples: Vec<Sample<'_>> = pending
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let next = pending.get(i + 1).map_or(end, |n| n.pts);
                Sample {
                    data: &s.data,
                    duration: u32::try_from(next.saturating_sub(s.pts).max(1)).unwrap_or(u32::MAX),
                    keyframe: s.keyframe,
                }
            })
            .collect();
        let sequence = u32::try_from(open.media.fragments.len() + 1).unwrap_or(u32::MAX);
        let base = first.pts.saturating_sub(open.first_pts);
        let audio = match self.audio.as_mut() {
            Some(queue) => queue.take_before(queue.of_video(end.saturating_sub(self.pts_offset))),
            None => Vec::new(),
        };
        let audio_samples: Vec<Sample<'_>> = audio
            .iter()
            .map(|f| Sample {
                data: &f.data,
                duration: f.duration,
                keyframe: true,
            })
            .collect();
        let runs = [
            TrackRun {
                track_id: VIDEO_TRACK,
                base_decode_time: base,
                samples: &samples,
            },
            TrackRun {
                track_id: AUDIO_TRACK,
                base_decode_time: audio
                    .first()
                    .map_or(0, |f| f.at.saturating_sub(open.audio_origin)),
                samples: &audio_samples,
            },
        ];
        // The init section (before the first fragment) and the fragment go out in one write,
        // from one allocation with room for the boxes, so growing it never copies the fragment;
        // the same buffer then goes to the standby as it is.
        let mut buf = open.init.take().unwrap_or_default();
        let media: usize = samples
            .iter()
            .chain(&audio_samples)
            .map(|s| s.data.len())
            .sum();
        buf.reserve(media + 64 * (samples.len() + audio_samples.len()) + 1024);
        let offset = open.len + u64::try_from(buf.len()).unwrap_or(0);
        fmp4::append_fragment(&mut buf, sequence, &runs)?;
        let fragment_len = u64::try_from(buf.len()).unwrap_or(u64::MAX) - (offset - open.len);
        let path = open.path.clone();
        let writing = std::time::Instant::now();
        let written = open
            .file
            .write_all(&buf)
            .and_then(|()| open.file.sync_data());
        metrics::FRAGMENT_WRITE_SECONDS.observe(writing.elapsed().as_secs_f64());
        if let Err(error) = written {
            let closed = self.open.take().and_then(OpenSegment::close).map(Box::new);
            return Err(FragmentError::Io {
                path,
                error,
                closed,
            });
        }
        metrics::FRAGMENT_DURABLE_SECONDS
            .observe((Utc::now() - first.at).num_milliseconds() as f64 / 1000.0);
        let written_at = open.len;
        open.len += u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if let Some((mirror, health)) = &self.mirror
            && let Ok(file) = open.path.strip_prefix(&self.layout.camera_dir)
        {
            let chunk = MirrorChunk {
                file: file.to_path_buf(),
                offset: written_at,
                bytes: buf,
            };
            if mirror.try_send(chunk).is_err() {
                metrics::MIRROR_CHUNKS_DROPPED.inc();
                health.dropped();
            }
        }
        open.media.fragments.push(SegmentFragment {
            offset,
            len: fragment_len,
            start_ms: open.millis(first.pts),
            duration_ms: open.millis(end).saturating_sub(open.millis(first.pts)),
            keyframe: first.keyframe,
            copies: 1,
        });
        open.durable_pts = end;
        Ok(())
    }
}

/// `at` in 90 kHz ticks since the Unix epoch: the live clock of video and audio alike.
fn ticks_90k(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_micros()).unwrap_or(0) * 9 / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::{SAMPLE, h264_track as track};

    fn recorder(dir: &std::path::Path) -> FragmentRecorder {
        let layout = SegmentLayout {
            camera_dir: dir.to_path_buf(),
            first_seq: 5,
        };
        let mut r = FragmentRecorder::new(layout, Duration::from_secs(2), Duration::from_secs(1));
        r.set_track(track(320), None).expect("track");
        r
    }

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("vms-frag-{}", uuid::Uuid::now_v7().simple()))
    }

    #[test]
    fn frames_before_the_first_keyframe_are_dropped() {
        let dir = scratch();
        let mut r = recorder(&dir);
        let at = Utc::now();
        assert!(
            r.push(SAMPLE.to_vec(), 0, false, at)
                .expect("push")
                .is_none()
        );
        assert!(
            r.push(SAMPLE.to_vec(), 3600, true, at)
                .expect("push")
                .is_none()
        );
        let closed = r.finish().expect("finish").expect("a segment");
        assert_eq!(
            (closed.seq, closed.start),
            (5, at),
            "it starts at the keyframe"
        );
        assert_eq!(closed.media.fragments.len(), 1);
        assert_eq!(r.next_seq(), 6);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_timestamp_jumping_backwards_continues_the_timeline() {
        let dir = scratch();
        let mut r = recorder(&dir);
        let at = Utc::now();
        for (pts, key) in [(900_000, true), (903_600, false), (0, false), (3600, false)] {
            r.push(SAMPLE.to_vec(), pts, key, at).expect("push");
        }
        let closed = r.finish().expect("finish").expect("a segment");
        // Four frames of 40 ms: the jump back did not shorten or reverse the segment.
        assert_eq!((closed.end - closed.start).num_milliseconds(), 160);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_track_closes_the_segment_and_waits_for_a_keyframe() {
        let dir = scratch();
        let mut r = recorder(&dir);
        let at = Utc::now();
        r.push(SAMPLE.to_vec(), 0, true, at).expect("push");
        r.push(SAMPLE.to_vec(), 3600, false, at).expect("push");
        let closed = r
            .set_track(track(640), None)
            .expect("track")
            .expect("closed");
        assert_eq!(closed.seq, 5);
        assert!(
            r.set_track(track(640), None).expect("same").is_none(),
            "the same track changes nothing"
        );
        assert!(
            r.push(SAMPLE.to_vec(), 7200, false, at)
                .expect("push")
                .is_none()
        );
        r.push(SAMPLE.to_vec(), 10_800, true, at).expect("push");
        assert_eq!(r.finish().expect("finish").map(|c| c.seq), Some(6));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_segment_that_cannot_be_created_is_an_error_naming_it() {
        let file = scratch();
        std::fs::write(&file, b"not a folder").expect("file");
        let mut r = recorder(&file);
        let err = r
            .push(SAMPLE.to_vec(), 0, true, Utc::now())
            .expect_err("refused");
        assert!(
            matches!(err, FragmentError::Io { closed: None, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains(&file.display().to_string()),
            "{err}"
        );
        let _ = std::fs::remove_file(file);
    }
}
