//! Frame sampling for analytics. By default keyframes only: the recording pipeline hands each keyframe
//! access unit here; a small decoder pipeline (`appsrc ! h264parse ! avdec_h264 ! videoconvert !
//! videoscale ! RGB WxH ! appsink`) turns it into a frame scaled once to the detectors' size.
//! Keyframes decode alone, so the decoder never sees the other frames (measured ~0.5 % of a core per
//! 1080p camera in the design notes). A camera with `sample_fps` hands over every access unit
//! instead; the decoder decodes them all (12-15 % of a core) and `videorate` keeps N a second.

use crate::media::pipeline::PipelineError;
use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

/// A decoded, scaled frame.
#[derive(Clone, Debug)]
pub struct SampledFrame {
    /// When its access unit arrived.
    pub at: DateTime<Utc>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB8.
    pub rgb: Vec<u8>,
}

/// Keyframe decoder of one camera.
pub struct FrameSampler {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    arrivals: Arc<Mutex<VecDeque<DateTime<Utc>>>>,
    every_frame: bool,
}

impl FrameSampler {
    /// Starts a decoder producing `width`x`height` RGB frames into `on_frame` (from a GStreamer
    /// thread): of keyframes (`fps` `None`), or `fps` a second of every frame.
    pub fn start(
        width: u32,
        height: u32,
        fps: Option<u32>,
        on_frame: impl Fn(SampledFrame) + Send + Sync + 'static,
    ) -> Result<Self, PipelineError> {
        let setup = |e: &dyn std::fmt::Display| PipelineError::Setup(format!("frame sampler: {e}"));
        let (alignment, rate) = match fps {
            None => (",alignment=au", String::new()),
            // Access units come as the depayloader gives them (slices may be apart): let the parser
            // assemble them; keep `fps` of the decoded frames.
            Some(n) => (
                "",
                format!("videorate drop-only=true max-rate={} ! ", n.max(1)),
            ),
        };
        let launch = format!(
            "appsrc name=src format=time is-live=true do-timestamp=true max-bytes=4000000 block=false \
               caps=video/x-h264,stream-format=byte-stream{alignment} ! \
             h264parse ! avdec_h264 max-threads=1 ! {rate}videoconvert ! videoscale add-borders=false ! \
             video/x-raw,format=RGB,width={width},height={height} ! \
             appsink name=out sync=false max-buffers=2 drop=true"
        );
        let every_frame = fps.is_some();
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| setup(&e))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| setup(&"not a pipeline"))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| setup(&"no appsrc"))?;
        let sink = pipeline
            .by_name("out")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| setup(&"no appsink"))?;
        let arrivals: Arc<Mutex<VecDeque<DateTime<Utc>>>> = Arc::default();
        let times = Arc::clone(&arrivals);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // Every-frame decoding keeps up with the stream: a frame is as old as now.
                    let at = if every_frame {
                        Utc::now()
                    } else {
                        times
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .pop_front()
                            .unwrap_or_else(Utc::now)
                    };
                    on_frame(SampledFrame {
                        at,
                        width,
                        height,
                        rgb: packed_rows(map.as_slice(), width, height),
                    });
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| setup(&e))?;
        Ok(Self {
            pipeline,
            src,
            arrivals,
            every_frame,
        })
    }

    /// Queues one keyframe picture (Annex B, parameter sets in front), or in every-frame mode one
    /// access unit.
    pub fn push_keyframe(&self, picture: &[u8], at: DateTime<Utc>) {
        if !self.every_frame {
            let mut arrivals = self.arrivals.lock().unwrap_or_else(PoisonError::into_inner);
            // A decoder that fell behind must not pair frames with stale times.
            if arrivals.len() > 4 {
                arrivals.clear();
            }
            arrivals.push_back(at);
        }
        let _ = self
            .src
            .push_buffer(gst::Buffer::from_slice(picture.to_vec()));
    }
}

impl Drop for FrameSampler {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Tightly packed RGB rows of a raw frame whose rows GStreamer may pad to a multiple of 4 bytes.
fn packed_rows(data: &[u8], width: u32, height: u32) -> Vec<u8> {
    let row = width as usize * 3;
    let stride = row.next_multiple_of(4);
    if data.len() == row * height as usize || stride == row {
        return data.to_vec();
    }
    data.chunks(stride)
        .take(height as usize)
        .flat_map(|r| &r[..row.min(r.len())])
        .copied()
        .collect()
}
