//! What a fragmented MP4 segment file holds, read back from its boxes: after a kill the file may
//! end inside the fragment that was being written; everything up to the last whole fragment was
//! made durable by the writer and is kept. The fragment index comes from each `moof` (`tfdt` and
//! `trun`), so a file nobody indexed gets the same index its writer would have given it.

use crate::media::fmp4::ticks_to_ms;
use crate::media::fmp4::{VIDEO_TRACK, VideoCodec, VideoTrack};
use mp4_atom::{Atom as _, Codec, Decode, FourCC, Moof, Moov};
use vms_messages::SegmentFragment;

/// `sample_flags` bit of a sample that is not a sync sample.
const NON_SYNC_FLAG: u32 = 0x0001_0000;

/// The whole part of a fragmented MP4 file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFragments {
    /// Bytes up to the end of the last whole fragment (what a truncation keeps).
    pub len: u64,
    /// Length of the init section (`ftyp` and `moov`).
    pub init_len: u64,
    /// Its whole fragments, in order.
    pub fragments: Vec<SegmentFragment>,
    /// From the first sample's decode time to the end of the last one, in 90 kHz ticks.
    pub duration: u64,
    /// Its video track, as its init section describes it (`None` for a codec we do not write).
    pub track: Option<VideoTrack>,
    /// Its audio codec (RFC 6381, or `ulaw`/`alaw`), when it has an audio track.
    pub audio: Option<String>,
}

/// The audio codec of an init section's sound track, named as the index names it.
fn audio_of(moov: &Moov) -> Option<String> {
    let trak = moov
        .trak
        .iter()
        .find(|t| t.mdia.hdlr.handler == FourCC::new(b"soun"))?;
    Some(match trak.mdia.minf.stbl.stsd.codecs.first()? {
        Codec::Mp4a(mp4a) => {
            let object_type = mp4a
                .esds
                .es_desc
                .dec_config
                .dec_specific
                .as_ref()
                .map_or(2, |d| d.profile);
            format!("mp4a.40.{object_type}")
        }
        Codec::Opus(_) => "opus".into(),
        Codec::Unknown(kind, _) => kind.to_string(),
        _ => return None,
    })
}

/// The video track an init section's `moov` describes.
fn track_of(moov: &Moov) -> Option<VideoTrack> {
    let codec = moov.trak.first()?.mdia.minf.stbl.stsd.codecs.first()?;
    let mut record = Vec::new();
    let (codec, visual) = match codec {
        Codec::Avc1(avc1) => {
            avc1.avcc.encode_body(&mut record).ok()?;
            (VideoCodec::H264(record), &avc1.visual)
        }
        Codec::Hvc1(hvc1) => {
            hvc1.hvcc.encode_body(&mut record).ok()?;
            (VideoCodec::H265(record), &hvc1.visual)
        }
        _ => return None,
    };
    Some(VideoTrack {
        codec,
        width: visual.width,
        height: visual.height,
    })
}

/// The top-level boxes of `bytes` that are whole: (type, offset, length).
pub(crate) fn boxes(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(head) = bytes.get(at..at + 8) {
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let len = match size {
            0 => bytes.len() - at,
            1 => match bytes.get(at + 8..at + 16) {
                Some(large) => {
                    let mut wide = [0u8; 8];
                    wide.copy_from_slice(large);
                    usize::try_from(u64::from_be_bytes(wide)).unwrap_or(usize::MAX)
                }
                None => break,
            },
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        if len < 8 || at.checked_add(len).is_none_or(|end| end > bytes.len()) {
            break;
        }
        out.push((kind, at, len));
        at += len;
    }
    out
}

/// Reads a fragmented MP4 segment: its init section and every whole `moof` + `mdat` pair after it.
/// `None` when it does not start with an init section (not ours, or cut before its first fragment
/// was durable, so it holds nothing playable).
pub fn scan(bytes: &[u8]) -> Option<ScannedFragments> {
    let boxes = boxes(bytes);
    let moov = boxes.iter().position(|(kind, _, _)| kind == b"moov")?;
    let (moov_at, moov_len) = boxes.get(moov).map(|&(_, at, len)| (at, len))?;
    let init_len = moov_at + moov_len;
    let moov_box = Moov::decode(&mut &bytes[moov_at..init_len]).ok();
    let track = moov_box.as_ref().and_then(track_of);
    let audio = moov_box.as_ref().and_then(audio_of);
    let mut fragments = Vec::new();
    let mut first_decode = None;
    let mut end_decode = 0u64;
    let mut len = init_len;
    for pair in boxes[moov + 1..].chunks(2) {
        let [(moof_kind, at, moof_len), (mdat_kind, _, mdat_len)] = pair else {
            break;
        };
        if moof_kind != b"moof" || mdat_kind != b"mdat" {
            break;
        }
        let Ok(moof) = Moof::decode(&mut &bytes[*at..at + moof_len]) else {
            break;
        };
        let video = moof.traf.iter().find(|t| t.tfhd.track_id == VIDEO_TRACK);
        let Some(traf) = video.or(moof.traf.first()) else {
            break;
        };
        let base = traf
            .tfdt
            .as_ref()
            .map_or(end_decode, |t| t.base_media_decode_time);
        let samples: Vec<_> = traf.trun.iter().flat_map(|t| t.samples.iter()).collect();
        let ticks: u64 = samples
            .iter()
            .map(|s| u64::from(s.duration.unwrap_or(0)))
            .sum();
        let keyframe = samples
            .first()
            .and_then(|s| s.flags)
            .is_some_and(|f| f & NON_SYNC_FLAG == 0);
        // Times relative to the first fragment, in milliseconds as the writer gives them.
        let since_first = base.saturating_sub(*first_decode.get_or_insert(base));
        fragments.push(SegmentFragment {
            offset: u64::try_from(*at).unwrap_or(u64::MAX),
            len: u64::try_from(moof_len + mdat_len).unwrap_or(u64::MAX),
            start_ms: ticks_to_ms(since_first),
            duration_ms: ticks_to_ms(since_first + ticks) - ticks_to_ms(since_first),
            keyframe,
            copies: 1,
        });
        end_decode = base + ticks;
        len = at + moof_len + mdat_len;
    }
    Some(ScannedFragments {
        len: u64::try_from(len).unwrap_or(u64::MAX),
        init_len: u64::try_from(init_len).unwrap_or(u64::MAX),
        duration: first_decode.map_or(0, |f| end_decode.saturating_sub(f)),
        fragments,
        track,
        audio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::{SAMPLE as DATA, h264_track};
    use crate::media::fmp4::{Sample, fragment, init_segment};

    /// One second of video: 25 frames at 25 fps, the first a keyframe.
    fn one_second() -> Vec<Sample<'static>> {
        (0..25)
            .map(|k| Sample {
                data: &DATA,
                duration: 3600,
                keyframe: k == 0,
            })
            .collect()
    }

    /// An init section and `n` fragments of one second each.
    fn file(n: u32) -> Vec<u8> {
        let mut out = init_segment(&h264_track(320), None).expect("init");
        for i in 0..n {
            out.extend(fragment(i + 1, u64::from(i) * 90_000, &one_second()).expect("fragment"));
        }
        out
    }

    #[test]
    fn a_whole_file_is_indexed_fragment_by_fragment() {
        let bytes = file(3);
        let scanned = scan(&bytes).expect("ours");
        assert_eq!(scanned.len, u64::try_from(bytes.len()).expect("len"));
        assert_eq!(scanned.duration, 3 * 90_000);
        let starts: Vec<(u32, u32, bool)> = scanned
            .fragments
            .iter()
            .map(|f| (f.start_ms, f.duration_ms, f.keyframe))
            .collect();
        assert_eq!(
            starts,
            [(0, 1000, true), (1000, 1000, true), (2000, 1000, true)]
        );
        assert_eq!(scanned.fragments[0].offset, scanned.init_len);
        assert_eq!(
            scanned.track,
            Some(h264_track(320)),
            "the init section's track"
        );
    }

    #[test]
    fn a_file_cut_mid_fragment_keeps_its_whole_fragments() {
        let bytes = file(3);
        let whole = scan(&bytes).expect("ours");
        let second_end = whole.fragments[1].offset + whole.fragments[1].len;
        for cut in [
            second_end + 3,
            second_end + 20,
            u64::try_from(bytes.len() - 1).expect("len"),
        ] {
            let scanned = scan(&bytes[..usize::try_from(cut).expect("cut")]).expect("ours");
            assert_eq!(scanned.len, second_end, "cut at {cut}");
            assert_eq!(scanned.fragments, whole.fragments[..2], "cut at {cut}");
            assert_eq!(scanned.duration, 2 * 90_000);
        }
    }

    #[test]
    fn a_file_without_a_whole_init_section_holds_nothing() {
        let bytes = file(1);
        let init_len = scan(&bytes).expect("ours").init_len;
        assert_eq!(
            scan(&bytes[..usize::try_from(init_len - 1).expect("len")]),
            None
        );
        assert_eq!(scan(b"not an mp4 file at all"), None);
        let empty = scan(&bytes[..usize::try_from(init_len).expect("len")]).expect("init only");
        assert!(empty.fragments.is_empty());
    }

    #[test]
    fn a_file_with_audio_is_indexed_by_its_video_and_names_its_audio() {
        use crate::media::fmp4::{TrackRun, VIDEO_TRACK, append_fragment};
        use crate::media::fmp4_audio::{AUDIO_TRACK, AudioCodec, AudioTrack};
        for (codec, name) in [
            (AudioCodec::Aac(vec![0x14, 0x08]), "mp4a.40.2"),
            (AudioCodec::Pcmu, "ulaw"),
            (AudioCodec::Opus, "opus"),
        ] {
            let audio = AudioTrack {
                codec,
                sample_rate: 16_000,
                channels: 1,
            };
            let mut out = init_segment(&h264_track(320), Some(&audio)).expect("init");
            let video = one_second();
            let tone = [0u8; 64];
            let sound: Vec<Sample<'_>> = (0..16)
                .map(|_| Sample {
                    data: &tone,
                    duration: 1000,
                    keyframe: true,
                })
                .collect();
            let runs = [
                TrackRun {
                    track_id: VIDEO_TRACK,
                    base_decode_time: 0,
                    samples: &video,
                },
                TrackRun {
                    track_id: AUDIO_TRACK,
                    base_decode_time: 0,
                    samples: &sound,
                },
            ];
            append_fragment(&mut out, 1, &runs).expect("fragment");
            let scanned = scan(&out).expect("ours");
            assert_eq!(scanned.audio.as_deref(), Some(name));
            assert_eq!(scanned.duration, 90_000, "the video's duration");
            assert_eq!(scanned.len, u64::try_from(out.len()).expect("len"));
        }
    }
}
