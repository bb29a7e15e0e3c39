//! HLS media playlists of recorded segments (RFC 8216bis): fMP4 segments through `EXT-X-MAP`
//! (each file's own init section) and `EXT-X-BYTERANGE` (its fragments), MPEG-TS segments whole;
//! `EXT-X-DISCONTINUITY` at every gap and every change of codec, picture size or container, and
//! `EXT-X-PROGRAM-DATE-TIME` there so players show wall-clock time.

use std::fmt::Write as _;
use vms_messages::{CameraId, Segment, SegmentContainer};

/// Two segments further apart than this (in milliseconds) have a gap between them.
pub const GAP_MS: i64 = 1500;

/// URL of a segment as an HLS media segment (the route is [`crate::routes::video::vod_segment`]).
pub fn vod_url(camera: CameraId, segment: i64, token: Option<&str>) -> String {
    let mut url = format!("/api/v1/cameras/{camera}/vod/{segment}/media.mp4");
    if let Some(token) = token {
        url.push_str("?token=");
        url.push_str(token);
    }
    url
}

/// What must stay the same between two segments for a player to go on without a discontinuity.
fn format_of(s: &Segment) -> (SegmentContainer, Option<&str>, Option<u32>, Option<u32>) {
    (
        s.media.container,
        s.media.codec.as_deref(),
        s.media.width,
        s.media.height,
    )
}

/// The playlist of `segments` (oldest first) of `camera`, each URL carrying `token` when given.
/// `ended`: the range is in the past, so the list is complete (`VOD` with `EXT-X-ENDLIST`);
/// otherwise it is an `EVENT` playlist players reload as it grows.
pub fn media_playlist(
    camera: CameraId,
    segments: &[Segment],
    token: Option<&str>,
    ended: bool,
) -> String {
    let target = segments
        .iter()
        .map(|s| (s.duration_ms.max(0) + 999) / 1000)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::with_capacity(256 + segments.len() * 256);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    out.push_str(if ended {
        "#EXT-X-PLAYLIST-TYPE:VOD\n"
    } else {
        "#EXT-X-PLAYLIST-TYPE:EVENT\n"
    });
    let mut previous: Option<&Segment> = None;
    for s in segments {
        let jump = previous.is_some_and(|p| {
            (s.start - p.end).num_milliseconds() > GAP_MS || format_of(p) != format_of(s)
        });
        if jump {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if previous.is_none() || jump {
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                s.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            );
        }
        let url = vod_url(camera, s.id, token);
        let bytes = u64::try_from(s.bytes).unwrap_or(0);
        match (s.media.container, s.media.init_len) {
            (SegmentContainer::Fmp4, Some(init)) if init < bytes => {
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{url}\",BYTERANGE=\"{init}@0\"");
                let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_ms as f64 / 1000.0);
                let _ = writeln!(out, "#EXT-X-BYTERANGE:{}@{init}", bytes - init);
            }
            _ => {
                let _ = writeln!(out, "#EXTINF:{:.3},", s.duration_ms as f64 / 1000.0);
            }
        }
        out.push_str(&url);
        out.push('\n');
        previous = Some(s);
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use vms_messages::{SegmentMedia, TenantId};

    fn segment(id: i64, start_s: i64, end_s: i64, codec: &str) -> Segment {
        let at = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).expect("time");
        Segment {
            id,
            camera_id: CameraId::new(),
            tenant_id: TenantId::new(),
            seq: id,
            start: at(start_s),
            end: at(end_s),
            duration_ms: (end_s - start_s) * 1000,
            bytes: 10_000,
            node: "n1".into(),
            media_url: String::new(),
            origin: Default::default(),
            media: SegmentMedia {
                container: SegmentContainer::Fmp4,
                codec: Some(codec.into()),
                width: Some(640),
                height: Some(360),
                audio: None,
                init_len: Some(700),
                fragments: Vec::new(),
            },
            copies: Default::default(),
        }
    }

    #[test]
    fn gaps_and_codec_changes_are_discontinuities_with_wall_clock_time() {
        let camera = CameraId::new();
        let segments = [
            segment(1, 0, 5, "avc1.64001f"),
            segment(2, 5, 10, "avc1.64001f"),
            segment(3, 20, 25, "avc1.64001f"),
            segment(4, 25, 30, "hvc1.1.6.L93.B0"),
        ];
        let list = media_playlist(camera, &segments, Some("t.k.n"), true);
        assert_eq!(list.matches("#EXT-X-DISCONTINUITY\n").count(), 2, "{list}");
        assert_eq!(list.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 3);
        assert!(list.contains("#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:20.000Z"));
        assert!(list.contains(&format!(
            "#EXT-X-MAP:URI=\"/api/v1/cameras/{camera}/vod/1/media.mp4?token=t.k.n\",BYTERANGE=\"700@0\""
        )));
        assert!(list.contains("#EXT-X-BYTERANGE:9300@700\n"));
        assert!(list.contains("#EXT-X-TARGETDURATION:5\n"));
        assert!(list.ends_with("#EXT-X-ENDLIST\n"));
        let live = media_playlist(camera, &segments[..1], None, false);
        assert!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && !live.contains("ENDLIST"));
        assert!(!live.contains("token="));
    }
}
