//! The recording pipeline of one camera:
//! `rtspsrc protocols=tcp ! rtph264depay ! h264parse config-interval=-1 ! video/x-h264,alignment=au !
//! splitmuxsink muxer=mpegtsmux`.
//!
//! Segments are MPEG-TS (playable up to the last packet after a process kill), cut on the first keyframe
//! after the target length. A probe after `h264parse` counts frames and bytes and stamps the last frame
//! time for the no-frame watchdog. Fragment open/close bus messages are tracked synchronously, so after
//! the pipeline reaches NULL the still-open fragment (a stopped or frozen camera) is known and can be
//! finalised by the caller.

use chrono::{DateTime, Utc};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use thiserror::Error;

/// How far past the target length a segment may run to end on the next keyframe.
pub const CUT_TOLERANCE: Duration = Duration::from_millis(500);

/// File extension of segments.
pub const SEGMENT_EXT: &str = "ts";

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

/// A finished segment file.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedSegment {
    /// Per-camera sequence number.
    pub seq: i64,
    /// File path.
    pub path: PathBuf,
    /// Wall-clock start.
    pub start: DateTime<Utc>,
    /// Wall-clock end.
    pub end: DateTime<Utc>,
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

#[derive(Debug)]
struct OpenFragment {
    seq: i64,
    path: PathBuf,
    start: DateTime<Utc>,
    running_time: u64,
}

/// Where segments of one camera go and how they are numbered.
#[derive(Clone, Debug)]
pub struct SegmentLayout {
    /// `<data>/segments/<tenant>/<camera>`.
    pub camera_dir: PathBuf,
    /// Sequence number of the first segment this pipeline writes.
    pub first_seq: i64,
}

impl SegmentLayout {
    /// `<camera_dir>/<YYYY-MM-DD>/<seq>.ts`.
    pub fn path_for(&self, seq: i64, at: DateTime<Utc>) -> PathBuf {
        self.camera_dir
            .join(at.format("%Y-%m-%d").to_string())
            .join(format!("{seq:010}.{SEGMENT_EXT}"))
    }
}

/// Highest segment sequence number found on disk for a camera (newest date folder only), so a restart
/// never overwrites a file written before a crash.
pub fn last_seq_on_disk(camera_dir: &Path) -> i64 {
    let newest_day = std::fs::read_dir(camera_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .max();
    let Some(day) = newest_day else { return 0 };
    std::fs::read_dir(day)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<i64>().ok())
        })
        .max()
        .unwrap_or(0)
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
    /// RTSP URL.
    pub url: String,
    /// Target segment length.
    pub segment: Duration,
    /// RTSP TCP timeout.
    pub tcp_timeout: Duration,
    /// Where segments go.
    pub layout: SegmentLayout,
}

type EventSink = Arc<dyn Fn(PipelineEvent) + Send + Sync>;

struct Shared {
    stats: Arc<FlowStats>,
    open: Mutex<Option<OpenFragment>>,
    layout: SegmentLayout,
    on_event: EventSink,
    eos: Mutex<Option<std::sync::mpsc::Sender<()>>>,
}

/// A running recording pipeline; drop after [`RecordingPipeline::stop`].
pub struct RecordingPipeline {
    pipeline: gst::Pipeline,
    shared: Arc<Shared>,
    eos_rx: Mutex<std::sync::mpsc::Receiver<()>>,
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
        src.set_property_from_str("protocols", "tcp");
        src.set_property(
            "tcp-timeout",
            u64::try_from(settings.tcp_timeout.as_micros()).unwrap_or(u64::MAX),
        );
        src.set_property("latency", 100u32);
        src.set_property("retry", 3u32);
        let depay = make("rtph264depay")?;
        let parse = make("h264parse")?;
        parse.set_property("config-interval", -1i32);
        // Whole access units downstream: one buffer per frame for the probe and the muxer.
        let au = make("capsfilter")?;
        au.set_property(
            "caps",
            gst::Caps::builder("video/x-h264")
                .field("stream-format", "byte-stream")
                .field("alignment", "au")
                .build(),
        );
        let mux = make("mpegtsmux")?;
        let sink = make("splitmuxsink")?;
        sink.set_property("muxer", &mux);
        // splitmuxsink cuts before a GOP that would overshoot the limit; the tolerance keeps timestamp
        // jitter from turning five 1 s GOPs into a 4 s segment.
        let limit = settings.segment + CUT_TOLERANCE;
        sink.set_property(
            "max-size-time",
            u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX),
        );
        sink.set_property("send-keyframe-requests", false);
        pipeline
            .add_many([&src, &depay, &parse, &au, &sink])
            .map_err(setup_err)?;
        gst::Element::link_many([&depay, &parse, &au, &sink]).map_err(setup_err)?;

        let (eos_tx, eos_rx) = std::sync::mpsc::channel();
        let shared = Arc::new(Shared {
            stats,
            open: Mutex::new(None),
            layout: settings.layout.clone(),
            on_event,
            eos: Mutex::new(Some(eos_tx)),
        });

        // Link the RTSP video stream once its codec is known; refuse anything but H.264.
        let depay_weak = depay.downgrade();
        let pipeline_weak = pipeline.downgrade();
        let shared_pad = Arc::clone(&shared);
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
                // Audio and metadata streams are not recorded; drain them so they never stall the session.
                if let (Some(pipeline), Ok(fake)) = (
                    pipeline_weak.upgrade(),
                    gst::ElementFactory::make("fakesink").build(),
                ) {
                    fake.set_property("sync", false);
                    fake.set_property("async", false);
                    if pipeline.add(&fake).is_ok() {
                        let _ = fake.sync_state_with_parent();
                        if let Some(sink_pad) = fake.static_pad("sink") {
                            let _ = pad.link(&sink_pad);
                        }
                    }
                }
                return;
            }
            if encoding != "H264" {
                (shared_pad.on_event)(PipelineEvent::Failed {
                    kind: FailureKind::UnsupportedCodec,
                    reason: format!("unsupported codec {encoding} (only H.264 is recorded)"),
                });
                return;
            }
            let Some(depay) = depay_weak.upgrade() else {
                return;
            };
            let Some(sink_pad) = depay.static_pad("sink") else {
                return;
            };
            if sink_pad.is_linked() {
                return;
            }
            if let Err(e) = pad.link(&sink_pad) {
                (shared_pad.on_event)(PipelineEvent::Failed {
                    kind: FailureKind::Transient,
                    reason: format!("cannot link video stream: {e:?}"),
                });
            }
        });

        // Count frames and bytes after the parser; stamp the wall clock for the watchdog.
        let parse_src = parse
            .static_pad("src")
            .ok_or_else(|| setup_err("h264parse has no src pad"))?;
        let stats_probe = Arc::clone(&shared.stats);
        parse_src.add_probe(gst::PadProbeType::BUFFER, move |_pad, info| {
            if let Some(buffer) = info.buffer() {
                stats_probe.frames.fetch_add(1, Ordering::Relaxed);
                stats_probe
                    .bytes
                    .fetch_add(buffer.size() as u64, Ordering::Relaxed);
                stats_probe
                    .last_frame_ms
                    .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });

        // Name each fragment `<date>/<seq>.ts`, creating the date folder.
        let shared_loc = Arc::clone(&shared);
        sink.connect("format-location-full", false, move |args| {
            let fragment: u32 = args.get(1).and_then(|v| v.get().ok()).unwrap_or(0);
            let seq = shared_loc.layout.first_seq + i64::from(fragment);
            let path = shared_loc.layout.path_for(seq, Utc::now());
            if let Some(dir) = path.parent()
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                tracing::warn!(path = %dir.display(), error = %e, "cannot create segment folder");
            }
            Some(path.to_string_lossy().into_owned().to_value())
        });

        let bus = pipeline
            .bus()
            .ok_or_else(|| setup_err("pipeline has no bus"))?;
        let shared_bus = Arc::clone(&shared);
        bus.set_sync_handler(move |_bus, msg| {
            shared_bus.on_message(msg);
            gst::BusSyncReply::Drop
        });

        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| setup_err(format!("cannot start pipeline: {e}")))?;
        Ok(Self {
            pipeline,
            shared,
            eos_rx: Mutex::new(eos_rx),
        })
    }

    /// Stops the pipeline. With `graceful`, first sends end-of-stream and waits up to `eos_wait` for the
    /// open segment to be finalised. Returns the segment that was still open, if any, closed at the last
    /// frame received. Blocking: call from a blocking thread.
    pub fn stop(&self, graceful: bool, eos_wait: Duration) -> Option<ClosedSegment> {
        if graceful {
            self.pipeline.send_event(gst::event::Eos::new());
            let rx = self.eos_rx.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = rx.recv_timeout(eos_wait);
        }
        let _ = self.pipeline.set_state(gst::State::Null);
        if let Some(bus) = self.pipeline.bus() {
            bus.unset_sync_handler();
        }
        let open = self
            .shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()?;
        let end = self.shared.stats.last_frame_at().unwrap_or(open.start);
        let size = std::fs::metadata(&open.path).map(|m| m.len()).unwrap_or(0);
        if end <= open.start || size == 0 {
            // Nothing playable was written; leave no empty file behind.
            let _ = std::fs::remove_file(&open.path);
            return None;
        }
        Some(ClosedSegment {
            seq: open.seq,
            path: open.path,
            start: open.start,
            end,
        })
    }

    /// Frame counters.
    pub fn stats(&self) -> &Arc<FlowStats> {
        &self.shared.stats
    }
}

impl Shared {
    fn on_message(&self, msg: &gst::Message) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let Some(s) = e.structure() else { return };
                let location = s.get::<String>("location").ok().map(PathBuf::from);
                let running_time = s.get::<u64>("running-time").unwrap_or(0);
                match (s.name().as_str(), location) {
                    ("splitmuxsink-fragment-opened", Some(path)) => {
                        let seq = seq_of(&path).unwrap_or(self.layout.first_seq);
                        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
                        *open = Some(OpenFragment {
                            seq,
                            path,
                            start: Utc::now(),
                            running_time,
                        });
                    }
                    ("splitmuxsink-fragment-closed", Some(path)) => {
                        let fragment = {
                            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
                            match open.as_ref() {
                                Some(f) if f.path == path => open.take(),
                                _ => None,
                            }
                        };
                        if let Some(f) = fragment {
                            let nanos = running_time.saturating_sub(f.running_time);
                            let len = chrono::Duration::nanoseconds(
                                i64::try_from(nanos).unwrap_or(i64::MAX),
                            );
                            (self.on_event)(PipelineEvent::SegmentClosed(ClosedSegment {
                                seq: f.seq,
                                path: f.path,
                                start: f.start,
                                end: f.start + len,
                            }));
                        }
                    }
                    _ => {}
                }
            }
            gst::MessageView::Error(err) => {
                let error = err.error();
                let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
                let kind = classify(&error, &debug);
                // The debug text starts with the C source location; keep only what is said after it.
                let detail = debug
                    .lines()
                    .filter(|l| !l.contains(".c("))
                    .next_back()
                    .unwrap_or_default();
                let reason = failure_reason(&error.to_string(), detail);
                (self.on_event)(PipelineEvent::Failed { kind, reason });
            }
            gst::MessageView::Eos(_) => {
                if let Some(tx) = self
                    .eos
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = tx.send(());
                }
                (self.on_event)(PipelineEvent::Eos);
            }
            _ => {}
        }
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

fn seq_of(path: &Path) -> Option<i64> {
    path.file_stem()?.to_str()?.parse().ok()
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
    fn layout_paths_and_disk_seq() {
        let dir = std::env::temp_dir().join(format!("vms-layout-{}", uuid::Uuid::now_v7()));
        let layout = SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        };
        let at = DateTime::from_timestamp(1_700_000_000, 0).expect("ts");
        let p = layout.path_for(7, at);
        assert!(p.ends_with("2023-11-14/0000000007.ts"), "{}", p.display());
        assert_eq!(last_seq_on_disk(&dir), 0);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, b"x").expect("write");
        std::fs::write(layout.path_for(3, at), b"x").expect("write");
        assert_eq!(last_seq_on_disk(&dir), 7);
        assert_eq!(seq_of(&p), Some(7));
        let _ = std::fs::remove_dir_all(dir);
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
