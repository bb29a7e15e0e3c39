//! The recording pipeline of one camera:
//! `rtspsrc protocols=tcp ! rtph264depay ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink`,
//! with the access units handed to a [`SegmentRecorder`] on the streaming thread.
//!
//! Compared with `h264parse ! splitmuxsink muxer=mpegtsmux`, this drops a parser, a multiqueue thread,
//! an aggregator thread and a write per TS chunk: the recorder muxes in memory and writes once per GOP
//! (see `docs/benchmarks.md`). The recorder also knows its open segment, so stopping is just NULL and
//! `finish()`: a stopped or frozen camera's last segment is finalised without waiting for an EOS.

use crate::media::recorder::SegmentRecorder;
pub use crate::media::recorder::{ClosedSegment, SegmentLayout};
use base64::Engine;
use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;

/// Why a pipeline failed, which decides whether to retry soon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// Network trouble, camera gone or frozen: reconnect with backoff.
    Transient,
    /// The stream is not H.264.
    UnsupportedCodec,
    /// The camera answered 404 for the path.
    NotFound,
    /// The camera refused the credentials.
    Unauthorized,
    /// The data disk is full.
    DiskFull,
}

/// Consecutive 404 answers after which a camera is shown as `failed` (a rebooting camera or proxy may
/// answer 404 for a moment; a wrong path answers it every time).
pub const NOT_FOUND_FAILED_AFTER: u32 = 3;

impl FailureKind {
    /// Whether nothing but a change (configuration, camera settings) will fix it: retried slowly.
    pub fn is_permanent(self) -> bool {
        matches!(self, Self::UnsupportedCodec | Self::Unauthorized)
    }

    /// Whether the camera is shown as `failed` (rather than `backoff`) after `consecutive` such failures.
    pub fn shows_failed(self, consecutive: u32) -> bool {
        self.is_permanent() || (self == Self::NotFound && consecutive >= NOT_FOUND_FAILED_AFTER)
    }
}

/// Something the pipeline reports to its camera.
#[derive(Clone, Debug, PartialEq)]
pub enum PipelineEvent {
    /// A segment file is complete.
    SegmentClosed(ClosedSegment),
    /// The pipeline failed and must be torn down.
    Failed {
        /// Classification.
        kind: FailureKind,
        /// Human-readable reason.
        reason: String,
    },
    /// End of stream reached (the camera ended the session).
    Eos,
}

/// Counters updated from the streaming thread.
#[derive(Debug, Default)]
pub struct FlowStats {
    /// Frames (access units) received.
    pub frames: AtomicU64,
    /// Payload bytes received.
    pub bytes: AtomicU64,
    /// Wall-clock milliseconds of the last frame (0: none yet).
    pub last_frame_ms: AtomicI64,
}

impl FlowStats {
    /// Wall-clock time of the last frame.
    pub fn last_frame_at(&self) -> Option<DateTime<Utc>> {
        match self.last_frame_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

/// Why a pipeline could not be built.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// A GStreamer element is missing (plugin not installed).
    #[error("gstreamer element {element} is missing (install the GStreamer plugins)")]
    MissingElement {
        /// Factory name.
        element: &'static str,
        /// Underlying error.
        #[source]
        source: glib::BoolError,
    },
    /// Elements could not be linked or the pipeline would not start.
    #[error("pipeline setup failed: {0}")]
    Setup(String),
}

/// Settings of one pipeline.
#[derive(Clone, Debug)]
pub struct PipelineSettings {
    /// RTSP URL (without credentials).
    pub url: String,
    /// RTSP credentials, given to the RTSP client apart from the URL (so no URL with them in it is
    /// ever built, shown or logged).
    pub credentials: Option<vms_messages::RtspCredentials>,
    /// Target segment length.
    pub segment: Duration,
    /// RTSP TCP timeout.
    pub tcp_timeout: Duration,
    /// Where segments go.
    pub layout: SegmentLayout,
    /// Where keyframes go for analytics, when the camera has any.
    pub keyframes: Option<KeyframeSink>,
}

/// What a [`KeyframeSink`] calls: the keyframe picture (Annex B, parameter sets in front) and its
/// arrival time.
pub type KeyframeFn = dyn Fn(&[u8], DateTime<Utc>) + Send + Sync;

/// Receives each keyframe picture, decodable alone, with its arrival time; or, with `every_frame`,
/// every access unit in order (parameter sets in front of each keyframe).
#[derive(Clone)]
pub struct KeyframeSink {
    /// Called from the streaming thread.
    pub feed: Arc<KeyframeFn>,
    /// Every access unit rather than keyframes only (sampling at N frames a second).
    pub every_frame: bool,
}

impl std::fmt::Debug for KeyframeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyframeSink")
    }
}

type EventSink = Arc<dyn Fn(PipelineEvent) + Send + Sync>;

/// A running recording pipeline; call [`RecordingPipeline::stop`] before dropping it.
pub struct RecordingPipeline {
    pipeline: gst::Pipeline,
    recorder: Arc<Mutex<SegmentRecorder>>,
    stats: Arc<FlowStats>,
}

fn make(factory: &'static str) -> Result<gst::Element, PipelineError> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|source| PipelineError::MissingElement {
            element: factory,
            source,
        })
}

fn setup_err(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Setup(e.to_string())
}

/// SPS and PPS from an SDP `sprop-parameter-sets` value (`base64(SPS),base64(PPS)`).
fn parameter_sets(sprop: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = sprop
        .split(',')
        .map(|p| base64::engine::general_purpose::STANDARD.decode(p.trim()));
    let sps = parts.next()?.ok()?;
    let pps = parts.next()?.ok()?;
    Some((sps, pps))
}

impl RecordingPipeline {
    /// Builds the pipeline and sets it playing. Events arrive through `on_event` from GStreamer threads.
    pub fn start(
        settings: &PipelineSettings,
        stats: Arc<FlowStats>,
        on_event: impl Fn(PipelineEvent) + Send + Sync + 'static,
    ) -> Result<Self, PipelineError> {
        gst::init().map_err(setup_err)?;
        let on_event: EventSink = Arc::new(on_event);
        let pipeline = gst::Pipeline::new();
        let src = make("rtspsrc")?;
        src.set_property("location", &settings.url);
        if let Some(c) = &settings.credentials {
            src.set_property("user-id", &c.username);
            src.set_property("user-pw", &c.password);
        }
        src.set_property_from_str("protocols", "tcp");
        src.set_property(
            "tcp-timeout",
            u64::try_from(settings.tcp_timeout.as_micros()).unwrap_or(u64::MAX),
        );
        // Recording needs no reordering window over TCP: release packets on arrival, without timers
        // or clock-skew smoothing (timestamps are only used relative to each other).
        src.set_property("latency", 0u32);
        src.set_property_from_str("buffer-mode", "none");
        let depay = make("rtph264depay")?;
        let caps = gst::Caps::builder("video/x-h264")
            .field("stream-format", "byte-stream")
            .field("alignment", "au")
            .build();
        let sink = gst_app::AppSink::builder()
            .caps(&caps)
            .sync(false)
            .max_buffers(256)
            .drop(false)
            .build();
        sink.set_property("enable-last-sample", false);
        pipeline
            .add_many([&src, &depay, sink.upcast_ref()])
            .map_err(setup_err)?;
        depay.link(&sink).map_err(setup_err)?;

        let recorder = Arc::new(Mutex::new(SegmentRecorder::new(
            settings.layout.clone(),
            settings.segment,
        )));

        // Parameter sets from the SDP, put in front of each keyframe handed to analytics.
        let stream_params: Arc<Mutex<Vec<u8>>> = Arc::default();
        let params_pad = Arc::clone(&stream_params);
        // Link the RTSP video stream once its codec is known; refuse anything but H.264.
        let depay_weak = depay.downgrade();
        let pipeline_weak = pipeline.downgrade();
        let (events_pad, recorder_pad) = (Arc::clone(&on_event), Arc::clone(&recorder));
        src.connect_pad_added(move |_src, pad| {
            let Some(caps) = pad.current_caps() else {
                return;
            };
            let Some(s) = caps.structure(0) else { return };
            let media = s.get::<&str>("media").unwrap_or("");
            let encoding = s
                .get::<&str>("encoding-name")
                .unwrap_or("")
                .to_ascii_uppercase();
            if media != "video" {
                // Audio and metadata are not recorded; drain them so they never stall the session.
                if let (Some(pipeline), Ok(fake)) = (
                    pipeline_weak.upgrade(),
                    gst::ElementFactory::make("fakesink")
                        .property("async", false)
                        .build(),
                ) && pipeline.add(&fake).is_ok()
                {
                    let _ = fake.sync_state_with_parent();
                    if let Some(sink_pad) = fake.static_pad("sink") {
                        let _ = pad.link(&sink_pad);
                    }
                }
                return;
            }
            if encoding != "H264" {
                events_pad(PipelineEvent::Failed {
                    kind: FailureKind::UnsupportedCodec,
                    reason: format!("unsupported codec {encoding} (only h.264 is recorded)")
                        .to_lowercase(),
                });
                return;
            }
            if let Some((sps, pps)) = s
                .get::<&str>("sprop-parameter-sets")
                .ok()
                .and_then(parameter_sets)
            {
                recorder_pad
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .set_parameter_sets(&sps, &pps);
                *params_pad.lock().unwrap_or_else(PoisonError::into_inner) =
                    crate::media::h264::annex_b(&sps, &pps);
            }
            let Some(sink_pad) = depay_weak.upgrade().and_then(|d| d.static_pad("sink")) else {
                return;
            };
            if sink_pad.is_linked() {
                return;
            }
            if let Err(e) = pad.link(&sink_pad) {
                events_pad(PipelineEvent::Failed {
                    kind: FailureKind::Transient,
                    reason: format!("cannot link video stream: {e:?}"),
                });
            }
        });

        // Every access unit: count it, stamp the watchdog, hand it to the recorder.
        let (events_sink, recorder_sink, stats_sink) = (
            Arc::clone(&on_event),
            Arc::clone(&recorder),
            Arc::clone(&stats),
        );
        let keyframes = settings.keyframes.clone();
        // The keyframe being gathered and when its first part arrived.
        let keyframe: Mutex<(Vec<u8>, DateTime<Utc>)> = Mutex::new((Vec::new(), Utc::now()));
        // Whether the previous buffer was a delta frame (every-frame sampling).
        let previous_delta = std::sync::atomic::AtomicBool::new(true);
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Flushing)?;
                    let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                    // One arrival time for the recorder and the sampler, so that an event on this
                    // frame and the segment holding it agree on when it was.
                    let now = Utc::now();
                    stats_sink.frames.fetch_add(1, Ordering::Relaxed);
                    stats_sink
                        .bytes
                        .fetch_add(map.len() as u64, Ordering::Relaxed);
                    stats_sink
                        .last_frame_ms
                        .store(now.timestamp_millis(), Ordering::Relaxed);
                    let delta = buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                    let pts = buffer.pts().map(gst::ClockTime::nseconds);
                    if let Some(KeyframeSink {
                        feed: sink,
                        every_frame: true,
                    }) = &keyframes
                    {
                        // Every access unit, in order; the first slice of a keyframe gets the
                        // parameter sets in front, so the decoder can start there.
                        let first_slice = !delta && previous_delta.swap(false, Ordering::Relaxed);
                        previous_delta.store(delta, Ordering::Relaxed);
                        if first_slice {
                            let mut unit = stream_params
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .clone();
                            unit.extend_from_slice(map.as_slice());
                            sink(&unit, now);
                        } else {
                            sink(map.as_slice(), now);
                        }
                    } else if let Some(KeyframeSink { feed: sink, .. }) = &keyframes {
                        // A keyframe may come as several buffers (one per slice): gather them and hand
                        // the whole picture over when the next frame starts.
                        let mut guard = keyframe.lock().unwrap_or_else(PoisonError::into_inner);
                        let (pending, arrived) = &mut *guard;
                        if !delta {
                            if pending.is_empty() {
                                *arrived = now;
                                pending.extend_from_slice(
                                    &stream_params.lock().unwrap_or_else(PoisonError::into_inner),
                                );
                                pending.extend_from_slice(map.as_slice());
                            } else {
                                // Parameter sets between two slices of one picture would end it early.
                                crate::media::h264::append_slices(pending, map.as_slice());
                            }
                        } else if !pending.is_empty() {
                            sink(pending, *arrived);
                            pending.clear();
                        }
                    }
                    let pushed = recorder_sink
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_arrived(map.as_slice(), pts, delta, now);
                    match pushed {
                        Ok(Some(closed)) => events_sink(PipelineEvent::SegmentClosed(closed)),
                        Ok(None) => {}
                        Err(e) => {
                            if let Some(closed) = e.closed {
                                events_sink(PipelineEvent::SegmentClosed(closed));
                            }
                            let kind = if e.error.kind() == std::io::ErrorKind::StorageFull {
                                FailureKind::DiskFull
                            } else {
                                FailureKind::Transient
                            };
                            let reason =
                                format!("cannot write segment: {}", e.error).to_lowercase();
                            events_sink(PipelineEvent::Failed { kind, reason });
                            return Err(gst::FlowError::Error);
                        }
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );

        let bus = pipeline
            .bus()
            .ok_or_else(|| setup_err("pipeline has no bus"))?;
        let events_bus = Arc::clone(&on_event);
        bus.set_sync_handler(move |_bus, msg| {
            on_message(&events_bus, msg);
            gst::BusSyncReply::Drop
        });

        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| setup_err(format!("cannot start pipeline: {e}")))?;
        Ok(Self {
            pipeline,
            recorder,
            stats,
        })
    }

    /// Stops the pipeline and closes the open segment at its last frame. Returns that segment, if any,
    /// and the sequence number the next pipeline should start from. Blocking: call from a blocking thread.
    pub fn stop(&self) -> (Option<ClosedSegment>, i64) {
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
        let mut recorder = self.recorder.lock().unwrap_or_else(PoisonError::into_inner);
        (recorder.finish(), recorder.next_seq())
    }

    /// Frame counters.
    pub fn stats(&self) -> &Arc<FlowStats> {
        &self.stats
    }
}

impl Drop for RecordingPipeline {
    /// Tears the pipeline down however its owner went away. ractor skips `post_stop` when an actor
    /// is killed or panics, so [`RecordingPipeline::stop`] may never run: without this, GStreamer's
    /// threads would go on writing files whose messages reach a dead actor (a second recording once
    /// the supervisor restarts the camera). After `stop` it does nothing more.
    fn drop(&mut self) {
        if self.pipeline.current_state() != gst::State::Null {
            let _ = self.pipeline.set_state(gst::State::Null);
        }
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
    }
}

fn on_message(on_event: &EventSink, msg: &gst::Message) {
    match msg.view() {
        gst::MessageView::Error(err) => {
            let error = err.error();
            let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
            let kind = classify(&error, &debug);
            // The debug text starts with the C source location; keep only what is said after it.
            let detail = debug
                .lines()
                .rfind(|l| !l.contains(".c("))
                .unwrap_or_default();
            on_event(PipelineEvent::Failed {
                kind,
                reason: failure_reason(&error.to_string(), detail),
            });
        }
        gst::MessageView::Eos(_) => on_event(PipelineEvent::Eos),
        _ => {}
    }
}

/// One lowercase line from a GStreamer error and the last line of its debug text, without trailing
/// periods or repetition: `could not open resource for reading: failed to connect`.
fn failure_reason(error: &str, detail: &str) -> String {
    let clean = |s: &str| s.trim().trim_end_matches('.').to_lowercase();
    let (error, detail) = (clean(error), clean(detail));
    if detail.is_empty() || error.contains(&detail) {
        error
    } else if detail.contains(&error) {
        detail
    } else {
        format!("{error}: {detail}")
    }
}

/// Maps a GStreamer error to what the camera should do about it.
fn classify(error: &glib::Error, debug: &str) -> FailureKind {
    let debug = debug.to_ascii_lowercase();
    if error.matches(gst::ResourceError::NoSpaceLeft) || debug.contains("no space left") {
        FailureKind::DiskFull
    } else if error.matches(gst::ResourceError::NotFound)
        && (debug.contains("404") || debug.contains("not found"))
    {
        FailureKind::NotFound
    } else if error.matches(gst::ResourceError::NotAuthorized) || debug.contains("401") {
        FailureKind::Unauthorized
    } else if error.matches(gst::StreamError::CodecNotFound)
        || error.matches(gst::StreamError::WrongType)
    {
        FailureKind::UnsupportedCodec
    } else {
        FailureKind::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_paths() {
        let layout = SegmentLayout {
            camera_dir: std::path::PathBuf::from("/data/t/c"),
            first_seq: 1,
        };
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("ts");
        assert_eq!(
            layout.path_for(7, at),
            std::path::PathBuf::from("/data/t/c/2023-11-14/0000000007.ts")
        );
    }

    #[test]
    fn failure_reasons_read_cleanly() {
        assert_eq!(
            failure_reason("Not found.", "Not Found (404)"),
            "not found (404)"
        );
        assert_eq!(
            failure_reason(
                "Could not open resource for reading and writing.",
                "Failed to connect. (Generic error)"
            ),
            "could not open resource for reading and writing: failed to connect. (generic error)"
        );
        assert_eq!(
            failure_reason("Internal data stream error.", ""),
            "internal data stream error"
        );
    }

    #[test]
    fn failure_classification() {
        let e = glib::Error::new(gst::ResourceError::NotFound, "Not found");
        assert_eq!(classify(&e, "Not Found (404)"), FailureKind::NotFound);
        let e = glib::Error::new(gst::ResourceError::Write, "write");
        assert_eq!(
            classify(&e, "Error writing: No space left on device"),
            FailureKind::DiskFull
        );
        let e = glib::Error::new(
            gst::ResourceError::OpenRead,
            "Could not open resource for reading",
        );
        assert_eq!(classify(&e, "connection refused"), FailureKind::Transient);
        assert!(FailureKind::UnsupportedCodec.is_permanent());
        assert!(!FailureKind::DiskFull.is_permanent());
        assert!(!FailureKind::NotFound.shows_failed(1));
        assert!(FailureKind::NotFound.shows_failed(NOT_FOUND_FAILED_AFTER));
        assert!(!FailureKind::Transient.shows_failed(100));
    }
}
