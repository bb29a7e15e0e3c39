//! RTSP ingest through `retina` (ingest v2): one tokio task per camera reads RTP over the RTSP
//! connection (interleaved TCP by default, UDP as an option, TLS through a loopback relay for
//! `rtsps://`) and depacketises in the same task, with no thread hand-off per packet, handing each
//! video frame, and the frames of the camera's AAC, G.711 or Opus audio, to its
//! [`FragmentRecorder`]. Opus comes over a session of its own (`media::opus` says why).
//!
//! Camera quirks: timestamps that do not start where `RTP-Info` says
//! (`InitialTimestampPolicy::Permissive`), parameter sets missing from the SDP (they are taken from
//! the stream; the recorder waits for them), parameter sets changing mid-stream (a new init section
//! and segment), timestamps jumping backwards (the recorder continues its timeline), stalls under
//! the watchdog (the session goes on), and H.265 CRA keyframes, which retina does not flag (found
//! here). `vms sim --faults` sends all but the first; `nodes/tests/ingest_v2.rs` records them.

use crate::media::fmp4::{VideoCodec, VideoTrack};
use crate::media::fmp4_audio::AudioTrack;
use crate::media::fragmenter::{ClosedFragments, FragmentError, FragmentRecorder};
use crate::media::ingest::{FailureKind, KeyframeSink, PictureTrack};
use crate::media::nal;
use crate::media::opus::OpusPacket;
use crate::media::rtsp_audio::{
    AudioStream, audio_stream, demuxed_audio_track, next_opus, open_opus, opus_track,
};
use crate::media::sampler::PictureCodec;
use crate::media::tls_relay;
use chrono::Utc;
use futures_util::StreamExt;
use retina::client::{
    Credentials, InitialTimestampPolicy, PlayOptions, Session, SessionOptions, SetupOptions,
    Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters, VideoParametersCodec};
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::ClientConfig;
use vms_messages::RtspTransport;

/// What one ingest session needs.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// `rtsp://` or `rtsps://` URL, without credentials.
    pub url: url::Url,
    /// User name and password, when the camera asks (basic or digest).
    pub credentials: Option<(String, String)>,
    /// How RTP travels.
    pub transport: RtspTransport,
    /// No frame for this long ends the session (a frozen camera sends nothing at all).
    pub watchdog: Duration,
    /// Where keyframes (or every frame) go for analytics, when the camera has any.
    pub keyframes: Option<KeyframeSink>,
    /// How `rtsps://` cameras are verified (required for them).
    pub tls: Option<Arc<ClientConfig>>,
}

/// Something an ingest session reports as it goes.
#[derive(Debug)]
pub enum IngestEvent {
    /// A video frame arrived.
    Frame {
        /// Its size in bytes.
        bytes: usize,
        /// Whether it is a keyframe.
        keyframe: bool,
        /// When it arrived.
        at: chrono::DateTime<Utc>,
    },
    /// A segment file is complete.
    Closed(ClosedFragments),
}

/// Why an ingest session ended.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The camera could not be reached or refused the session (retina's message says why).
    #[error("rtsp: {message}")]
    Rtsp {
        /// The RTSP status the camera answered with, when it answered.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The camera offers no video stream.
    #[error("the camera offers no video stream")]
    NoVideo,
    /// The camera's video codec is one we cannot record.
    #[error("unsupported codec {0}: only H.264 and H.265 are recorded")]
    UnsupportedCodec(String),
    /// No frame within the watchdog's time.
    #[error("no frames for {0:?}")]
    NoFrames(Duration),
    /// The stream ended.
    #[error("the camera ended the stream")]
    Ended,
    /// A segment could not be written.
    #[error(transparent)]
    Write(#[from] FragmentError),
}

impl IngestError {
    /// How the camera's actor treats it: which state it shows and how soon it retries.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Rtsp {
                status: Some(404), ..
            } => FailureKind::NotFound,
            Self::Rtsp {
                status: Some(401 | 403),
                ..
            } => FailureKind::Unauthorized,
            Self::NoVideo | Self::UnsupportedCodec(_) | Self::Write(FragmentError::Mux(_)) => {
                FailureKind::UnsupportedCodec
            }
            Self::Write(FragmentError::Io { error, .. })
                if error.kind() == std::io::ErrorKind::StorageFull =>
            {
                FailureKind::DiskFull
            }
            _ => FailureKind::Transient,
        }
    }
}

/// retina's error as the session's: its first line (a camera status shows it); the rest (a dump of
/// the packet, the connection) goes to the log.
fn rtsp(e: retina::Error) -> IngestError {
    let full = e.to_string();
    let message = full.lines().next().unwrap_or_default().to_string();
    if message.len() < full.len() {
        tracing::debug!(error = %full, "rtsp session error in full");
    }
    IngestError::Rtsp {
        status: e.status_code(),
        message,
    }
}

/// How an ingest session ended, and the segment it left open, closed at its last durable fragment.
#[derive(Debug)]
pub struct IngestEnd {
    /// `Ok` when it was stopped; why it failed otherwise.
    pub result: Result<(), IngestError>,
    /// The segment that was open when it ended.
    pub last: Option<ClosedFragments>,
}

/// The recorder's track for retina's video parameters.
fn track_of(params: &VideoParameters) -> Result<VideoTrack, IngestError> {
    let record = params.extra_data().to_vec();
    let codec = match params.codec_params() {
        VideoParametersCodec::H264 { .. } => VideoCodec::H264(record),
        VideoParametersCodec::H265 { .. } => VideoCodec::H265(record),
        _ => return Err(IngestError::UnsupportedCodec(params.rfc6381_codec().into())),
    };
    let (width, height) = params.pixel_dimensions();
    Ok(VideoTrack {
        codec,
        width: u16::try_from(width).unwrap_or(u16::MAX),
        height: u16::try_from(height).unwrap_or(u16::MAX),
    })
}

/// Records `options`' camera into `recorder` for `seconds` (or until the session ends): every
/// segment closed, the open one included, and how it ended. For tests and benchmarks.
pub async fn record_for(
    options: &IngestOptions,
    recorder: &mut FragmentRecorder,
    seconds: u64,
) -> (Vec<ClosedFragments>, Result<(), IngestError>) {
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
        let _ = stop_tx.send(true);
        stop_tx
    });
    let mut closed = Vec::new();
    let mut on_event = |event: IngestEvent| {
        if let IngestEvent::Closed(c) = event {
            closed.push(c);
        }
    };
    let end = record(options, recorder, &mut stop, &mut on_event).await;
    stopper.abort();
    closed.extend(end.last);
    (closed, end.result)
}

/// Records the camera `options` names into `recorder` until `stop` turns true (then `Ok`), or the
/// session fails. Every frame and every segment closed on the way goes to `on_event`; the segment
/// open at the end comes back in [`IngestEnd::last`], whichever way the session ended.
pub async fn record(
    options: &IngestOptions,
    recorder: &mut FragmentRecorder,
    stop: &mut tokio::sync::watch::Receiver<bool>,
    on_event: &mut (dyn FnMut(IngestEvent) + Send),
) -> IngestEnd {
    // Stopping cancels whatever the session waits for: the camera's answer, its next packet.
    let mut result = tokio::select! {
        outcome = run(options, recorder, on_event) => outcome,
        () = stopped(stop) => Ok(()),
    };
    let mut last = match &mut result {
        Err(IngestError::Write(e)) => e.take_closed(),
        _ => None,
    };
    match recorder.finish() {
        Ok(closed) => last = last.or(closed),
        Err(mut e) => {
            last = last.or(e.take_closed());
            result = result.and(Err(e.into()));
        }
    }
    IngestEnd { result, last }
}

/// Returns once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|&stopped| stopped).await;
}

/// Sets the recorder's tracks from retina's video parameters and the audio track; returns the
/// segment it closed, if any.
fn set_track(
    recorder: &mut FragmentRecorder,
    params: &VideoParameters,
    audio: Option<&AudioTrack>,
    picture: &mut Option<PictureTrack>,
) -> Result<Option<ClosedFragments>, IngestError> {
    let track = track_of(params)?;
    *picture = Some(PictureTrack::of(&track));
    Ok(recorder.set_track(track, audio.cloned())?)
}

/// What the session's loop waits for.
enum Next {
    /// The video session's next item.
    Video(Option<Result<CodecItem, retina::Error>>),
    /// The Opus session's next packet.
    Opus(Option<Result<OpusPacket, retina::Error>>),
    /// No video frame within the watchdog's time.
    Silent,
}

async fn run(
    options: &IngestOptions,
    recorder: &mut FragmentRecorder,
    on_event: &mut (dyn FnMut(IngestEvent) + Send),
) -> Result<(), IngestError> {
    let session_options = || {
        let creds = options
            .credentials
            .clone()
            .map(|(username, password)| Credentials { username, password });
        SessionOptions::default()
            .creds(creds)
            .user_agent(format!("vms/{}", env!("CARGO_PKG_VERSION")))
    };
    // An rtsps camera is reached through a loopback TLS relay, RTP interleaved in it.
    let relay = match (options.url.scheme(), &options.tls) {
        ("rtsps", Some(tls)) => Some(
            tls_relay::start(&options.url, Arc::clone(tls))
                .await
                .map_err(|message| IngestError::Rtsp {
                    status: None,
                    message,
                })?,
        ),
        ("rtsps", None) => {
            return Err(IngestError::Rtsp {
                status: None,
                message: "no TLS settings for an rtsps camera".into(),
            });
        }
        _ => None,
    };
    let url = relay.as_ref().map_or(&options.url, |r| &r.url);
    let mut session = Session::describe(url.clone(), session_options())
        .await
        .map_err(rtsp)?;
    let video = session
        .streams()
        .iter()
        .position(|s| s.media() == "video")
        .ok_or(IngestError::NoVideo)?;
    let encoding = session.streams()[video]
        .encoding_name()
        .to_ascii_lowercase();
    if !matches!(encoding.as_str(), "h264" | "h265") {
        return Err(IngestError::UnsupportedCodec(encoding));
    }
    let transport = || match options.transport {
        RtspTransport::Udp if relay.is_none() => Transport::Udp(Default::default()),
        _ => Transport::Tcp(Default::default()),
    };
    session
        .setup(
            video,
            SetupOptions::default()
                .transport(transport())
                .frame_format(FrameFormat::MP4),
        )
        .await
        .map_err(rtsp)?;
    let audio = audio_stream(session.streams());
    let mut demuxed_audio = None;
    if let Some(AudioStream::Demuxed(index)) = audio {
        match session
            .setup(index, SetupOptions::default().transport(transport()))
            .await
        {
            Ok(()) => demuxed_audio = Some(index),
            Err(e) => {
                tracing::warn!(error = %e, "the camera's audio could not be set up; video only");
            }
        }
    }
    let mut frames = session
        .play(PlayOptions::default().initial_timestamp(InitialTimestampPolicy::Permissive))
        .await
        .map_err(rtsp)?
        .demuxed()
        .map_err(rtsp)?;
    // Opus is set up once the video plays: a camera serving one media to both sessions starts it
    // with the video's stream.
    let mut opus = None;
    let mut audio_track = None;
    if let Some(AudioStream::Opus(index)) = audio {
        opus = open_opus(url, session_options(), index, transport()).await;
        audio_track = opus.is_some().then(|| opus_track(&frames.streams()[index]));
    }
    if let Some(index) = demuxed_audio {
        audio_track = demuxed_audio_track(frames.streams(), index);
    }
    let mut picture = None;
    if let Some(ParametersRef::Video(params)) = frames.streams()[video].parameters() {
        set_track(recorder, params, audio_track.as_ref(), &mut picture)?;
    }
    let watchdog = tokio::time::sleep(options.watchdog);
    tokio::pin!(watchdog);
    loop {
        let next = tokio::select! {
            item = frames.next() => Next::Video(item),
            packet = next_opus(&mut opus) => Next::Opus(packet),
            () = &mut watchdog => Next::Silent,
        };
        let frame = match next {
            Next::Silent => return Err(IngestError::NoFrames(options.watchdog)),
            Next::Video(None) => return Err(IngestError::Ended),
            Next::Video(Some(Err(e))) => return Err(rtsp(e)),
            Next::Video(Some(Ok(CodecItem::VideoFrame(frame)))) => frame,
            Next::Video(Some(Ok(CodecItem::AudioFrame(frame)))) => {
                if audio_track.is_some() {
                    let at = u64::try_from(frame.timestamp().elapsed()).unwrap_or(0);
                    recorder.push_audio(
                        frame.data().to_vec(),
                        at,
                        frame.frame_length().get(),
                        Utc::now(),
                    );
                }
                continue;
            }
            Next::Video(Some(Ok(_))) => continue,
            Next::Opus(Some(Ok(packet))) => {
                recorder.push_audio(packet.data, packet.at, packet.duration, Utc::now());
                continue;
            }
            Next::Opus(ended) => {
                // The audio's session ended or failed: the video goes on alone (its track stays
                // in the init section, with no more samples).
                let reason = match ended {
                    Some(Err(e)) => e.to_string(),
                    _ => "ended".into(),
                };
                tracing::warn!(reason, "the camera's Opus session ended; video only");
                opus = None;
                continue;
            }
        };
        watchdog
            .as_mut()
            .reset(tokio::time::Instant::now() + options.watchdog);
        if frame.has_new_parameters()
            && let Some(ParametersRef::Video(params)) = frames.streams()[video].parameters()
            && let Some(closed) = set_track(recorder, params, audio_track.as_ref(), &mut picture)?
        {
            on_event(IngestEvent::Closed(closed));
        }
        let at = Utc::now();
        let pts = u64::try_from(frame.timestamp().elapsed()).unwrap_or(0);
        let h265 = picture
            .as_ref()
            .is_some_and(|p| p.codec == PictureCodec::H265);
        let keyframe = frame.is_random_access_point() || (h265 && nal::hevc_irap(frame.data()));
        on_event(IngestEvent::Frame {
            bytes: frame.data().len(),
            keyframe,
            at,
        });
        if let (Some(sink), Some(picture)) = (&options.keyframes, &picture)
            && (keyframe || sink.every_frame)
        {
            picture.feed(sink, frame.data(), keyframe, at);
        }
        if let Some(closed) = recorder.push(frame.into_data(), pts, keyframe, at)? {
            on_event(IngestEvent::Closed(closed));
        }
    }
}
