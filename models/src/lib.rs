//! Machine-learning side of the VMS: the [`Detector`] trait every detector implements; ONNX Runtime
//! (loaded dynamically, see [`runtime`]); model manifests ([`manifest`]) so a new model of a known
//! family needs no code; pre-processing (resize, letterbox, layout, normalisation) and the SSD and YOLO
//! output families with non-maximum suppression; and the zoo in `models/zoo/`.

pub mod builtin;
mod embed;
mod fair_queue;
mod manifest;
mod ocr;
mod onnx;
mod postprocess;
mod preprocess;
pub mod registry;
pub mod runtime;
mod tracker;
mod worker;

// `builtin`, `registry` and `runtime` are public namespaces of functions (the pixel detectors, the
// model zoo, ONNX Runtime's loading); the other modules are private and re-export their surface.
pub use embed::{OnnxEmbedder, similarity};
pub use fair_queue::FairQueue;
pub use manifest::{BoxUnits, Dtype, Family, InputConfig, Layout, Manifest, Resize, Thresholds};
pub use ocr::{OcrDetector, ctc_greedy, plate_text, text_boxes};
pub use onnx::{MAX_BATCH, OnnxDetector};
pub use postprocess::{
    RawBox, blazeface_anchors, decode_blazeface, decode_ssd, decode_yolo, iou, nms,
};
pub use preprocess::{MAX_SIDE, Placement, Prepared, TensorData, check_frame, prepare};
pub use tracker::{Crossing, Track, Tracker, TrackerConfig, crossing, foot};
pub use worker::{
    Batching, DetectResult, DetectorFactory, DropReason, ModelWorker, OwnedFrame, Priority,
    QueueObserver, Submission, WorkerLoad, WorkerOptions, WorkerStats,
};

use thiserror::Error;

/// Why a model could not be loaded.
#[derive(Debug, Error)]
pub enum ModelError {
    /// ONNX Runtime is missing or failed.
    #[error("{0}")]
    Runtime(String),
    /// The manifest or the model does not hold together (the message names the problem).
    #[error("{0}")]
    Manifest(String),
}

/// Pixel layout and size a detector wants its frames in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A frame handed to a detector: packed RGB8, row-major.
#[derive(Clone, Debug)]
pub struct Frame<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: &'a [u8],
}

/// One thing a detector found, with a box in normalised coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Class label.
    pub label: String,
    /// Confidence in `[0, 1]`.
    pub score: f32,
    /// Box `[x_min, y_min, x_max, y_max]`, each in `[0, 1]`.
    pub bbox: [f32; 4],
}

/// Why a detector could not run.
#[derive(Clone, Debug, Error)]
pub enum DetectorError {
    /// The frame does not match what the detector accepts.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// The model failed.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The frame waited past its deadline and was not run.
    #[error("the frame waited past its deadline")]
    Expired,
}

/// A detector: plain and synchronous; a generic worker actor runs it.
pub trait Detector: Send {
    /// Unique name, as used in rules.
    fn name(&self) -> &str;
    /// Frame size the detector wants.
    fn input_spec(&self) -> InputSpec;
    /// Runs on one frame.
    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError>;
    /// Most frames [`Detector::detect_batch`] runs in one call (1: it runs them one by one).
    fn max_batch(&self) -> usize {
        1
    }
    /// Runs on several frames, answering each in order; by default one by one. A model with a
    /// batch dimension runs them in one call.
    fn detect_batch(&mut self, frames: &[Frame<'_>]) -> Vec<Result<Vec<Detection>, DetectorError>> {
        frames.iter().map(|f| self.detect(f)).collect()
    }
}
