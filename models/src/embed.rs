//! Appearance embeddings: a model of the `embedding` family turns a crop of a frame (a detected
//! person, say) into a unit vector; two crops of the same thing have a cosine similarity near 1.
//! Events keep the embedding of what raised them, so the API can find the same person on other
//! cameras and at other times.

use crate::manifest::{Family, Manifest};
use crate::onnx::{check_input, inference_error, input_tensor, open_session};
use crate::preprocess::{check_frame, prepare};
use crate::{DetectorError, Frame, ModelError};
use ort::environment::Environment;
use ort::session::Session;

/// An embedding model with its session (one per thread: `run` takes `&mut self`).
pub struct OnnxEmbedder {
    manifest: Manifest,
    session: Session,
    input: String,
    output: String,
}

impl OnnxEmbedder {
    /// Opens an `embedding` manifest's model with `threads` intra-op threads, checking it has one
    /// input of the manifest's layout and one `[N, D]` output.
    pub fn open(manifest: Manifest, env: &Environment, threads: usize) -> Result<Self, ModelError> {
        let bad = |why: String| ModelError::Manifest(format!("{}: {why}", manifest.name));
        if manifest.family != Family::Embedding {
            return Err(bad(format!(
                "family {} is a detector, not an embedding",
                manifest.family
            )));
        }
        let session = open_session(&manifest, env, threads)?;
        let ([input], [output]) = (session.inputs(), session.outputs()) else {
            return Err(bad(format!(
                "an embedding model needs one input and one output; it has {} and {}",
                session.inputs().len(),
                session.outputs().len()
            )));
        };
        if let Some(shape) = output.dtype().tensor_shape()
            && shape.len() != 2
        {
            return Err(bad(format!("output shape {:?} is not [N, D]", &shape[..])));
        }
        check_input(input, &manifest)?;
        let (input, output) = (input.name().to_string(), output.name().to_string());
        Ok(Self {
            manifest,
            session,
            input,
            output,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The unit-length embedding of the part of `frame` inside `bbox` (`[x0, y0, x1, y1]` fractions;
    /// `None` for the whole frame).
    pub fn embed(
        &mut self,
        frame: &Frame<'_>,
        bbox: Option<[f32; 4]>,
    ) -> Result<Vec<f32>, DetectorError> {
        check_frame(frame)?;
        let crop = bbox.map(|b| crop(frame, b));
        let view = match &crop {
            Some((w, h, rgb)) => Frame {
                width: *w,
                height: *h,
                rgb,
            },
            None => frame.clone(),
        };
        let prepared = prepare(&view, &self.manifest.input)?;
        let value = input_tensor(prepared.data, &prepared.shape)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => value])
            .map_err(inference_error)?;
        let (_, data) = outputs[self.output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(inference_error)?;
        Ok(normalised(data.to_vec()))
    }
}

/// The pixels of `frame` inside `bbox`, at least 1x1.
fn crop(frame: &Frame<'_>, b: [f32; 4]) -> (u32, u32, Vec<u8>) {
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let (w_max, h_max) = (frame.width.max(1), frame.height.max(1));
    let x0 = ((b[0].clamp(0.0, 1.0) * fw) as u32).min(w_max - 1);
    let y0 = ((b[1].clamp(0.0, 1.0) * fh) as u32).min(h_max - 1);
    let x1 = ((b[2].clamp(0.0, 1.0) * fw).ceil() as u32).clamp(x0 + 1, w_max);
    let y1 = ((b[3].clamp(0.0, 1.0) * fh).ceil() as u32).clamp(y0 + 1, h_max);
    let (w, h) = (x1 - x0, y1 - y0);
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in y0..y1 {
        let row = ((y * frame.width + x0) * 3) as usize;
        rgb.extend_from_slice(&frame.rgb[row..row + (w * 3) as usize]);
    }
    (w, h, rgb)
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in &mut v {
            *x /= norm;
        }
    }
    v
}

/// Cosine similarity of two embeddings (1: the same direction; unit vectors make it a dot product).
pub fn similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_stay_inside_the_frame() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|v| v as u8).collect();
        let f = Frame {
            width: 4,
            height: 3,
            rgb: &rgb,
        };
        let (w, h, px) = crop(&f, [0.5, 0.0, 1.0, 0.4]);
        assert_eq!((w, h), (2, 2));
        assert_eq!(&px[..6], &rgb[6..12]);
        let (w, h, _) = crop(&f, [2.0, 2.0, 3.0, 3.0]);
        assert_eq!((w, h), (1, 1), "a box outside still yields a pixel");
        let (w, h, _) = crop(&f, [1.0, 1.0, 0.0, 0.0]);
        assert_eq!((w, h), (1, 1), "an inside-out box too");
        let (w, h, _) = crop(&f, [f32::NAN, -1.0, f32::INFINITY, 0.5]);
        assert!(w >= 1 && h >= 1);
        assert!((similarity(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(similarity(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
