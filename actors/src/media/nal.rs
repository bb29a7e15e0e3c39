//! NAL unit framing: Annex B (start codes, as decoders and MPEG-TS take it) and length-prefixed
//! (4-byte lengths, as RTP depacketisers, MP4 samples and `avcC`/`hvcC` records use), and the
//! parameter sets of a track's decoder configuration in Annex B form.

use crate::media::fmp4::{Fmp4Error, VideoCodec};
use mp4_atom::{Atom as _, Avcc, Hvcc};

/// Annex B start code.
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The NAL units of an Annex B buffer (start codes removed).
pub fn annex_b_units(annex_b: &[u8]) -> Vec<&[u8]> {
    let starts: Vec<usize> = (0..annex_b.len().saturating_sub(2))
        .filter(|&i| annex_b[i] == 0 && annex_b[i + 1] == 0 && annex_b[i + 2] == 1)
        .collect();
    starts
        .iter()
        .enumerate()
        .filter_map(|(k, &start)| {
            let body = start + 3;
            let mut end = starts.get(k + 1).copied().unwrap_or(annex_b.len());
            // Trailing zeros belong to the next start code (or are padding).
            while end > body && annex_b[end - 1] == 0 {
                end -= 1;
            }
            (body < end).then(|| &annex_b[body..end])
        })
        .collect()
}

/// Appends NAL units to `out` behind 4-byte big-endian lengths.
pub fn append_length_prefixed<'a>(out: &mut Vec<u8>, units: impl IntoIterator<Item = &'a [u8]>) {
    for unit in units {
        let len = u32::try_from(unit.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(unit);
    }
}

/// The NAL units of a length-prefixed buffer; a length that runs past the end (a damaged frame)
/// ends them.
pub fn length_prefixed_units(length_prefixed: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = length_prefixed;
    std::iter::from_fn(move || {
        let (len, body) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let unit = body.get(..len)?;
        rest = &body[len..];
        Some(unit)
    })
}

/// Appends the NAL units of a length-prefixed buffer to `out` behind start codes.
pub fn append_annex_b(out: &mut Vec<u8>, length_prefixed: &[u8]) {
    for unit in length_prefixed_units(length_prefixed) {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
    }
}

/// Whether a length-prefixed H.265 access unit holds an IRAP picture (BLA, IDR or CRA: NAL unit
/// types 16 to 23), where decoding may start. retina flags only IDR pictures, but open-GOP cameras
/// send CRA keyframes; a decoder starting at one drops its leading (RASL) pictures, as players do.
pub fn hevc_irap(length_prefixed: &[u8]) -> bool {
    length_prefixed_units(length_prefixed).any(|unit| {
        unit.first()
            .is_some_and(|b| (16..=23).contains(&((b >> 1) & 0x3f)))
    })
}

/// The parameter sets of a decoder configuration (SPS and PPS; VPS, SPS and PPS for H.265) in
/// Annex B form: what a decoder needs in front of a keyframe.
pub fn parameter_sets(codec: &VideoCodec) -> Result<Vec<u8>, Fmp4Error> {
    let config = |codec, e: mp4_atom::Error| Fmp4Error::Config {
        codec,
        detail: e.to_string(),
    };
    let units: Vec<Vec<u8>> = match codec {
        VideoCodec::H264(record) => {
            let avcc = Avcc::decode_body(&mut record.as_slice()).map_err(|e| config("h264", e))?;
            avcc.sequence_parameter_sets
                .into_iter()
                .chain(avcc.picture_parameter_sets)
                .collect()
        }
        VideoCodec::H265(record) => {
            let hvcc = Hvcc::decode_body(&mut record.as_slice()).map_err(|e| config("h265", e))?;
            hvcc.arrays.into_iter().flat_map(|a| a.nalus).collect()
        }
    };
    let mut out = Vec::new();
    for unit in &units {
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(unit);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::{PPS, SPS, h264_track};

    #[test]
    fn annex_b_units_lose_their_start_codes_and_come_back() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3, 0,
        ];
        let units = annex_b_units(&buf);
        assert_eq!(units, [&[0x67, 1][..], &[0x68, 2], &[0x65, 3]]);
        let mut prefixed = Vec::new();
        append_length_prefixed(&mut prefixed, units);
        assert_eq!(prefixed[..6], [0, 0, 0, 2, 0x67, 1]);
        let mut back = Vec::new();
        append_annex_b(&mut back, &prefixed);
        assert_eq!(
            back,
            [
                0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3
            ]
        );
    }

    #[test]
    fn a_length_past_the_end_stops_the_conversion() {
        let mut out = Vec::new();
        append_annex_b(&mut out, &[0, 0, 0, 1, 0x41, 0, 0, 0, 9, 0x41]);
        assert_eq!(out, [0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn cra_and_idr_pictures_are_h265_random_access_points() {
        // Type 21 (CRA) after a prefix SEI (39); type 1 (TRAIL_R) alone; type 19 (IDR_W_RADL).
        let cra = [0, 0, 0, 2, 39 << 1, 1, 0, 0, 0, 2, 21 << 1, 1];
        assert!(hevc_irap(&cra));
        assert!(!hevc_irap(&[0, 0, 0, 2, 1 << 1, 1]));
        assert!(hevc_irap(&[0, 0, 0, 2, 19 << 1, 1]));
        assert!(!hevc_irap(&[0, 0, 0, 9, 21 << 1]), "a damaged length");
    }

    #[test]
    fn the_parameter_sets_of_an_avc_record_are_sps_then_pps() {
        let sets = parameter_sets(&h264_track(320).codec).expect("sets");
        let mut expected = START_CODE.to_vec();
        expected.extend_from_slice(&SPS);
        expected.extend_from_slice(&START_CODE);
        expected.extend_from_slice(&PPS);
        assert_eq!(sets, expected);
    }
}
