//! Machine-learning side of the VMS: the [`Detector`] trait every detector implements; ONNX Runtime
//! (loaded dynamically, see [`runtime`]); model manifests ([`manifest`]) so a new model of a known
//! family needs no code; pre-processing (resize, letterbox, layout, normalisation) and the SSD and YOLO
//! output families with non-maximum suppression; and the zoo in `models/zoo/`.

pub mod builtin;
pub mod embed;
pub mod manifest;
pub mod ocr;
pub mod onnx;
pub mod postprocess;
pub mod preprocess;
pub mod registry;
pub mod runtime;
pub mod tracker;
pub mod worker;

pub use manifest::{Family, Manifest};
pub use onnx::OnnxDetector;
pub use worker::{ModelWorker, OwnedFrame, Priority};

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
#[derive(Debug, Error)]
pub enum DetectorError {
    /// The frame does not match what the detector accepts.
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// The model failed.
    #[error("inference failed: {0}")]
    Inference(String),
}

/// A detector: plain and synchronous; a generic worker actor runs it.
pub trait Detector: Send {
    /// Unique name, as used in rules.
    fn name(&self) -> &str;
    /// Frame size the detector wants.
    fn input_spec(&self) -> InputSpec;
    /// Runs on one frame.
    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError>;
}
