//! A JPEG of a recorded frame: a small fMP4 (a segment's init section and one fragment starting on
//! a keyframe) through `qtdemux ! decodebin ! videoconvert ! jpegenc`, the first picture kept.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

/// How long decoding one picture may take.
const DECODE_TIMEOUT_SECONDS: u64 = 10;

/// Why no picture came out.
#[derive(Debug, thiserror::Error)]
#[error("snapshot: {0}")]
pub struct SnapshotError(String);

/// The first picture of `mp4` (an init section and fragments) as a JPEG. Blocking: call it from a
/// blocking thread.
pub fn first_frame_jpeg(mp4: Vec<u8>) -> Result<Vec<u8>, SnapshotError> {
    let fail = |e: &dyn std::fmt::Display| SnapshotError(e.to_string());
    gst::init().map_err(|e| fail(&e))?;
    let pipeline = gst::parse::launch(
        "appsrc name=src caps=video/quicktime format=bytes ! qtdemux ! decodebin ! videoconvert ! \
         jpegenc quality=85 ! appsink name=sink sync=false max-buffers=1",
    )
    .map_err(|e| fail(&e))?
    .downcast::<gst::Pipeline>()
    .map_err(|_| fail(&"not a pipeline"))?;
    let element = |name: &str| {
        pipeline
            .by_name(name)
            .ok_or_else(|| SnapshotError(format!("no {name}")))
    };
    let src = element("src")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| fail(&"src is not an appsrc"))?;
    let sink = element("sink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| fail(&"sink is not an appsink"))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| fail(&e))?;
    let result = (|| {
        src.push_buffer(gst::Buffer::from_mut_slice(mp4))
            .map_err(|e| fail(&e))?;
        src.end_of_stream().map_err(|e| fail(&e))?;
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(DECODE_TIMEOUT_SECONDS))
            .ok_or_else(|| SnapshotError("no picture decoded".into()))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| SnapshotError("empty sample".into()))?;
        let map = buffer.map_readable().map_err(|e| fail(&e))?;
        Ok(map.as_slice().to_vec())
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}
