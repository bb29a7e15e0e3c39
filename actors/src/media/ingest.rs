//! What a camera's ingest session shares with its camera actor: flow counters, why a session
//! failed, and where keyframes go for analytics (and how a frame becomes such a picture).

use crate::media::fmp4::{VideoCodec, VideoTrack};
use crate::media::nal;
use crate::media::sampler::PictureCodec;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Why an ingest session failed, which decides whether to retry soon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Network trouble, camera gone or frozen: reconnect with backoff.
    Transient,
    /// The stream's codec is one we cannot record, or it offers no video at all.
    UnsupportedCodec,
    /// The camera answered 404 for the path.
    NotFound,
    /// The camera refused the credentials.
    Unauthorized,
    /// The data disk is full.
    DiskFull,
}

/// Consecutive 404 answers after which a camera is shown as `failed` (a rebooting camera or proxy may
/// answer 404 for a moment; a wrong path answers it every time).
pub const NOT_FOUND_FAILED_AFTER: u32 = 3;

impl FailureKind {
    /// Whether nothing but a change (configuration, camera settings) will fix it: retried slowly.
    pub fn is_permanent(self) -> bool {
        matches!(self, Self::UnsupportedCodec | Self::Unauthorized)
    }

    /// Whether the camera is shown as `failed` (rather than `backoff`) after `consecutive` such failures.
    pub fn shows_failed(self, consecutive: u32) -> bool {
        self.is_permanent() || (self == Self::NotFound && consecutive >= NOT_FOUND_FAILED_AFTER)
    }
}

/// Counters the ingest task updates and the camera's watchdog reads.
#[derive(Debug, Default)]
pub struct FlowStats {
    /// Frames (access units) received.
    pub frames: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Wall-clock milliseconds of the last frame (0: none yet).
    pub last_frame_ms: AtomicI64,
}

impl FlowStats {
    /// Counts one frame of `bytes` arriving at `at`.
    pub fn frame(&self, bytes: usize, at: DateTime<Utc>) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.last_frame_ms
            .store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// Wall-clock time of the last frame.
    pub fn last_frame_at(&self) -> Option<DateTime<Utc>> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

/// What a [`KeyframeSink`] calls: the picture's codec, the picture (Annex B, parameter sets in
/// front of a keyframe; handed over, not copied again) and its arrival time.
pub type KeyframeFn = dyn Fn(PictureCodec, Vec<u8>, DateTime<Utc>) + Send + Sync;

/// Receives each keyframe picture, decodable alone, with its arrival time; or, with `every_frame`,
/// every access unit in order (parameter sets in front of each keyframe).
#[derive(Clone)]
pub struct KeyframeSink {
    /// Called from the ingest task.
    pub feed: Arc<KeyframeFn>,
    /// Every access unit rather than keyframes only (sampling at N frames a second).
    pub every_frame: bool,
}

impl std::fmt::Debug for KeyframeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyframeSink")
    }
}

/// The current track's codec and parameter sets (Annex B), for the pictures analytics decodes.
pub struct PictureTrack {
    /// The decoder the pictures need.
    pub codec: PictureCodec,
    parameter_sets: Vec<u8>,
}

impl PictureTrack {
    /// The pictures of `track`.
    pub fn of(track: &VideoTrack) -> Self {
        let codec = match track.codec {
            VideoCodec::H264(_) => PictureCodec::H264,
            VideoCodec::H265(_) => PictureCodec::H265,
        };
        Self {
            codec,
            parameter_sets: nal::parameter_sets(&track.codec).unwrap_or_default(),
        }
    }

    /// Hands a frame to `sink` in Annex B, parameter sets in front of a keyframe.
    pub fn feed(&self, sink: &KeyframeSink, data: &[u8], keyframe: bool, at: DateTime<Utc>) {
        let mut picture = Vec::with_capacity(data.len() + self.parameter_sets.len());
        if keyframe {
            picture.extend_from_slice(&self.parameter_sets);
        }
        nal::append_annex_b(&mut picture, data);
        (sink.feed)(self.codec, picture, at);
    }
}
