//! Live video as it leaves a camera's recorder for its viewers: one access unit at a time, each
//! with its own one-sample fMP4 fragment (and the audio frames that came with it), so every
//! transport (MSE, LL-HLS, WebRTC) serves what was muxed once per frame, not once per viewer.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::{Arc, OnceLock};

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
    /// An fMP4 init section with this video track, and the audio track when
    /// [`LiveAudioTrack::in_fmp4`].
    pub init: Bytes,
    /// The parameter sets (SPS and PPS, with VPS for H.265) in Annex B form, for WebRTC.
    pub parameter_sets: Bytes,
    /// The camera's audio, when it sends any.
    pub audio: Option<LiveAudioTrack>,
}

impl LiveTrack {
    /// The codecs of the fMP4 stream as a MIME type's `codecs` parameter names them
    /// (`avc1.64001f,opus`): the video's, and the audio's when the fragments carry it.
    pub fn codecs(&self) -> String {
        match &self.audio {
            Some(audio) if audio.in_fmp4 => format!("{},{}", self.codec, audio.rfc6381),
            _ => self.codec.clone(),
        }
    }
}

/// A live audio codec, carried as the camera sends it (never transcoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveAudioCodec {
    /// Opus: WebRTC, and fMP4 for MSE and LL-HLS.
    Opus,
    /// G.711 µ-law: WebRTC only (browsers do not play it from fMP4).
    Pcmu,
    /// G.711 A-law: WebRTC only.
    Pcma,
    /// AAC: fMP4 for MSE and LL-HLS only (WebRTC has no AAC).
    Aac,
}

/// A camera's live audio track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAudioTrack {
    /// Its codec.
    pub codec: LiveAudioCodec,
    /// Its RFC 6381 name (`opus`, `mp4a.40.2`; `ulaw` and `alaw` for G.711).
    pub rfc6381: String,
    /// Samples a second: the clock of its frames' times.
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
    /// Whether the init section and each frame's fragment carry it (Opus and AAC).
    pub in_fmp4: bool,
}

/// One audio frame as the camera sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAudio {
    /// The coded frame.
    pub data: Bytes,
    /// Its start in the track's clock since the Unix epoch (the same wall clock as the video's
    /// [`LiveFrame::time_90k`]).
    pub time: u64,
    /// Its duration in the track's clock.
    pub duration: u32,
}

/// One access unit of a camera's live video.
#[derive(Clone, Debug)]
pub struct LiveFrame {
    /// The track it belongs to (compare with [`Arc::ptr_eq`] to see a change).
    pub track: Arc<LiveTrack>,
    /// Its NAL units in Annex B form (each behind a start code), without parameter sets, as
    /// WebRTC packetisers take them.
    pub annex_b: Bytes,
    /// `moof` + `mdat` of this frame alone, its decode time being [`LiveFrame::time_90k`] (with
    /// its audio frames in a second track run when the track's audio is in fMP4).
    pub fragment: Bytes,
    /// The audio frames that arrived since the frame before, in order.
    pub audio: Arc<[LiveAudio]>,
    /// Whether decoding may start here.
    pub keyframe: bool,
    /// Its presentation time in 90 kHz ticks since the Unix epoch (the camera's clock mapped onto
    /// the node's wall clock when the connection started).
    pub time_90k: u64,
    /// When the node received it.
    pub received: DateTime<Utc>,
    /// Its RTP payloads for WebRTC, cut by the first viewer that needs them and shared by every
    /// other (each viewer still numbers and encrypts its own packets). Empty until then; a new
    /// frame starts with `Default::default()`.
    pub rtp_payloads: Arc<OnceLock<RtpPayloads>>,
}

/// A frame's RTP payloads, in order: the last one carries the marker bit.
pub type RtpPayloads = Arc<[Arc<[u8]>]>;

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
