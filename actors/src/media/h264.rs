//! H.264 bitstream helpers: Annex B parameter sets, and the coded slices of an access unit.

/// Annex B parameter sets (`00 00 00 01 SPS 00 00 00 01 PPS`).
pub fn annex_b(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sps.len() + pps.len() + 8);
    for nal in [sps, pps] {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// Appends only the coded slices (NAL types 1 and 5) of an Annex B buffer, with their start codes.
pub fn append_slices(out: &mut Vec<u8>, annex_b: &[u8]) {
    let starts: Vec<usize> = (0..annex_b.len().saturating_sub(2))
        .filter(|&i| annex_b[i] == 0 && annex_b[i + 1] == 0 && annex_b[i + 2] == 1)
        .collect();
    for (k, &start) in starts.iter().enumerate() {
        let body = start + 3;
        let end = starts.get(k + 1).map_or(annex_b.len(), |&next| {
            // A 4-byte start code's leading zero belongs to the next unit.
            if next > 0 && annex_b[next - 1] == 0 {
                next - 1
            } else {
                next
            }
        });
        if body < end && matches!(annex_b[body] & 0x1f, 1 | 5) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(&annex_b[body..end]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slices_are_appended() {
        let buf = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 9, 9, 0, 0, 0, 1, 0x41, 7,
        ];
        let mut out = Vec::new();
        append_slices(&mut out, &buf);
        assert_eq!(out, [0, 0, 0, 1, 0x65, 9, 9, 0, 0, 0, 1, 0x41, 7]);
    }
}
