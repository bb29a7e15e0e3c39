//! Fragmented MP4 (CMAF) muxing: the init section (`ftyp` + `moov`) of a camera's video track, H.264
//! (`avc1`) or H.265 (`hvc1`), and fragments (`moof` + `mdat`) of its samples. Browsers play these
//! as they are (MSE and HLS need fMP4; HEVC in HLS requires it). Pure code, bytes in and bytes out;
//! the atoms are the `mp4-atom` crate's.
//!
//! Samples are access units in length-prefixed form (4-byte lengths, as RTP depacketisers and the
//! `avcC`/`hvcC` records use); parameter sets travel in the init section only, so a change of
//! parameter sets starts a new init section (a new segment).

use crate::media::fmp4_audio::{AUDIO_TRACK, AudioTrack};
use crate::media::fmp4_trak::{TrackKind, trak};
use mp4_atom::{
    Atom, Avc1, Avcc, Codec, Encode, FourCC, Ftyp, Hvc1, Hvcc, Mfhd, Moof, Moov, Mvex, Mvhd, Tfdt,
    Tfhd, Tkhd, Traf, Trex, Trun, TrunEntry, TrunSamples, Visual,
};

/// Timescale of video tracks: RTP's 90 kHz clock.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// [`VIDEO_TIMESCALE`] ticks as whole milliseconds (saturating).
pub fn ticks_to_ms(ticks: u64) -> u32 {
    u32::try_from(ticks / u64::from(VIDEO_TIMESCALE / 1000)).unwrap_or(u32::MAX)
}

/// The video track's id.
pub const VIDEO_TRACK: u32 = 1;
/// `sample_flags` of a sync sample (depends on no other).
const SYNC_SAMPLE: u32 = 0x0200_0000;
/// `sample_flags` of a sample that depends on others and is not a sync sample.
const NON_SYNC_SAMPLE: u32 = 0x0101_0000;

/// A video track's codec with its decoder configuration record, as RTSP ingest hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264, with its `AVCDecoderConfigurationRecord` (the body of an `avcC` box).
    H264(Vec<u8>),
    /// H.265, with its `HEVCDecoderConfigurationRecord` (the body of an `hvcC` box).
    H265(Vec<u8>),
}

/// A camera's video track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoTrack {
    /// Codec and decoder configuration.
    pub codec: VideoCodec,
    /// Width in pixels.
    pub width: u16,
    /// Height in pixels.
    pub height: u16,
}

impl VideoTrack {
    /// The codec's RFC 6381 name (`avc1.64001f`, `hvc1.1.6.L93.B0`), as MSE and HLS want it.
    pub fn rfc6381(&self) -> String {
        match &self.codec {
            VideoCodec::H264(record) => match record.get(1..4) {
                Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
                None => "avc1".into(),
            },
            VideoCodec::H265(record) => match Hvcc::decode_body(&mut record.as_slice()) {
                Ok(h) => hevc_codec_string(&h),
                Err(_) => "hvc1".into(),
            },
        }
    }

    /// `h264` or `h265`.
    pub fn codec_name(&self) -> &'static str {
        match self.codec {
            VideoCodec::H264(_) => "h264",
            VideoCodec::H265(_) => "h265",
        }
    }
}

/// ISO/IEC 14496-15 annex E: profile space and profile, compatibility flags in reverse bit order,
/// tier and level, and the constraint bytes without trailing zeros.
fn hevc_codec_string(h: &Hvcc) -> String {
    let space = ["", "A", "B", "C"][usize::from(h.general_profile_space & 3)];
    let compat = u32::from_be_bytes(h.general_profile_compatibility_flags).reverse_bits();
    let tier = if h.general_tier_flag { 'H' } else { 'L' };
    let mut out = format!(
        "hvc1.{space}{}.{compat:x}.{tier}{}",
        h.general_profile_idc, h.general_level_idc
    );
    let flags = &h.general_constraint_indicator_flags;
    let used = flags.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    for b in &flags[..used] {
        out.push_str(&format!(".{b:X}"));
    }
    out
}

/// One sample: a video access unit, or an audio frame.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Video: NAL units, each behind its 4-byte big-endian length; audio: one coded frame.
    pub data: &'a [u8],
    /// Duration in the track's timescale (up to the next sample's decode time).
    pub duration: u32,
    /// A sync sample (IDR, or IRAP for H.265; every audio frame): decoding may start here.
    pub keyframe: bool,
}

/// Why a track or a fragment cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    /// The decoder configuration record does not parse.
    #[error("invalid {codec} decoder configuration: {detail}")]
    Config {
        /// Codec of the record.
        codec: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// A fragment without samples, or one too large for 32-bit sizes.
    #[error("cannot write a fragment: {0}")]
    Fragment(String),
    /// The atom encoder refused (a bug in what this module builds).
    #[error("cannot encode mp4 atoms: {0}")]
    Encode(String),
}

fn encode(atom: &impl Encode, out: &mut Vec<u8>) -> Result<(), Fmp4Error> {
    atom.encode(out)
        .map_err(|e| Fmp4Error::Encode(e.to_string()))
}

/// The sample entry (`avc1` or `hvc1`) of `track`.
fn sample_entry(track: &VideoTrack) -> Result<Codec, Fmp4Error> {
    let visual = Visual {
        data_reference_index: 1,
        width: track.width,
        height: track.height,
        ..Visual::default()
    };
    let config = |codec, e: mp4_atom::Error| Fmp4Error::Config {
        codec,
        detail: e.to_string(),
    };
    Ok(match &track.codec {
        VideoCodec::H264(record) => Avc1 {
            visual,
            avcc: Avcc::decode_body(&mut record.as_slice()).map_err(|e| config("h264", e))?,
            ..Avc1::default()
        }
        .into(),
        VideoCodec::H265(record) => Hvc1 {
            visual,
            hvcc: Hvcc::decode_body(&mut record.as_slice()).map_err(|e| config("h265", e))?,
            ..Hvc1::default()
        }
        .into(),
    })
}

/// The init section of `track` (and `audio`): `ftyp` and a `moov` announcing fragments.
pub fn init_segment(track: &VideoTrack, audio: Option<&AudioTrack>) -> Result<Vec<u8>, Fmp4Error> {
    let ftyp = Ftyp {
        major_brand: FourCC::new(b"iso6"),
        minor_version: 0,
        compatible_brands: [b"iso6", b"cmfc", b"mp41"]
            .into_iter()
            .map(FourCC::new)
            .collect(),
    };
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            next_track_id: AUDIO_TRACK + 1,
            ..Mvhd::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: std::iter::once(VIDEO_TRACK)
                .chain(audio.map(|_| AUDIO_TRACK))
                .map(|track_id| Trex {
                    track_id,
                    default_sample_description_index: 1,
                    ..Trex::default()
                })
                .collect(),
        }),
        trak: std::iter::once(trak(
            Tkhd {
                track_id: VIDEO_TRACK,
                enabled: true,
                in_movie: true,
                width: track.width.into(),
                height: track.height.into(),
                ..Tkhd::default()
            },
            TrackKind::Video,
            VIDEO_TIMESCALE,
            sample_entry(track)?,
        ))
        .chain(audio.map(AudioTrack::trak))
        .collect(),
        ..Moov::default()
    };
    let mut out = Vec::with_capacity(1024);
    encode(&ftyp, &mut out)?;
    encode(&moov, &mut out)?;
    if let Some(audio) = audio {
        audio.name_sample_entry(&mut out);
    }
    Ok(out)
}

/// The samples of one track in a fragment.
#[derive(Clone, Copy, Debug)]
pub struct TrackRun<'a> {
    /// [`VIDEO_TRACK`] or [`AUDIO_TRACK`].
    pub track_id: u32,
    /// Decode time of its first sample, in the track's timescale.
    pub base_decode_time: u64,
    /// Its samples, in order.
    pub samples: &'a [Sample<'a>],
}

/// A video-only fragment: a `moof` (sequence number `sequence`, first sample at
/// `base_decode_time`) and the `mdat` holding `samples`.
pub fn fragment(
    sequence: u32,
    base_decode_time: u64,
    samples: &[Sample<'_>],
) -> Result<Vec<u8>, Fmp4Error> {
    let mut out = Vec::new();
    let run = TrackRun {
        track_id: VIDEO_TRACK,
        base_decode_time,
        samples,
    };
    append_fragment(&mut out, sequence, &[run])?;
    Ok(out)
}

/// A fragment of one or more tracks (empty runs are left out; the first must have samples),
/// appended to `out` (behind an init section, so both go out in one write), each sample's bytes
/// copied once. The `mdat` holds the runs' samples one track after the other.
pub fn append_fragment(
    out: &mut Vec<u8>,
    sequence: u32,
    runs: &[TrackRun<'_>],
) -> Result<(), Fmp4Error> {
    if runs.first().is_none_or(|r| r.samples.is_empty()) {
        return Err(Fmp4Error::Fragment("no samples".into()));
    }
    let runs: Vec<&TrackRun<'_>> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let size = |n: usize| {
        u32::try_from(n).map_err(|_| Fmp4Error::Fragment(format!("{n} bytes is too large")))
    };
    let traf = |run: &TrackRun<'_>| -> Result<Traf, Fmp4Error> {
        let entries = run
            .samples
            .iter()
            .map(|s| {
                Ok(TrunEntry {
                    duration: Some(s.duration),
                    size: Some(size(s.data.len())?),
                    flags: Some(if s.keyframe {
                        SYNC_SAMPLE
                    } else {
                        NON_SYNC_SAMPLE
                    }),
                    cts: None,
                })
            })
            .collect::<Result<Vec<_>, Fmp4Error>>()?;
        Ok(Traf {
            tfhd: Tfhd {
                track_id: run.track_id,
                default_base_is_moof: true,
                ..Tfhd::default()
            },
            tfdt: Some(Tfdt {
                base_media_decode_time: run.base_decode_time,
            }),
            trun: vec![Trun {
                data_offset: Some(0),
                samples: TrunSamples::Explicit(entries),
            }],
            ..Traf::default()
        })
    };
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: runs.iter().map(|r| traf(r)).collect::<Result<_, _>>()?,
    };
    // Each data offset counts from the start of the `moof` to the run's first sample, past the
    // `mdat` header; encoding once tells the `moof`'s size (the offsets' values do not change it).
    let mut head = Vec::new();
    encode(&moof, &mut head)?;
    let mut offset = head.len() + 8;
    for (traf, run) in moof.traf.iter_mut().zip(&runs) {
        traf.trun[0].data_offset =
            Some(i32::try_from(offset).map_err(|_| Fmp4Error::Fragment("moof too large".into()))?);
        offset += run.samples.iter().map(|s| s.data.len()).sum::<usize>();
    }
    let payload = offset - head.len() - 8;
    let mdat_len = size(payload + 8)?;
    out.reserve(offset);
    encode(&moof, out)?;
    // The `mdat` header by hand, so the samples go straight behind it.
    out.extend_from_slice(&mdat_len.to_be_bytes());
    out.extend_from_slice(b"mdat");
    for s in runs.iter().flat_map(|r| r.samples) {
        out.extend_from_slice(s.data);
    }
    Ok(())
}

/// An `AVCDecoderConfigurationRecord` from H.264 parameter sets (NAL units without start codes).
pub fn avc_record(sps: &[u8], pps: &[u8]) -> Result<Vec<u8>, Fmp4Error> {
    let avcc = Avcc::new(sps, pps).map_err(|e| Fmp4Error::Config {
        codec: "h264",
        detail: e.to_string(),
    })?;
    let mut out = Vec::new();
    avcc.encode_body(&mut out)
        .map_err(|e| Fmp4Error::Encode(e.to_string()))?;
    Ok(out)
}

/// What the media modules' unit tests share: a valid H.264 track.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Sequence parameter set of a 320x240 constrained-baseline stream.
    pub(crate) const SPS: [u8; 11] = [
        0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00,
    ];
    /// Its picture parameter set.
    pub(crate) const PPS: [u8; 4] = [0x68, 0xcb, 0x83, 0xcb];
    /// A non-keyframe sample: one length-prefixed slice.
    pub(crate) const SAMPLE: [u8; 6] = [0, 0, 0, 2, 0x41, 1];

    /// An H.264 track of `width` x 240.
    pub(crate) fn h264_track(width: u16) -> VideoTrack {
        VideoTrack {
            codec: VideoCodec::H264(avc_record(&SPS, &PPS).expect("record")),
            width,
            height: 240,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{SPS, h264_track};
    use super::*;
    use mp4_atom::{Decode, Mdat};

    fn track() -> VideoTrack {
        h264_track(320)
    }

    #[test]
    fn the_init_section_announces_one_fragmented_video_track() {
        let init = init_segment(&track(), None).expect("init");
        let buf = &mut init.as_slice();
        let ftyp = Ftyp::decode(buf).expect("ftyp");
        assert_eq!(ftyp.major_brand, FourCC::new(b"iso6"));
        let moov = Moov::decode(buf).expect("moov");
        assert_eq!(moov.trak.len(), 1);
        assert_eq!(moov.trak[0].mdia.mdhd.timescale, VIDEO_TIMESCALE);
        assert!(moov.mvex.is_some(), "fragments follow");
        match &moov.trak[0].mdia.minf.stbl.stsd.codecs[0] {
            Codec::Avc1(avc1) => {
                assert_eq!((avc1.visual.width, avc1.visual.height), (320, 240));
                assert_eq!(avc1.avcc.sequence_parameter_sets, vec![SPS.to_vec()]);
            }
            other => panic!("not avc1: {other:?}"),
        }
    }

    #[test]
    fn a_fragment_points_its_samples_at_the_mdat() {
        let key = [0, 0, 0, 3, 0x65, 1, 2];
        let delta = [0, 0, 0, 2, 0x41, 3];
        let samples = [
            Sample {
                data: &key,
                duration: 3600,
                keyframe: true,
            },
            Sample {
                data: &delta,
                duration: 3600,
                keyframe: false,
            },
        ];
        let bytes = fragment(7, 90_000, &samples).expect("fragment");
        let buf = &mut bytes.as_slice();
        let moof = Moof::decode(buf).expect("moof");
        let mdat = Mdat::decode(buf).expect("mdat");
        assert_eq!(moof.mfhd.sequence_number, 7);
        let traf = &moof.traf[0];
        assert_eq!(
            traf.tfdt.as_ref().map(|t| t.base_media_decode_time),
            Some(90_000)
        );
        let trun = &traf.trun[0];
        let offset = usize::try_from(trun.data_offset.expect("offset")).expect("positive");
        assert_eq!(
            &bytes[offset..offset + key.len()],
            key,
            "the offset reaches the first sample"
        );
        assert_eq!(mdat.data, [key.as_slice(), delta.as_slice()].concat());
        let flags: Vec<u32> = trun.samples.iter().filter_map(|e| e.flags).collect();
        assert_eq!(flags, [SYNC_SAMPLE, NON_SYNC_SAMPLE]);
    }

    #[test]
    fn an_empty_fragment_and_a_bad_record_are_refused() {
        assert!(matches!(fragment(1, 0, &[]), Err(Fmp4Error::Fragment(_))));
        let bad = VideoTrack {
            codec: VideoCodec::H265(vec![1, 2]),
            width: 1,
            height: 1,
        };
        assert!(matches!(
            init_segment(&bad, None),
            Err(Fmp4Error::Config { codec: "h265", .. })
        ));
    }

    #[test]
    fn codec_strings_follow_rfc_6381() {
        assert_eq!(h264_track(320).rfc6381(), "avc1.42c01e");
        let main = Hvcc {
            general_profile_idc: 1,
            general_profile_compatibility_flags: [0x60, 0, 0, 0],
            general_level_idc: 93,
            general_constraint_indicator_flags: [0xb0, 0, 0, 0, 0, 0],
            ..Hvcc::new()
        };
        assert_eq!(hevc_codec_string(&main), "hvc1.1.6.L93.B0");
    }
}
