//! Frame sampling for analytics. By default keyframes only: the camera's ingest hands each keyframe
//! access unit here; a small decoder pipeline (`appsrc ! h264parse ! avdec_h264 ! videoconvert !
//! videoscale ! RGB WxH ! appsink`, or `h265parse ! avdec_h265` for H.265) turns it into a frame
//! scaled once to the detectors' size.
//! Keyframes decode alone, so the decoder never sees the other frames (measured ~0.5 % of a core per
//! 1080p camera in the design notes). A camera with `sample_fps` hands over every access unit
//! instead; the decoder decodes them all (12-15 % of a core) and `videorate` keeps N a second.

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

/// The codec of the pictures a sampler decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PictureCodec {
    /// H.264 (Annex B).
    H264,
    /// H.265 (Annex B).
    H265,
}

impl PictureCodec {
    /// Caps, parser and decoder of the codec.
    fn elements(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::H264 => ("video/x-h264", "h264parse", "avdec_h264"),
            Self::H265 => ("video/x-h265", "h265parse", "avdec_h265"),
        }
    }
}

/// A sampler's decoder could not be built (a GStreamer plugin missing, most likely).
#[derive(Debug, thiserror::Error)]
#[error("frame sampler: {0}")]
pub struct SamplerError(String);

/// What the decoder of a sampler is built from.
struct DecoderSettings {
    width: u32,
    height: u32,
    fps: Option<u32>,
    arrivals: Arc<Mutex<VecDeque<DateTime<Utc>>>>,
    on_frame: Arc<dyn Fn(SampledFrame) + Send + Sync>,
}

/// One decoder pipeline, for one codec.
struct Decoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
}

impl Drop for Decoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl DecoderSettings {
    fn build(&self, codec: PictureCodec) -> Result<Decoder, SamplerError> {
        let setup = |e: &dyn std::fmt::Display| SamplerError(e.to_string());
        gst::init().map_err(|e| setup(&e))?;
        let (caps, parser, decoder) = codec.elements();
        let (width, height) = (self.width, self.height);
        // Access units arrive whole (the RTSP depacketiser assembles them); keep `fps` of the decoded
        // frames in every-frame mode.
        let rate = self.fps.map_or(String::new(), |n| {
            format!("videorate drop-only=true max-rate={} ! ", n.max(1))
        });
        let launch = format!(
            "appsrc name=src format=time is-live=true do-timestamp=true max-bytes=4000000 block=false \
               caps={caps},stream-format=byte-stream,alignment=au ! \
             {parser} ! {decoder} max-threads=1 ! {rate}videoconvert ! videoscale add-borders=false ! \
             video/x-raw,format=RGB,width={width},height={height} ! \
             appsink name=out sync=false max-buffers=2 drop=true"
        );
        let every_frame = self.fps.is_some();
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
        let times = Arc::clone(&self.arrivals);
        let on_frame = Arc::clone(&self.on_frame);
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
        let decoder = Decoder { pipeline, src };
        decoder
            .pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| setup(&e))?;
        Ok(decoder)
    }
}

/// Keyframe decoder of one camera. Its decoder is built for H.264 at the start (so a missing
/// plugin shows at once) and rebuilt when pictures of another codec arrive.
pub struct FrameSampler {
    settings: DecoderSettings,
    /// The codec the decoder was built for, and the decoder (none when it could not be built).
    decoder: Mutex<(PictureCodec, Option<Decoder>)>,
}

impl FrameSampler {
    /// Starts a decoder producing `width`x`height` RGB frames into `on_frame` (from a GStreamer
    /// thread): of keyframes (`fps` `None`), or `fps` a second of every frame.
    pub fn start(
        width: u32,
        height: u32,
        fps: Option<u32>,
        on_frame: impl Fn(SampledFrame) + Send + Sync + 'static,
    ) -> Result<Self, SamplerError> {
        let settings = DecoderSettings {
            width,
            height,
            fps,
            arrivals: Arc::default(),
            on_frame: Arc::new(on_frame),
        };
        let decoder = settings.build(PictureCodec::H264)?;
        Ok(Self {
            settings,
            decoder: Mutex::new((PictureCodec::H264, Some(decoder))),
        })
    }

    /// Queues one keyframe picture (Annex B, parameter sets in front), or in every-frame mode one
    /// access unit.
    pub fn push_keyframe(&self, codec: PictureCodec, picture: Vec<u8>, at: DateTime<Utc>) {
        let mut slot = self.decoder.lock().unwrap_or_else(PoisonError::into_inner);
        let (built_for, decoder) = &mut *slot;
        // One build per codec the camera switches to: a decoder that cannot be built is not tried
        // again for every picture.
        if *built_for != codec {
            *built_for = codec;
            *decoder = None;
            match self.settings.build(codec) {
                Ok(d) => *decoder = Some(d),
                Err(e) => {
                    tracing::warn!(error = %e, ?codec, "cannot decode this camera's pictures")
                }
            }
        }
        let Some(decoder) = decoder.as_ref() else {
            return;
        };
        if self.settings.fps.is_none() {
            let mut arrivals = self
                .settings
                .arrivals
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A decoder that fell behind must not pair frames with stale times.
            if arrivals.len() > 4 {
                arrivals.clear();
            }
            arrivals.push_back(at);
        }
        let _ = decoder
            .src
            .push_buffer(gst::Buffer::from_mut_slice(picture));
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
