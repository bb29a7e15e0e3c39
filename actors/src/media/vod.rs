//! Recorded segments as HLS media segments. Each segment file counts decode time from zero; a
//! playlist of consecutive segments needs one timeline, so every fragment's `tfdt` is moved by
//! the segment's wall-clock start (microseconds since the Unix epoch, in each track's timescale).
//! The bytes change in place and the length does not (our writer's `tfdt` boxes are 64-bit), so
//! byte ranges into the file stay valid.

use crate::media::fmp4_scan::boxes;
use mp4_atom::{Decode, Moov};
use std::collections::HashMap;

/// Why a segment could not be rebased.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VodError {
    /// No init section (`moov`) that parses.
    #[error("the segment has no readable init section")]
    NoInit,
}

/// Moves every fragment's decode time in `bytes` (a whole fMP4 segment) by `start_micros`.
/// Fragments of a track the init section does not name, and 32-bit `tfdt` boxes whose new time
/// would not fit, are left as they are.
pub fn rebase(bytes: &mut [u8], start_micros: i64) -> Result<(), VodError> {
    let top = boxes(bytes);
    let &(_, moov_at, moov_len) = top
        .iter()
        .find(|(kind, _, _)| kind == b"moov")
        .ok_or(VodError::NoInit)?;
    let moov =
        Moov::decode(&mut &bytes[moov_at..moov_at + moov_len]).map_err(|_| VodError::NoInit)?;
    let start = u128::try_from(start_micros.max(0)).unwrap_or(0);
    let shift: HashMap<u32, u64> = moov
        .trak
        .iter()
        .map(|t| {
            let ticks = start * u128::from(t.mdia.mdhd.timescale) / 1_000_000;
            (t.tkhd.track_id, u64::try_from(ticks).unwrap_or(u64::MAX))
        })
        .collect();
    for (kind, at, len) in top {
        if &kind != b"moof" {
            continue;
        }
        for (kind, traf_at, traf_len) in children(bytes, at, len) {
            if &kind == b"traf" {
                rebase_traf(bytes, traf_at, traf_len, &shift);
            }
        }
    }
    Ok(())
}

/// The child boxes of the box at `at` (`len` bytes, 8-byte header), with absolute offsets.
fn children(bytes: &[u8], at: usize, len: usize) -> Vec<([u8; 4], usize, usize)> {
    bytes
        .get(at + 8..at + len)
        .map(|body| {
            boxes(body)
                .into_iter()
                .map(|(kind, off, l)| (kind, at + 8 + off, l))
                .collect()
        })
        .unwrap_or_default()
}

fn rebase_traf(bytes: &mut [u8], at: usize, len: usize, shift: &HashMap<u32, u64>) {
    let kids = children(bytes, at, len);
    let track = kids
        .iter()
        .find(|(kind, _, _)| kind == b"tfhd")
        .and_then(|&(_, a, _)| bytes.get(a + 12..a + 16))
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let Some(by) = track.and_then(|t| shift.get(&t)).copied() else {
        return;
    };
    let Some(&(_, tfdt, tfdt_len)) = kids.iter().find(|(kind, _, _)| kind == b"tfdt") else {
        return;
    };
    match (bytes.get(tfdt + 8).copied(), tfdt_len) {
        (Some(1), 20) => {
            let field = &mut bytes[tfdt + 12..tfdt + 20];
            let mut old = [0u8; 8];
            old.copy_from_slice(field);
            let new = u64::from_be_bytes(old).saturating_add(by);
            field.copy_from_slice(&new.to_be_bytes());
        }
        (Some(0), 16) => {
            let field = &mut bytes[tfdt + 12..tfdt + 16];
            let old = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
            if let Ok(new) = u32::try_from(u64::from(old).saturating_add(by)) {
                field.copy_from_slice(&new.to_be_bytes());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::{SAMPLE, h264_track};
    use crate::media::fmp4::{Sample, fragment, init_segment};
    use mp4_atom::Moof;

    #[test]
    fn decode_times_move_to_the_wall_clock_and_the_length_stays() {
        let samples = [Sample {
            data: &SAMPLE,
            duration: 3600,
            keyframe: true,
        }];
        let mut bytes = init_segment(&h264_track(320), None).expect("init");
        let init_len = bytes.len();
        bytes.extend(fragment(1, 0, &samples).expect("fragment"));
        let second = bytes.len();
        bytes.extend(fragment(2, 3600, &samples).expect("fragment"));
        let len = bytes.len();
        // 1 800 000 000.5 s after the epoch.
        rebase(&mut bytes, 1_800_000_000_500_000).expect("rebased");
        assert_eq!(bytes.len(), len);
        let tfdt = |at: usize| {
            let moof = Moof::decode(&mut &bytes[at..]).expect("moof");
            moof.traf[0]
                .tfdt
                .as_ref()
                .expect("tfdt")
                .base_media_decode_time
        };
        let base = 1_800_000_000_500_000u64 / 1_000_000 * 90_000 + 45_000;
        assert_eq!(tfdt(init_len), base);
        assert_eq!(tfdt(second), base + 3600);
        assert_eq!(rebase(&mut [0u8; 16], 0), Err(VodError::NoInit));
    }
}
