//! The LL-HLS media playlist of a camera's window (RFC 8216bis, low-latency): the init section by
//! `EXT-X-MAP`, every segment with `EXT-X-PROGRAM-DATE-TIME`, the parts of the newest segments
//! (`EXT-X-PART`), blocking reloads (`EXT-X-SERVER-CONTROL`) and the next part as a preload hint.
//! URLs are relative to the playlist's and carry the request's stream token.

use crate::live::llhls::{PART_TARGET, Snapshot};
use std::fmt::Write as _;

/// Segments from the end whose parts are listed.
const PARTS_OF_LAST: usize = 3;

fn with_token(url: String, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{url}?token={t}"),
        None => url,
    }
}

/// The playlist of `window`.
pub(crate) fn render(window: &Snapshot, token: Option<&str>) -> String {
    let target = window
        .segments
        .iter()
        .map(|s| s.duration().ceil() as u64)
        .max()
        .unwrap_or(2)
        .max(1);
    let first = window.segments.front().map_or(0, |s| s.msn);
    let mut out = String::with_capacity(1024 + window.segments.len() * 512);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={PART_TARGET:.3}");
    let _ = writeln!(
        out,
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}",
        PART_TARGET * 3.0
    );
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let _ = writeln!(
        out,
        "#EXT-X-MAP:URI=\"{}\"",
        with_token("init.mp4".into(), token)
    );
    let listed_from = window.segments.len().saturating_sub(PARTS_OF_LAST);
    for (i, s) in window.segments.iter().enumerate() {
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            s.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        );
        if i >= listed_from {
            for (n, p) in s.parts.iter().enumerate() {
                let url = with_token(format!("segments/{}/parts/{n}/media.mp4", s.msn), token);
                let independent = if p.independent {
                    ",INDEPENDENT=YES"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "#EXT-X-PART:DURATION={:.5},URI=\"{url}\"{independent}",
                    p.duration
                );
            }
        }
        if s.complete {
            let _ = writeln!(out, "#EXTINF:{:.5},", s.duration());
            out.push_str(&with_token(format!("segments/{}/media.mp4", s.msn), token));
            out.push('\n');
        }
    }
    let (msn, part) = match window.segments.back() {
        Some(s) if !s.complete => (s.msn, s.parts.len()),
        Some(s) => (s.msn + 1, 0),
        None => (0, 0),
    };
    let hint = with_token(format!("segments/{msn}/parts/{part}/media.mp4"), token);
    let _ = writeln!(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::llhls::{Part, Segment};
    use bytes::Bytes;

    #[test]
    fn the_playlist_lists_parts_of_the_newest_segments_and_hints_the_next() {
        let part = |independent| Part {
            bytes: Bytes::new(),
            duration: 0.5,
            independent,
        };
        let segment = |msn, complete| Segment {
            msn,
            start: chrono::Utc::now(),
            parts: vec![part(true), part(false), part(false), part(false)],
            complete,
        };
        let window = Snapshot {
            track: None,
            segments: (4..9).map(|m| segment(m, m < 8)).collect(),
            ended: false,
        };
        let text = render(&window, Some("T"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:4\n"), "{text}");
        assert!(
            text.contains("#EXT-X-MAP:URI=\"init.mp4?token=T\""),
            "{text}"
        );
        assert!(
            text.contains("#EXTINF:2.00000,\nsegments/4/media.mp4?token=T\n"),
            "{text}"
        );
        assert!(
            !text.contains("segments/5/parts/"),
            "old segments list no parts: {text}"
        );
        assert!(text.contains("#EXT-X-PART:DURATION=0.50000,URI=\"segments/8/parts/0/media.mp4?token=T\",INDEPENDENT=YES"), "{text}");
        assert!(
            !text.contains("segments/8/media.mp4"),
            "the open segment has no EXTINF: {text}"
        );
        assert!(
            text.ends_with(
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"segments/8/parts/4/media.mp4?token=T\"\n"
            ),
            "{text}"
        );
    }
}
