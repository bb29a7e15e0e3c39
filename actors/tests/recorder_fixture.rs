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

use gstreamer::prelude::*;
use std::path::Path;
use std::time::Duration;
use vms_actors::pts_range;
use vms_actors::{ClosedSegment, SegmentLayout, SegmentRecorder};

const CLIP: &str = "clip-320x240-25fps-6s.h264";
const FRAME_NS: u64 = 40_000_000;

/// The access units of an Annex B stream whose units each begin with an access unit delimiter.
fn access_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts: Vec<usize> = (0..stream.len().saturating_sub(3))
        .filter(|&i| stream[i..i + 4] == [0, 0, 1, 0x09])
        .collect();
    // A four-byte start code belongs to its unit.
    for s in &mut starts {
        if *s > 0 && stream[*s - 1] == 0 {
            *s -= 1;
        }
    }
    starts.push(stream.len());
    starts.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

fn has_idr(unit: &[u8]) -> bool {
    unit.windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

/// Frames GStreamer decodes from a segment file (demuxed as MPEG-TS, decoded with libav).
fn decoded_frames(path: &Path) -> anyhow::Result<usize> {
    gstreamer::init()?;
    let pipeline = gstreamer::parse::launch(&format!(
        "filesrc location={} ! tsdemux ! h264parse ! avdec_h264 ! fakesink name=sink sync=false signal-handoffs=true",
        path.display()
    ))?
    .downcast::<gstreamer::Pipeline>()
    .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
    let sink = pipeline
        .by_name("sink")
        .ok_or_else(|| anyhow::anyhow!("no sink"))?;
    let frames = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&frames);
    sink.connect("handoff", false, move |_| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        None
    });
    pipeline.set_state(gstreamer::State::Playing)?;
    let bus = pipeline.bus().ok_or_else(|| anyhow::anyhow!("no bus"))?;
    let outcome = bus.timed_pop_filtered(
        gstreamer::ClockTime::from_seconds(20),
        &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
    );
    pipeline.set_state(gstreamer::State::Null)?;
    match outcome.as_ref().map(|m| m.view()) {
        Some(gstreamer::MessageView::Eos(_)) => {
            Ok(frames.load(std::sync::atomic::Ordering::Relaxed))
        }
        Some(gstreamer::MessageView::Error(e)) => {
            anyhow::bail!("{} does not decode: {}", path.display(), e.error())
        }
        _ => anyhow::bail!("{} did not finish decoding", path.display()),
    }
}

#[test]
fn a_recorded_clip_becomes_segments_that_decode_frame_for_frame() -> anyhow::Result<()> {
    let stream = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(CLIP),
    )?;
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
            decoded_frames(&segment.path)?,
            50,
            "{} decodes every frame",
            segment.path.display()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
