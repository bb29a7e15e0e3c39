//! Model manifests: `models/zoo/<name>/model.toml` describes an ONNX model of a known family so that a
//! new model needs no code. Loading checks the file exists, the family is known, and (when the session
//! opens) that the model's inputs and outputs match the manifest.

use crate::ModelError;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Output conventions a detector can decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// TensorFlow Object Detection API SSD: `detection_boxes` (ymin, xmin, ymax, xmax, normalised),
    /// `detection_scores`, `detection_classes` (1-based), `num_detections`.
    Ssd,
    /// YOLOv5/v8 single output: `[N, 4 + C, A]` (v8) or `[N, A, 5 + C]` (v5, with objectness); boxes are
    /// centre x, centre y, width, height; decoded with non-maximum suppression.
    Yolo,
    /// MediaPipe BlazeFace: `regressors` `[1, 896, 16]` (box offsets from fixed anchors) and
    /// `classificators` `[1, 896, 1]` (logits); anchors of strides 8 and 16 over the input.
    BlazeFace,
    /// An appearance embedding, not a detector: one output `[N, D]`, compared by cosine similarity
    /// (see [`crate::embed`]).
    Embedding,
    /// PP-OCR text reading: a DB text detector (`file`, probability map `[1, 1, H, W]`) and a CTC
    /// recogniser (`recogniser`, `[1, T, classes]`, its character list in the model's metadata).
    PpOcr,
}

impl Family {
    /// Every family, as written in manifests.
    pub const ALL: [Family; 5] = [
        Family::Ssd,
        Family::Yolo,
        Family::BlazeFace,
        Family::Embedding,
        Family::PpOcr,
    ];

    /// The family as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssd => "ssd",
            Self::Yolo => "yolo",
            Self::BlazeFace => "blazeface",
            Self::Embedding => "embedding",
            Self::PpOcr => "ppocr",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Family {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                ModelError::Manifest(format!(
                    "unknown family {s:?}; known families: {}",
                    Self::ALL.map(Family::as_str).join(", ")
                ))
            })
    }
}

/// Memory layout of the input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[N, H, W, C]`.
    Nhwc,
    /// `[N, C, H, W]`.
    Nchw,
}

/// Element type of the input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// Raw 0-255 bytes.
    U8,
    /// `(pixel / 255 - mean) / std` per channel.
    F32,
}

/// How a frame is fitted to the input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Scale each axis independently.
    Stretch,
    /// Keep the aspect ratio and pad (grey 114) to the input size.
    Letterbox,
}

/// Units of the boxes a YOLO model outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxUnits {
    /// Pixels of the network input (Ultralytics exports).
    Pixels,
    /// Fractions of the network input.
    Normalised,
}

/// The input a model wants.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Tensor layout.
    pub layout: Layout,
    /// Element type.
    pub dtype: Dtype,
    /// Fitting.
    #[serde(default = "stretch")]
    pub resize: Resize,
    /// Per-channel mean (RGB) for `f32` inputs.
    #[serde(default = "zeros")]
    pub mean: [f32; 3],
    /// Per-channel standard deviation (RGB) for `f32` inputs.
    #[serde(default = "ones")]
    pub std: [f32; 3],
}

impl InputConfig {
    /// The frame size a detector of this input wants.
    pub fn spec(&self) -> crate::InputSpec {
        crate::InputSpec {
            width: self.width,
            height: self.height,
        }
    }
}

fn stretch() -> Resize {
    Resize::Stretch
}
fn zeros() -> [f32; 3] {
    [0.0; 3]
}
fn ones() -> [f32; 3] {
    [1.0; 3]
}
fn default_score() -> f32 {
    0.5
}
fn default_iou() -> f32 {
    0.45
}
fn pixels() -> BoxUnits {
    BoxUnits::Pixels
}

/// Decision thresholds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Lowest score reported.
    #[serde(default = "default_score")]
    pub score: f32,
    /// Overlap above which non-maximum suppression drops the weaker box.
    #[serde(default = "default_iou")]
    pub iou: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            score: default_score(),
            iou: default_iou(),
        }
    }
}

/// `model.toml` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    family: String,
    #[serde(default = "default_file")]
    file: String,
    licence: String,
    labels: Vec<String>,
    input: InputConfig,
    #[serde(default)]
    thresholds: Thresholds,
    #[serde(default = "pixels")]
    box_units: BoxUnits,
    #[serde(default)]
    recogniser: Option<String>,
}

fn default_file() -> String {
    "model.onnx".into()
}

/// A checked manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Detector name, used in rules (`[a-z0-9_-]{1,64}`).
    pub name: String,
    /// Model version.
    pub version: String,
    /// Output convention.
    pub family: Family,
    /// Path of the ONNX file.
    pub file: PathBuf,
    /// Licence of the model (SPDX id); its text is in `LICENSE` beside the manifest.
    pub licence: String,
    /// Class labels, in the model's class order.
    pub labels: Vec<String>,
    /// Input.
    pub input: InputConfig,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// YOLO box units.
    pub box_units: BoxUnits,
    /// PP-OCR: path of the text recogniser.
    pub recogniser: Option<PathBuf>,
}

impl Manifest {
    /// Reads and checks `dir/model.toml`.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("model.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ModelError::Manifest(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text, dir)
            .map_err(|e| ModelError::Manifest(format!("{}: {e}", path.display())))
    }

    /// Parses manifest text whose files are relative to `dir`.
    pub fn parse(text: &str, dir: &Path) -> Result<Self, String> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| e.message().to_string())?;
        let family: Family = raw.family.parse().map_err(|e: ModelError| e.to_string())?;
        let name_ok = !raw.name.is_empty()
            && raw.name.len() <= 64
            && raw
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
        if !name_ok {
            return Err(format!("name {:?} must match [a-z0-9_-]{{1,64}}", raw.name));
        }
        if raw.labels.is_empty() && !matches!(family, Family::Embedding | Family::PpOcr) {
            return Err("labels must list at least one class".into());
        }
        let i = &raw.input;
        if !(1..=4096).contains(&i.width) || !(1..=4096).contains(&i.height) {
            return Err("input.width and input.height must be 1-4096".into());
        }
        if i.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err("input.std must be non-zero".into());
        }
        let t = &raw.thresholds;
        if !(0.0..=1.0).contains(&t.score) || !(0.0..=1.0).contains(&t.iou) {
            return Err("thresholds.score and thresholds.iou must be in [0, 1]".into());
        }
        let file = dir.join(&raw.file);
        if !file.is_file() {
            return Err(format!("model file {} is missing", file.display()));
        }
        let recogniser = match (family, &raw.recogniser) {
            (Family::PpOcr, None) => {
                return Err("a ppocr model needs recogniser = \"<file>.onnx\"".into());
            }
            (Family::PpOcr, Some(r)) => {
                let path = dir.join(r);
                if !path.is_file() {
                    return Err(format!("recogniser file {} is missing", path.display()));
                }
                Some(path)
            }
            (_, Some(_)) => return Err("recogniser is only for the ppocr family".into()),
            (_, None) => None,
        };
        Ok(Self {
            name: raw.name,
            version: raw.version,
            family,
            file,
            licence: raw.licence,
            labels: raw.labels,
            input: raw.input,
            thresholds: raw.thresholds,
            recogniser,
            box_units: raw.box_units,
        })
    }
}
