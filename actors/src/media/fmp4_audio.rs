//! The audio track of a fragmented MP4 segment: AAC (`mp4a` with its `AudioSpecificConfig`),
//! G.711 µ-law/A-law (`ulaw`/`alaw` sample entries, as QuickTime and ffmpeg write them) or Opus
//! (`Opus` with its `dOps`, as the Opus-in-ISOBMFF mapping defines), recorded as the camera sends
//! it, at its own sample rate as timescale (48 kHz for Opus).

use crate::media::fmp4_trak::{TrackKind, trak};
use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor, SLConfig};
use mp4_atom::{Audio, Codec, Dops, Esds, Mp4a, Opus, Sowt, Tkhd, Trak};

/// The audio track's id.
pub const AUDIO_TRACK: u32 = 2;

/// An audio codec we record, with what its sample entry needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC, with its `AudioSpecificConfig`.
    Aac(Vec<u8>),
    /// G.711 µ-law (PCMU).
    Pcmu,
    /// G.711 A-law (PCMA).
    Pcma,
    /// Opus (RFC 7587), its packets as the camera sent them.
    Opus,
}

/// A camera's audio track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioTrack {
    /// Codec and configuration.
    pub codec: AudioCodec,
    /// Samples a second (also the track's timescale).
    pub sample_rate: u32,
    /// Channels.
    pub channels: u16,
}

impl AudioTrack {
    /// The codec's RFC 6381 name (`mp4a.40.2`, `opus`), or the sample entry's for G.711 (`ulaw`,
    /// `alaw`).
    pub fn rfc6381(&self) -> String {
        match &self.codec {
            AudioCodec::Aac(config) => {
                let object_type = config.first().map_or(2, |b| b >> 3);
                format!("mp4a.40.{object_type}")
            }
            AudioCodec::Pcmu => "ulaw".into(),
            AudioCodec::Pcma => "alaw".into(),
            AudioCodec::Opus => "opus".into(),
        }
    }

    /// The sample entry of the track.
    fn sample_entry(&self) -> Codec {
        let rate = u16::try_from(self.sample_rate).unwrap_or(0);
        let audio = |sample_size| Audio {
            data_reference_index: 1,
            channel_count: self.channels,
            sample_size,
            sample_rate: rate.into(),
        };
        match &self.codec {
            AudioCodec::Aac(config) => Mp4a {
                audio: audio(16),
                esds: Esds {
                    es_desc: EsDescriptor {
                        es_id: u16::try_from(AUDIO_TRACK).unwrap_or(2),
                        dec_config: DecoderConfig {
                            object_type_indication: 0x40,
                            stream_type: 5,
                            dec_specific: Some(DecoderSpecific {
                                raw: config.clone(),
                                ..DecoderSpecific::default()
                            }),
                            ..DecoderConfig::default()
                        },
                        sl_config: SLConfig::default(),
                        ..EsDescriptor::default()
                    },
                },
                btrt: None,
                taic: None,
            }
            .into(),
            // QuickTime's sound sample entry with no extension, 8-bit companded samples: the
            // atom encoder writes it as `sowt` (same layout), renamed by `name_sample_entry`.
            AudioCodec::Pcmu | AudioCodec::Pcma => Sowt {
                audio: audio(8),
                pcmc: None,
                chnl: None,
                btrt: None,
            }
            .into(),
            // RTP carries no pre-skip or input rate: none is skipped, and 48 kHz is Opus's own.
            AudioCodec::Opus => Opus {
                audio: audio(16),
                dops: Dops {
                    output_channel_count: u8::try_from(self.channels).unwrap_or(2),
                    pre_skip: 0,
                    input_sample_rate: self.sample_rate,
                    output_gain: 0,
                    channel_mapping: None,
                },
                btrt: None,
            }
            .into(),
        }
    }

    /// The four-character name of the G.711 sample entry (`ulaw`, `alaw`), if it is one.
    fn g711_entry(&self) -> Option<&'static [u8; 4]> {
        match self.codec {
            AudioCodec::Aac(_) | AudioCodec::Opus => None,
            AudioCodec::Pcmu => Some(b"ulaw"),
            AudioCodec::Pcma => Some(b"alaw"),
        }
    }

    /// Renames the placeholder `sowt` sample entry of an encoded init section to the G.711 one
    /// (the atom encoder writes no entry it does not know). The audio track is the last one, after
    /// the video's parameter sets (which could hold any bytes), so the last `sowt` is its entry.
    pub(crate) fn name_sample_entry(&self, init: &mut [u8]) {
        let Some(name) = self.g711_entry() else {
            return;
        };
        if let Some(at) = init.windows(4).rposition(|w| w == b"sowt") {
            init[at..at + 4].copy_from_slice(name);
        }
    }

    /// The `trak` of the track.
    pub(crate) fn trak(&self) -> Trak {
        trak(
            Tkhd {
                track_id: AUDIO_TRACK,
                enabled: true,
                in_movie: true,
                volume: 1.into(),
                ..Tkhd::default()
            },
            TrackKind::Sound,
            self.sample_rate,
            self.sample_entry(),
        )
    }
}
