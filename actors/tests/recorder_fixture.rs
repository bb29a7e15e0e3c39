//! The segment recorder on a recorded clip, without RTSP: a 6 s H.264 stream (320x240, 25 fps, a
//! keyframe every second, two slices per frame) read from `fixtures/`, fed access unit by access unit
//! as the pipeline's appsink would, must come out as MPEG-TS segments cut on keyframes that decode,
//! every frame of them, with GStreamer's own demuxer and decoder.
//!
//! The clip was made with:
//!
//! ```text
//! gst-launch-1.0 videotestsrc num-buffers=150 pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
//!   ! x264enc key-int-max=25 bframes=0 tune=zerolatency speed-preset=ultrafast aud=true \
//!   ! video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline \
//!   ! filesink location=clip-320x240-25fps-6s.h264
//! ```

use std::time::Duration;
use vms_actors::pts_range;
use vms_actors::{ClosedSegment, SegmentLayout, SegmentRecorder};

mod fixture;

use fixture::{FRAME_NS, access_units, clip, decoded_frames, has_idr};

#[test]
fn a_recorded_clip_becomes_segments_that_decode_frame_for_frame() -> anyhow::Result<()> {
    let stream = clip()?;
    let units = access_units(&stream);
    assert_eq!(units.len(), 150, "the clip holds 6 s at 25 fps");
    let dir = std::env::temp_dir().join(format!("vms-fixture-{}", uuid::Uuid::now_v7().simple()));
    let mut recorder = SegmentRecorder::new(
        SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        },
        Duration::from_secs(2),
    );
    let mut closed: Vec<ClosedSegment> = Vec::new();
    for (i, unit) in units.iter().enumerate() {
        let key = has_idr(unit);
        let pts = FRAME_NS * u64::try_from(i)?;
        let pushed = recorder.push(unit, Some(pts), !key);
        closed.extend(pushed.map_err(|e| anyhow::anyhow!("frame {i}: {e:?}"))?);
    }
    closed.extend(recorder.finish());

    // Cut on the first keyframe at or after 2 s: three segments of 50 frames, numbered on.
    assert_eq!(closed.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    for (segment, next) in closed.iter().zip(closed.iter().skip(1)) {
        assert_eq!(segment.end, next.start, "segments abut");
    }
    for segment in &closed {
        let bytes = std::fs::read(&segment.path)?;
        assert!(
            bytes.len() % 188 == 0 && bytes.chunks(188).all(|p| p[0] == 0x47),
            "{} is whole MPEG-TS packets",
            segment.path.display()
        );
        let (first, last) = pts_range(&bytes).ok_or_else(|| anyhow::anyhow!("no PTS"))?;
        // 90 kHz: 50 frames from the first PTS to just after the last.
        assert_eq!(
            last - first,
            49 * 3600,
            "{} spans 50 frames",
            segment.path.display()
        );
        let span = (segment.end - segment.start).num_milliseconds();
        assert!(
            (1990..=2010).contains(&span),
            "{} lasts {span} ms",
            segment.path.display()
        );
        assert_eq!(
            decoded_frames(&segment.path, "tsdemux")?,
            50,
            "{} decodes every frame",
            segment.path.display()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
