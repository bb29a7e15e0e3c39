//! [`OnnxDetector`]: any ONNX model of a known family, described by its [`Manifest`], run through one
//! ONNX Runtime session (`Session::run` takes `&mut self`: one detector per worker thread).

use crate::manifest::{BoxUnits, Family, Layout, Manifest};
use crate::postprocess::{
    RawBox, blazeface_anchors, decode_blazeface, decode_ssd, decode_yolo, nms,
};
use crate::preprocess::{Placement, TensorData, prepare};
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
    /// Whether the input's first dimension is free, so several frames run in one call.
    batches: bool,
}

/// Most frames one batched run takes.
pub const MAX_BATCH: usize = 64;

/// One output of a run: its shape and values.
type Output = (Vec<i64>, Vec<f32>);

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
        let batches = input
            .dtype()
            .tensor_shape()
            .and_then(|shape| shape.first().copied())
            .is_some_and(|first| first < 0);
        let input = input.name().to_string();
        Ok(Self {
            manifest,
            session,
            input,
            outputs,
            batches,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Whether several frames can run in one call (the model's batch dimension is free).
    pub fn batches(&self) -> bool {
        self.batches
    }

    /// Runs the model on `data` shaped `shape` (`shape[0]` frames) and returns its outputs.
    fn infer(&mut self, data: TensorData, shape: [usize; 4]) -> Result<Vec<Output>, DetectorError> {
        let value = input_tensor(data, &shape)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => value])
            .map_err(inference_error)?;
        self.outputs
            .iter()
            .map(|name| {
                let (shape, data) = outputs[name.as_str()]
                    .try_extract_tensor::<f32>()
                    .map_err(inference_error)?;
                Ok((shape.to_vec(), data.to_vec()))
            })
            .collect()
    }

    /// The boxes of frame `index` of `frames` in `outputs`.
    fn decode(
        &self,
        outputs: &[Output],
        index: usize,
        frames: usize,
    ) -> Result<Vec<RawBox>, DetectorError> {
        let m = &self.manifest;
        // Frame `index`'s part of output `o` (every output's first dimension is the batch).
        let part = |o: usize| -> Result<&[f32], DetectorError> {
            let data = &outputs
                .get(o)
                .ok_or_else(|| DetectorError::Inference(format!("output {o} missing")))?
                .1;
            let each = data.len() / frames.max(1);
            data.get(index * each..(index + 1) * each).ok_or_else(|| {
                DetectorError::Inference(format!("output {o} holds no frame {index}"))
            })
        };
        match m.family {
            Family::Ssd => {
                let count = part(3)?.first().copied().unwrap_or(0.0).max(0.0) as usize;
                Ok(decode_ssd(
                    part(0)?,
                    part(1)?,
                    part(2)?,
                    count,
                    m.labels.len(),
                    m.thresholds.score,
                ))
            }
            Family::Yolo => {
                let shape = &outputs[0].0;
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
                    part(0)?,
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
                let anchors = blazeface_anchors(m.input.width);
                let boxes = decode_blazeface(
                    part(0)?,
                    part(1)?,
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

    /// Maps boxes back onto the frame they were found in.
    fn detections(&self, boxes: Vec<RawBox>, placement: &Placement) -> Vec<Detection> {
        boxes
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
            .collect()
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
        let outputs = self.infer(prepared.data, prepared.shape)?;
        let boxes = self.decode(&outputs, 0, 1)?;
        Ok(self.detections(boxes, &prepared.placement))
    }

    fn max_batch(&self) -> usize {
        if self.batches { MAX_BATCH } else { 1 }
    }

    /// With a free batch dimension, one run for all the frames whose input is prepared the same
    /// way; otherwise (or for a lone frame) one run each.
    fn detect_batch(&mut self, frames: &[Frame<'_>]) -> Vec<Result<Vec<Detection>, DetectorError>> {
        if !self.batches || frames.len() < 2 {
            return frames.iter().map(|f| self.detect(f)).collect();
        }
        let mut prepared = Vec::with_capacity(frames.len());
        for f in frames {
            match prepare(f, &self.manifest.input) {
                Ok(p) => prepared.push(p),
                // A frame that cannot be prepared fails alone: run the others one by one.
                Err(_) => return frames.iter().map(|f| self.detect(f)).collect(),
            }
        }
        let shape = prepared[0].shape;
        if prepared.iter().any(|p| p.shape != shape) {
            return frames.iter().map(|f| self.detect(f)).collect();
        }
        let n = prepared.len();
        let mut placements = Vec::with_capacity(n);
        let mut frames_data = prepared.into_iter().map(|p| {
            placements.push(p.placement);
            p.data
        });
        let Some(mut data) = frames_data.next() else {
            return Vec::new();
        };
        frames_data.for_each(|more| data.append(more));
        let outputs = match self.infer(data, [n, shape[1], shape[2], shape[3]]) {
            Ok(o) => o,
            Err(e) => return (0..n).map(|_| Err(e.clone())).collect(),
        };
        placements
            .iter()
            .enumerate()
            .map(|(i, placement)| {
                self.decode(&outputs, i, n)
                    .map(|boxes| self.detections(boxes, placement))
            })
            .collect()
    }
}
