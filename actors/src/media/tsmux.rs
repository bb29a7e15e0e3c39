//! A minimal MPEG-TS writer for one H.264 stream (ISO/IEC 13818-1): PAT, PMT, and PES packets carrying
//! whole access units, with a PCR on every access unit. Pure and allocation-free per packet: it appends
//! to a caller's buffer, so a segment writer can collect a whole GOP and write it with one call.

/// Size of a transport stream packet.
pub const TS_PACKET: usize = 188;
const PID_PAT: u16 = 0x0000;
const PID_PMT: u16 = 0x1000;
/// PID of the video stream.
pub const PID_VIDEO: u16 = 0x0100;
const STREAM_TYPE_H264: u8 = 0x1b;
const PROGRAM: u16 = 1;

/// MPEG-2 CRC-32 (polynomial 0x04C11DB7, not reflected, initial value all ones) of PSI sections.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Continuity counters of the three PIDs; one per output stream.
#[derive(Debug, Default)]
pub struct TsMuxer {
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
}

fn next_cc(cc: &mut u8) -> u8 {
    let v = *cc;
    *cc = (*cc + 1) & 0x0f;
    v
}

fn psi_packet(out: &mut Vec<u8>, pid: u16, cc: u8, section: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10 | cc, 0x00]);
    out.extend_from_slice(section);
    let crc = crc32_mpeg2(section);
    out.extend_from_slice(&crc.to_be_bytes());
    out.resize(start + TS_PACKET, 0xff);
}

/// 33-bit PTS with the given 4-bit prefix, as 5 bytes with marker bits.
fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & 0x1_ffff_ffff;
    [
        (prefix << 4) | (((ts >> 29) as u8) & 0x0e) | 1,
        (ts >> 22) as u8,
        (((ts >> 14) as u8) & 0xfe) | 1,
        (ts >> 7) as u8,
        ((ts << 1) as u8 & 0xfe) | 1,
    ]
}

impl TsMuxer {
    /// A muxer with fresh continuity counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a PAT and a PMT (two packets). Written at the start of every segment and every GOP.
    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        let [p_hi, p_lo] = PROGRAM.to_be_bytes();
        let pat = [
            0x00,
            0xb0,
            13,
            0x00,
            0x01,
            0xc1,
            0x00,
            0x00,
            p_hi,
            p_lo,
            0xe0 | (PID_PMT >> 8) as u8,
            PID_PMT as u8,
        ];
        let cc = next_cc(&mut self.cc_pat);
        psi_packet(out, PID_PAT, cc, &pat);
        let pmt = [
            0x02,
            0xb0,
            18,
            p_hi,
            p_lo,
            0xc1,
            0x00,
            0x00,
            0xe0 | (PID_VIDEO >> 8) as u8,
            PID_VIDEO as u8,
            0xf0,
            0x00,
            STREAM_TYPE_H264,
            0xe0 | (PID_VIDEO >> 8) as u8,
            PID_VIDEO as u8,
            0xf0,
            0x00,
        ];
        let cc = next_cc(&mut self.cc_pmt);
        psi_packet(out, PID_PMT, cc, &pmt);
    }

    /// Appends one access unit as a PES packet: `parts` are concatenated as its payload (e.g. an access
    /// unit delimiter, parameter sets, then the frame). `pts` and `pcr` are in 90 kHz units.
    pub fn write_access_unit(
        &mut self,
        out: &mut Vec<u8>,
        pts: u64,
        pcr: u64,
        random_access: bool,
        parts: &[&[u8]],
    ) {
        let ts = encode_timestamp(0b0010, pts);
        let pes_header = [
            0x00, 0x00, 0x01, 0xe0, 0x00, 0x00, 0x80, 0x80, 0x05, ts[0], ts[1], ts[2], ts[3], ts[4],
        ];
        let mut chunks: [&[u8]; 8] = [&[]; 8];
        chunks[0] = &pes_header;
        let n = parts.len().min(7);
        chunks[1..=n].copy_from_slice(&parts[..n]);
        let mut remaining: usize = chunks.iter().map(|c| c.len()).sum();
        let (mut chunk, mut offset) = (0usize, 0usize);
        let mut first = true;
        while remaining > 0 {
            let pcr_base = pcr & 0x1_ffff_ffff;
            // Adaptation field content (after its length byte) of the first packet: flags + PCR.
            let head: &[u8] = if first {
                &[
                    0x10 | if random_access { 0x40 } else { 0 },
                    (pcr_base >> 25) as u8,
                    (pcr_base >> 17) as u8,
                    (pcr_base >> 9) as u8,
                    (pcr_base >> 1) as u8,
                    ((pcr_base as u8 & 1) << 7) | 0x7e,
                    0x00,
                ]
            } else {
                &[]
            };
            let af_min = if head.is_empty() { 0 } else { 1 + head.len() };
            let payload = remaining.min(TS_PACKET - 4 - af_min);
            let af_len = TS_PACKET - 4 - payload; // bytes of adaptation field, length byte included
            let cc = next_cc(&mut self.cc_video);
            let afc = if af_len > 0 { 0x30 } else { 0x10 };
            let pusi = if first { 0x40 } else { 0x00 };
            out.extend_from_slice(&[
                0x47,
                pusi | (PID_VIDEO >> 8) as u8,
                PID_VIDEO as u8,
                afc | cc,
            ]);
            if af_len > 0 {
                out.push((af_len - 1) as u8);
                if af_len > 1 {
                    if head.is_empty() {
                        out.push(0x00);
                    } else {
                        out.extend_from_slice(head);
                    }
                    let used = if head.is_empty() { 2 } else { 1 + head.len() };
                    out.resize(out.len() + (af_len - used), 0xff);
                }
            }
            let mut left = payload;
            while left > 0 {
                let c = chunks[chunk];
                let take = (c.len() - offset).min(left);
                out.extend_from_slice(&c[offset..offset + take]);
                left -= take;
                offset += take;
                if offset == c.len() {
                    chunk += 1;
                    offset = 0;
                }
            }
            remaining -= payload;
            first = false;
        }
    }
}

/// First and last PTS (90 kHz) of the video PES packets in a transport stream, for recovering the
/// duration of a segment file that was never indexed (a crash before its row was written).
pub fn pts_range(data: &[u8]) -> Option<(u64, u64)> {
    video_pes(data).fold(None, |range, (pts, _)| {
        Some(range.map_or((pts, pts), |(lo, hi): (u64, u64)| {
            (lo.min(pts), hi.max(pts))
        }))
    })
}

/// The PTS of the second keyframe (the end of the first GOP) of a file this muxer wrote, if it has
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

    #[test]
    fn crc_of_known_pat() {
        // PAT of a single program 1 -> PMT PID 0x1000, as written by common muxers.
        let pat = [
            0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00,
        ];
        assert_eq!(crc32_mpeg2(&pat), 0x2ab1_04b2);
    }

    #[test]
    fn packets_are_whole_and_counted() {
        let mut mux = TsMuxer::new();
        let mut out = Vec::new();
        mux.write_tables(&mut out);
        for size in [1usize, 5, 160, 170, 171, 176, 183, 184, 185, 1000, 20_000] {
            let frame = vec![0xabu8; size];
            let before = out.len();
            mux.write_access_unit(
                &mut out,
                90_000,
                80_000,
                size == 1000,
                &[&[0, 0, 0, 1, 9, 0xf0], &frame],
            );
            assert_eq!((out.len() - before) % TS_PACKET, 0, "size {size}");
            // The payload bytes survive: count the 0xab bytes in the packets' payloads.
            let mut payload = 0;
            for p in out[before..].chunks(TS_PACKET) {
                assert_eq!(p[0], 0x47);
                let af = if p[3] & 0x20 != 0 {
                    1 + usize::from(p[4])
                } else {
                    0
                };
                payload += p[4 + af..].iter().filter(|&&b| b == 0xab).count();
            }
            assert_eq!(payload, size, "size {size}");
        }
        assert_eq!(out.len() % TS_PACKET, 0);
        // Continuity counters of the video PID increase by one per packet.
        let video: Vec<u8> = out
            .chunks(TS_PACKET)
            .filter(|p| (u16::from(p[1] & 0x1f) << 8 | u16::from(p[2])) == PID_VIDEO)
            .map(|p| p[3] & 0x0f)
            .collect();
        for w in video.windows(2) {
            assert_eq!(w[1], (w[0] + 1) & 0x0f);
        }
    }

    #[test]
    fn pts_range_reads_back_what_was_written() {
        let mut mux = TsMuxer::new();
        let mut out = Vec::new();
        mux.write_tables(&mut out);
        for i in 0..50u64 {
            mux.write_access_unit(
                &mut out,
                126_000 + i * 3600,
                63_000 + i * 3600,
                i == 0,
                &[&[0u8; 500]],
            );
        }
        assert_eq!(pts_range(&out), Some((126_000, 126_000 + 49 * 3600)));
        assert_eq!(pts_range(&[0u8; 376]), None);
    }

    #[test]
    fn timestamps_round_trip() {
        let ts = 0x1_2345_6789u64;
        let b = encode_timestamp(2, ts);
        let back = (u64::from(b[0] & 0x0e) << 29)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] & 0xfe) << 14)
            | (u64::from(b[3]) << 7)
            | (u64::from(b[4]) >> 1);
        assert_eq!(back, ts);
    }
}
