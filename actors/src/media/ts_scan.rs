//! Reading back MPEG-TS segments, the container recorded before fragmented MP4 (ingest v1): the
//! timestamps of its video, so a `.ts` file a crash left unindexed gets its time range.

/// Size of a transport stream packet.
const TS_PACKET: usize = 188;
/// PID of the video elementary stream in the files ingest v1 wrote.
const PID_VIDEO: u16 = 0x0100;

/// First and last PTS (90 kHz) of the video PES packets in a transport stream, for recovering the
/// duration of a segment file that was never indexed (a crash before its row was written).
pub fn pts_range(data: &[u8]) -> Option<(u64, u64)> {
    video_pes(data).fold(None, |range, (pts, _)| {
        Some(range.map_or((pts, pts), |(lo, hi): (u64, u64)| {
            (lo.min(pts), hi.max(pts))
        }))
    })
}

/// The PTS of the second keyframe (the end of the first GOP) of a file ingest v1 wrote, if it has
/// two.
pub fn second_keyframe_pts(data: &[u8]) -> Option<u64> {
    video_pes(data)
        .filter(|(_, keyframe)| *keyframe)
        .nth(1)
        .map(|(pts, _)| pts)
}

/// Each video PES start in `data`: its PTS, and whether it is a keyframe (random access point).
fn video_pes(data: &[u8]) -> impl Iterator<Item = (u64, bool)> + '_ {
    data.chunks_exact(TS_PACKET).filter_map(|p| {
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        if p[0] != 0x47 || pid != PID_VIDEO || p[1] & 0x40 == 0 {
            return None;
        }
        let adaptation = p[3] & 0x20 != 0;
        let keyframe = adaptation && p[4] > 0 && p[5] & 0x40 != 0;
        let start = if adaptation { 5 + usize::from(p[4]) } else { 4 };
        let pes = p.get(start..)?;
        if pes.len() < 14 || pes[..3] != [0, 0, 1] || pes[7] & 0x80 == 0 {
            return None;
        }
        let b = &pes[9..14];
        let pts = (u64::from(b[0] & 0x0e) << 29)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] & 0xfe) << 14)
            | (u64::from(b[3]) << 7)
            | (u64::from(b[4]) >> 1);
        Some((pts, keyframe))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One video packet starting a PES with `pts`, flagged as a random access point for keyframes.
    fn pes_packet(pts: u64, keyframe: bool) -> Vec<u8> {
        let mut p = vec![0x47, 0x40 | 0x01, 0x00, 0x30, 1];
        p.push(if keyframe { 0x40 } else { 0 });
        p.extend_from_slice(&[0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5]);
        p.extend_from_slice(&[
            0x21 | ((pts >> 29) & 0x0e) as u8,
            (pts >> 22) as u8,
            ((pts >> 14) & 0xfe) as u8 | 1,
            (pts >> 7) as u8,
            ((pts << 1) & 0xfe) as u8 | 1,
        ]);
        p.resize(TS_PACKET, 0xff);
        p
    }

    #[test]
    fn the_pts_range_and_the_second_keyframe_are_read_back() {
        let mut ts = Vec::new();
        for i in 0..50u64 {
            ts.extend(pes_packet(126_000 + i * 3600, i % 25 == 0));
        }
        assert_eq!(pts_range(&ts), Some((126_000, 126_000 + 49 * 3600)));
        assert_eq!(second_keyframe_pts(&ts), Some(126_000 + 25 * 3600));
        assert_eq!(pts_range(&[0u8; 376]), None);
    }
}
