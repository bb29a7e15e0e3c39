//! Live video as it leaves a camera's recorder for its viewers: one access unit at a time, each
//! with its own one-sample fMP4 fragment, so every transport (MSE, LL-HLS, WebRTC) serves what
//! was muxed once per frame, not once per viewer.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A camera's live video track: the same for every frame until the camera's stream changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTrack {
    /// Codec as RFC 6381 names it (`avc1.64001f`), for MSE's `addSourceBuffer` and HLS.
    pub codec: String,
    /// Whether it is H.265 (otherwise H.264).
    pub h265: bool,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// An fMP4 init section with this video track alone (live view sends no audio yet).
    pub init: Bytes,
    /// The parameter sets (SPS and PPS, with VPS for H.265) in Annex B form, for WebRTC.
    pub parameter_sets: Bytes,
}

/// One access unit of a camera's live video.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    /// The track it belongs to (compare with [`Arc::ptr_eq`] to see a change).
    pub track: Arc<LiveTrack>,
    /// Its NAL units in Annex B form (each behind a start code), without parameter sets, as
    /// WebRTC packetisers take them.
    pub annex_b: Bytes,
    /// `moof` + `mdat` of this frame alone, its decode time being [`LiveFrame::time_90k`].
    pub fragment: Bytes,
    /// Whether decoding may start here.
    pub keyframe: bool,
    /// Its presentation time in 90 kHz ticks since the Unix epoch (the camera's clock mapped onto
    /// the node's wall clock when the connection started).
    pub time_90k: u64,
    /// When the node received it.
    pub received: DateTime<Utc>,
}

impl LiveFrame {
    /// Its time as a wall-clock instant.
    pub fn wall_clock(&self) -> DateTime<Utc> {
        let micros = i64::try_from(self.time_90k.saturating_mul(100) / 9).unwrap_or(i64::MAX);
        DateTime::from_timestamp_micros(micros).unwrap_or(self.received)
    }
}

/// A viewer's subscription to a camera's live video: the frames of the current group of pictures
/// (from its keyframe), then every frame as it comes. The channel is bounded: a viewer that falls
/// behind by more than its capacity is told how many frames it lost and must wait for a keyframe.
#[derive(Debug)]
pub struct LiveFeed {
    /// The current group of pictures so far, keyframe first (empty before the first keyframe).
    pub gop: Vec<LiveFrame>,
    /// The frames after those.
    pub frames: tokio::sync::broadcast::Receiver<LiveFrame>,
}
