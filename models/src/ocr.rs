//! Text reading with PP-OCR (licence plates): a DB text detector finds regions of text in the frame,
//! then a CTC recogniser reads each region. A detection's label is the text it read (letters and
//! digits, upper case), its score the region's score times the mean character confidence, and its box
//! the region. Regions are axis-aligned (plates seen roughly straight on).

use crate::manifest::{Family, Manifest};
use crate::onnx::{inference_error, input_tensor, open_session};
use crate::preprocess::{TensorData, check_frame, prepare};
use crate::{Detection, Detector, DetectorError, Frame, InputSpec, ModelError};
use ort::environment::Environment;
use ort::session::Session;

/// Probability above which a map pixel is text.
const TEXT_PIXEL: f32 = 0.3;
/// How far a region is grown back (DB shrinks text when it trains): area x ratio / perimeter.
const UNCLIP_RATIO: f32 = 1.5;
/// Recogniser input height, and its widest input.
const REC_HEIGHT: usize = 48;
const REC_MAX_WIDTH: usize = 320;
/// Shortest text kept.
const MIN_CHARS: usize = 2;

/// The PP-OCR pair, as one detector.
pub struct OcrDetector {
    manifest: Manifest,
    det: Session,
    rec: Session,
    det_io: (String, String),
    rec_io: (String, String),
    /// Characters of the recogniser's classes 1..; class 0 is the CTC blank.
    charset: Vec<String>,
}

fn io_names(session: &Session, what: &str, name: &str) -> Result<(String, String), ModelError> {
    match (session.inputs(), session.outputs()) {
        ([i], [o]) => Ok((i.name().to_string(), o.name().to_string())),
        (i, o) => Err(ModelError::Manifest(format!(
            "{name}: the {what} needs one input and one output; it has {} and {}",
            i.len(),
            o.len()
        ))),
    }
}

impl OcrDetector {
    /// Opens a `ppocr` manifest's detector and recogniser with `threads` intra-op threads each; the
    /// recogniser must carry its character list (`character` metadata).
    pub fn open(manifest: Manifest, env: &Environment, threads: usize) -> Result<Self, ModelError> {
        let name = manifest.name.clone();
        let bad = |why: String| ModelError::Manifest(format!("{name}: {why}"));
        if manifest.family != Family::PpOcr {
            return Err(bad(format!("family {} is not ppocr", manifest.family)));
        }
        let det = open_session(&manifest, env, threads)?;
        let rec_manifest = Manifest {
            file: manifest
                .recogniser
                .clone()
                .ok_or_else(|| bad("no recogniser file".into()))?,
            ..manifest.clone()
        };
        let rec = open_session(&rec_manifest, env, threads)?;
        let det_io = io_names(&det, "text detector", &name)?;
        let rec_io = io_names(&rec, "text recogniser", &name)?;
        let charset: Vec<String> = rec
            .metadata()
            .ok()
            .and_then(|m| m.custom("character"))
            .ok_or_else(
                || bad("the recogniser carries no `character` list in its metadata".into()),
            )?
            .lines()
            .map(str::to_string)
            .collect();
        if charset.is_empty() {
            return Err(bad("the recogniser's character list is empty".into()));
        }
        Ok(Self {
            manifest,
            det,
            rec,
            det_io,
            rec_io,
            charset,
        })
    }

    /// Text regions of the frame as `[x0, y0, x1, y1]` fractions with their scores.
    fn regions(&mut self, frame: &Frame<'_>) -> Result<Vec<([f32; 4], f32)>, DetectorError> {
        let prepared = prepare(frame, &self.manifest.input)?;
        let placement = prepared.placement;
        let value = input_tensor(prepared.data, &prepared.shape)?;
        let outputs = self
            .det
            .run(ort::inputs![self.det_io.0.as_str() => value])
            .map_err(inference_error)?;
        let (shape, map) = outputs[self.det_io.1.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(inference_error)?;
        let (h, w) = match shape[..] {
            [_, _, h, w] | [_, h, w] => (h as usize, w as usize),
            _ => {
                return Err(DetectorError::Inference(format!(
                    "text map has shape {shape:?}"
                )));
            }
        };
        if map.len() < h * w {
            return Err(DetectorError::Inference("text map is short".into()));
        }
        Ok(
            text_boxes(&map[..h * w], w, h, self.manifest.thresholds.score)
                .into_iter()
                .map(|(b, s)| (placement.to_frame(b), s))
                .collect(),
        )
    }

    /// Reads the text in `bbox` of `frame`: (text, mean character confidence).
    fn read(&mut self, frame: &Frame<'_>, bbox: [f32; 4]) -> Result<(String, f32), DetectorError> {
        let input = rec_input(frame, bbox);
        let value = input_tensor(TensorData::F32(input), &[1, 3, REC_HEIGHT, REC_MAX_WIDTH])?;
        let outputs = self
            .rec
            .run(ort::inputs![self.rec_io.0.as_str() => value])
            .map_err(inference_error)?;
        let (shape, probs) = outputs[self.rec_io.1.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(inference_error)?;
        let [_, steps, classes] = shape[..] else {
            return Err(DetectorError::Inference(format!(
                "recogniser output has shape {shape:?}"
            )));
        };
        Ok(ctc_greedy(
            probs,
            steps as usize,
            classes as usize,
            &self.charset,
        ))
    }
}

/// The recogniser's input for a region: the crop scaled to 48 px high (keeping its aspect, at most
/// 320 wide), `(pixel / 255 - 0.5) / 0.5`, NCHW, zero-padded on the right.
fn rec_input(frame: &Frame<'_>, b: [f32; 4]) -> Vec<f32> {
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let x0 = (b[0].clamp(0.0, 1.0) * fw).floor();
    let y0 = (b[1].clamp(0.0, 1.0) * fh).floor();
    let x1 = (b[2].clamp(0.0, 1.0) * fw).ceil().max(x0 + 1.0);
    let y1 = (b[3].clamp(0.0, 1.0) * fh).ceil().max(y0 + 1.0);
    let (cw, ch) = (x1 - x0, y1 - y0);
    let width = ((REC_HEIGHT as f32 * cw / ch).ceil() as usize).clamp(1, REC_MAX_WIDTH);
    let plane = REC_HEIGHT * REC_MAX_WIDTH;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..REC_HEIGHT {
        let sy = (y0 + (y as f32 + 0.5) * ch / REC_HEIGHT as f32).min(fh - 1.0) as usize;
        for x in 0..width {
            let sx = (x0 + (x as f32 + 0.5) * cw / width as f32).min(fw - 1.0) as usize;
            let i = (sy * frame.width as usize + sx) * 3;
            for c in 0..3 {
                out[c * plane + y * REC_MAX_WIDTH + x] =
                    (f32::from(frame.rgb[i + c]) / 255.0 - 0.5) / 0.5;
            }
        }
    }
    out
}

/// Regions of a DB probability map (`w` x `h`): connected pixels above [`TEXT_PIXEL`] whose mean
/// probability reaches `min_score`, grown back by the unclip ratio; boxes in fractions of the map.
pub fn text_boxes(map: &[f32], w: usize, h: usize, min_score: f32) -> Vec<([f32; 4], f32)> {
    let mut seen = vec![false; w * h];
    let mut boxes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if seen[start] || map[start] <= TEXT_PIXEL {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let (mut n, mut sum) = (0usize, 0f32);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            n += 1;
            sum += map[i];
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            let mut visit = |j: usize| {
                if !seen[j] && map[j] > TEXT_PIXEL {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        let score = sum / n as f32;
        if n < 10 || score < min_score {
            continue;
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        let grow = bw * bh * UNCLIP_RATIO / (2.0 * (bw + bh));
        let b = [
            (x0 as f32 - grow) / w as f32,
            (y0 as f32 - grow) / h as f32,
            (x1 as f32 + 1.0 + grow) / w as f32,
            (y1 as f32 + 1.0 + grow) / h as f32,
        ]
        .map(|v| v.clamp(0.0, 1.0));
        boxes.push((b, score));
    }
    boxes
}

/// Greedy CTC decoding of `steps` x `classes` probabilities: the best class per step, repeats
/// collapsed, blanks (class 0) dropped; class `k` is `charset[k - 1]`, the one past it a space.
/// Returns the text and the mean probability of its characters.
pub fn ctc_greedy(
    probs: &[f32],
    steps: usize,
    classes: usize,
    charset: &[String],
) -> (String, f32) {
    let mut text = String::new();
    let mut confidence = Vec::new();
    let mut previous = 0usize;
    for t in 0..steps {
        let Some(row) = probs.get(t * classes..(t + 1) * classes) else {
            break;
        };
        let (best, p) = row
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        if best != 0 && best != previous {
            text.push_str(charset.get(best - 1).map_or(" ", String::as_str));
            confidence.push(p);
        }
        previous = best;
    }
    let mean = if confidence.is_empty() {
        0.0
    } else {
        confidence.iter().sum::<f32>() / confidence.len() as f32
    };
    (text, mean)
}

/// Letters and digits of `text`, upper case: how plates are compared.
pub fn plate_text(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl Detector for OcrDetector {
    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn input_spec(&self) -> InputSpec {
        self.manifest.input.spec()
    }

    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        check_frame(frame)?;
        let mut found = Vec::new();
        for (bbox, region_score) in self.regions(frame)?.into_iter().take(16) {
            let (text, confidence) = self.read(frame, bbox)?;
            let text = plate_text(&text);
            if text.len() >= MIN_CHARS {
                found.push(Detection {
                    label: text,
                    score: (region_score * confidence).clamp(0.0, 1.0),
                    bbox,
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        let charset: Vec<String> = ["A", "B", "1"].iter().map(|s| s.to_string()).collect();
        // steps: A A blank A B B 1 space
        let steps = [1usize, 1, 0, 1, 2, 2, 3, 4];
        let classes = 5;
        let mut probs = vec![0.0; steps.len() * classes];
        for (t, c) in steps.iter().enumerate() {
            probs[t * classes + c] = 0.9;
        }
        let (text, conf) = ctc_greedy(&probs, steps.len(), classes, &charset);
        assert_eq!(text, "AAB1 ");
        assert!((conf - 0.9).abs() < 1e-6);
        assert_eq!(plate_text(" ka-47 21"), "KA4721");
    }

    #[test]
    fn text_boxes_find_regions_and_skip_specks() {
        let (w, h) = (40, 20);
        let mut map = vec![0.0; w * h];
        for y in 5..10 {
            for x in 4..30 {
                map[y * w + x] = 0.9;
            }
        }
        map[15 * w + 35] = 0.9; // a speck
        let boxes = text_boxes(&map, w, h, 0.6);
        assert_eq!(boxes.len(), 1, "{boxes:?}");
        let (b, s) = boxes[0];
        assert!((s - 0.9).abs() < 1e-4, "{s}");
        assert!(b[0] < 4.0 / 40.0 && b[2] > 30.0 / 40.0, "grown back: {b:?}");
        assert!(b[1] < 5.0 / 20.0 && b[3] > 10.0 / 20.0, "{b:?}");
    }
}
