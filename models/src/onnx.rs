//! [`OnnxDetector`]: any ONNX model of a known family, described by its [`Manifest`], run through one
//! ONNX Runtime session (`Session::run` takes `&mut self`: one detector per worker thread).

use crate::manifest::{BoxUnits, Family, Layout, Manifest};
use crate::postprocess::{
    RawBox, blazeface_anchors, decode_blazeface, decode_ssd, decode_yolo, nms,
};
use crate::preprocess::{TensorData, prepare};
use crate::{Detection, Detector, DetectorError, Frame, InputSpec, ModelError};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

/// SSD output names, by the suffix TensorFlow gives them.
const SSD_OUTPUTS: [&str; 4] = ["boxes", "scores", "classes", "num_detections"];

/// A detector running an ONNX model.
pub struct OnnxDetector {
    manifest: Manifest,
    session: Session,
    input: String,
    /// SSD: boxes, scores, classes, count; YOLO: the one output.
    outputs: Vec<String>,
}

fn runtime_error(e: impl std::fmt::Display) -> ModelError {
    ModelError::Runtime(e.to_string())
}

/// An inference failure of ONNX Runtime, as a detector error.
pub(crate) fn inference_error(e: ort::Error) -> DetectorError {
    DetectorError::Inference(e.to_string())
}

/// The input tensor of a model run: `data` shaped `shape`.
pub(crate) fn input_tensor(
    data: TensorData,
    shape: &[usize],
) -> Result<ort::value::DynValue, DetectorError> {
    let shape: Vec<i64> = shape.iter().map(|d| *d as i64).collect();
    Ok(match data {
        TensorData::U8(v) => Tensor::from_array((shape, v))
            .map_err(inference_error)?
            .into_dyn(),
        TensorData::F32(v) => Tensor::from_array((shape, v))
            .map_err(inference_error)?
            .into_dyn(),
    })
}

/// Refuses a model input whose shape does not fit the manifest's layout with three channels.
pub(crate) fn check_input(
    input: &ort::value::Outlet,
    manifest: &Manifest,
) -> Result<(), ModelError> {
    if let Some(shape) = input.dtype().tensor_shape() {
        let channels = match manifest.input.layout {
            Layout::Nhwc => shape.get(3),
            Layout::Nchw => shape.get(1),
        };
        if shape.len() != 4 || channels.is_some_and(|c| *c > 0 && *c != 3) {
            return Err(ModelError::Manifest(format!(
                "{}: input shape {:?} does not fit layout {:?} with 3 channels",
                manifest.name,
                &shape[..],
                manifest.input.layout
            )));
        }
    }
    Ok(())
}

/// An ONNX Runtime session of the manifest's model with `threads` intra-op threads.
pub(crate) fn open_session(
    manifest: &Manifest,
    env: &Environment,
    threads: usize,
) -> Result<Session, ModelError> {
    Session::builder(env)
        .map_err(runtime_error)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(runtime_error)?
        .with_intra_threads(threads.max(1))
        .map_err(runtime_error)?
        .commit_from_file(&manifest.file)
        .map_err(|e| {
            ModelError::Manifest(format!(
                "{}: cannot load {}: {e}",
                manifest.name,
                manifest.file.display()
            ))
        })
}

impl OnnxDetector {
    /// Opens the manifest's model with `threads` intra-op threads and checks its inputs and outputs
    /// against the manifest.
    pub fn open(manifest: Manifest, env: &Environment, threads: usize) -> Result<Self, ModelError> {
        match manifest.family {
            Family::Embedding => {
                return Err(ModelError::Manifest(format!(
                    "{}: an embedding model is not a detector (open it with vms_models::OnnxEmbedder)",
                    manifest.name
                )));
            }
            Family::PpOcr => {
                return Err(ModelError::Manifest(format!(
                    "{}: a ppocr model is two networks (open it with vms_models::OcrDetector)",
                    manifest.name
                )));
            }
            _ => {}
        }
        let session = open_session(&manifest, env, threads)?;
        let bad = |why: String| ModelError::Manifest(format!("{}: {why}", manifest.name));
        let [input] = session.inputs() else {
            return Err(bad(format!(
                "model has {} inputs, expected 1",
                session.inputs().len()
            )));
        };
        check_input(input, &manifest)?;
        let names: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        let outputs = match manifest.family {
            Family::Ssd => SSD_OUTPUTS
                .iter()
                .map(|want| {
                    names
                        .iter()
                        .find(|n| n.trim_end_matches(":0").ends_with(want))
                        .cloned()
                        .ok_or_else(|| {
                            bad(format!(
                                "ssd model needs an output named *{want}; it has {names:?}"
                            ))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Family::Yolo => {
                let [out] = session.outputs() else {
                    return Err(bad(format!(
                        "yolo model needs one output; it has {names:?}"
                    )));
                };
                if let Some(shape) = out.dtype().tensor_shape()
                    && shape.len() == 3
                    && shape[1] > 0
                    && shape[2] > 0
                {
                    let labels = manifest.labels.len() as i64;
                    if shape[1] != 4 + labels && shape[2] != 5 + labels {
                        return Err(bad(format!(
                            "output shape {:?} does not match {labels} labels (expected [N, {}, A] or [N, A, {}])",
                            &shape[..],
                            4 + labels,
                            5 + labels
                        )));
                    }
                }
                vec![out.name().to_string()]
            }
            Family::Embedding | Family::PpOcr => {
                return Err(bad("not a single-network detector".into()));
            }
            Family::BlazeFace => {
                let find = |want: &str, width: i64| {
                    session
                        .outputs()
                        .iter()
                        .find(|o| {
                            o.name().contains(want)
                                || o.dtype().tensor_shape().is_some_and(|s| s.last() == Some(&width))
                        })
                        .map(|o| o.name().to_string())
                        .ok_or_else(|| {
                            bad(format!(
                                "blazeface model needs outputs *regressors [1, A, 16] and *classificators [1, A, 1]; it has {names:?}"
                            ))
                        })
                };
                if manifest.input.width != manifest.input.height {
                    return Err(bad(format!(
                        "blazeface input must be square, got {}x{}",
                        manifest.input.width, manifest.input.height
                    )));
                }
                vec![find("regressors", 16)?, find("classificators", 1)?]
            }
        };
        let input = input.name().to_string();
        Ok(Self {
            manifest,
            session,
            input,
            outputs,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn run(&mut self, data: TensorData, shape: [usize; 4]) -> Result<Vec<RawBox>, DetectorError> {
        let value = input_tensor(data, &shape)?;
        let m = &self.manifest;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => value])
            .map_err(inference_error)?;
        let f32s = |name: &str| -> Result<(Vec<i64>, Vec<f32>), DetectorError> {
            let (shape, data) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(inference_error)?;
            Ok((shape.to_vec(), data.to_vec()))
        };
        match m.family {
            Family::Ssd => {
                let (_, boxes) = f32s(&self.outputs[0])?;
                let (_, scores) = f32s(&self.outputs[1])?;
                let (_, classes) = f32s(&self.outputs[2])?;
                let (_, count) = f32s(&self.outputs[3])?;
                let count = count.first().copied().unwrap_or(0.0).max(0.0) as usize;
                Ok(decode_ssd(
                    &boxes,
                    &scores,
                    &classes,
                    count,
                    m.labels.len(),
                    m.thresholds.score,
                ))
            }
            Family::Yolo => {
                let (shape, data) = f32s(&self.outputs[0])?;
                let [_, d1, d2] = shape[..] else {
                    return Err(DetectorError::Inference(format!(
                        "yolo output has shape {shape:?}, expected 3 dimensions"
                    )));
                };
                let scale = match m.box_units {
                    BoxUnits::Pixels => [1.0 / m.input.width as f32, 1.0 / m.input.height as f32],
                    BoxUnits::Normalised => [1.0, 1.0],
                };
                let boxes = decode_yolo(
                    &data,
                    d1 as usize,
                    d2 as usize,
                    m.labels.len(),
                    m.thresholds.score,
                    scale,
                )
                .map_err(DetectorError::Inference)?;
                Ok(nms(boxes, m.thresholds.iou))
            }
            Family::BlazeFace => {
                let (_, regressors) = f32s(&self.outputs[0])?;
                let (_, logits) = f32s(&self.outputs[1])?;
                let anchors = blazeface_anchors(m.input.width);
                let boxes = decode_blazeface(
                    &regressors,
                    &logits,
                    &anchors,
                    m.input.width as f32,
                    m.thresholds.score,
                )
                .map_err(DetectorError::Inference)?;
                Ok(nms(boxes, m.thresholds.iou))
            }
            Family::Embedding | Family::PpOcr => Ok(Vec::new()),
        }
    }
}

impl Detector for OnnxDetector {
    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn input_spec(&self) -> InputSpec {
        self.manifest.input.spec()
    }

    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        let prepared = prepare(frame, &self.manifest.input)?;
        let placement = prepared.placement;
        let boxes = self.run(prepared.data, prepared.shape)?;
        Ok(boxes
            .into_iter()
            .map(|b| Detection {
                label: self
                    .manifest
                    .labels
                    .get(b.class)
                    .cloned()
                    .unwrap_or_default(),
                score: b.score,
                bbox: placement.to_frame(b.bbox),
            })
            .collect())
    }
}
