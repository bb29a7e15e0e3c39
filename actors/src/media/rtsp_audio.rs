//! The audio of an RTSP camera: which of its streams is recorded and how it is read. AAC and G.711
//! are depacketised by retina in the video's session; Opus comes over a session of its own
//! (`media::opus` says why).

use crate::media::fmp4_audio::{AudioCodec, AudioTrack};
use crate::media::opus::{OPUS_CLOCK, OpusPacket, OpusSession};
use retina::client::{SessionOptions, Transport};
use retina::codec::ParametersRef;

/// The audio codecs recorded, by RTP encoding name.
pub(super) fn audio_codec(encoding: &str, config: &[u8]) -> Option<AudioCodec> {
    match encoding {
        "mpeg4-generic" => Some(AudioCodec::Aac(config.to_vec())),
        "pcmu" => Some(AudioCodec::Pcmu),
        "pcma" => Some(AudioCodec::Pcma),
        "opus" => Some(AudioCodec::Opus),
        _ => None,
    }
}

/// The camera's audio stream, by how it is read.
#[derive(Clone, Copy, Debug)]
pub(super) enum AudioStream {
    /// AAC or G.711: depacketised by retina in the video's session.
    Demuxed(usize),
    /// Opus: read over a session of its own ([`OpusSession`]).
    Opus(usize),
}

/// The first audio stream the camera offers whose codec we record (AAC, G.711, Opus); others
/// (G.726, ...) are left out and the video is recorded alone.
pub(super) fn audio_stream(streams: &[retina::client::Stream]) -> Option<AudioStream> {
    let found = streams.iter().position(|s| s.media() == "audio")?;
    let encoding = streams[found].encoding_name().to_ascii_lowercase();
    match audio_codec(&encoding, &[]) {
        Some(AudioCodec::Opus) => Some(AudioStream::Opus(found)),
        Some(_) => Some(AudioStream::Demuxed(found)),
        None => {
            tracing::info!(
                encoding,
                "the camera's audio codec is not recorded; video only"
            );
            None
        }
    }
}

/// The audio track of stream `index`, once retina has its parameters.
pub(super) fn demuxed_audio_track(
    streams: &[retina::client::Stream],
    index: usize,
) -> Option<AudioTrack> {
    let stream = streams.get(index)?;
    let Some(ParametersRef::Audio(params)) = stream.parameters() else {
        return None;
    };
    Some(AudioTrack {
        codec: audio_codec(
            &stream.encoding_name().to_ascii_lowercase(),
            params.extra_data(),
        )?,
        sample_rate: params.clock_rate(),
        channels: params.channels().get(),
    })
}

/// The track of an Opus stream (RFC 7587 always says `opus/48000/2`; a stereo decoder plays a
/// mono stream too).
pub(super) fn opus_track(stream: &retina::client::Stream) -> AudioTrack {
    AudioTrack {
        codec: AudioCodec::Opus,
        sample_rate: OPUS_CLOCK,
        channels: stream.channels().map_or(2, std::num::NonZeroU16::get),
    }
}

/// Opens the Opus session of the camera's audio; the video is recorded alone when it fails.
pub(super) async fn open_opus(
    url: &url::Url,
    options: SessionOptions,
    index: usize,
    transport: Transport,
) -> Option<OpusSession> {
    match OpusSession::open(url, options, index, transport).await {
        Ok(session) => Some(session),
        Err(e) => {
            tracing::warn!(error = %e, "the camera's Opus audio could not be set up; video only");
            None
        }
    }
}

/// The next packet of the Opus session, if there is one (pending for ever otherwise).
pub(super) async fn next_opus(
    opus: &mut Option<OpusSession>,
) -> Option<Result<OpusPacket, retina::Error>> {
    match opus {
        Some(session) => session.next().await,
        None => std::future::pending().await,
    }
}
