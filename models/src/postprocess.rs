//! Model outputs to detections: the SSD (TensorFlow Object Detection API) and YOLO (v5/v8) families,
//! and class-aware non-maximum suppression. Boxes come out as `[x0, y0, x1, y1]` fractions of the
//! network input; the caller maps them to the frame.

/// A box with its class and score, before labels are attached.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RawBox {
    /// Class index into the manifest's labels.
    pub class: usize,
    /// Confidence.
    pub score: f32,
    /// `[x0, y0, x1, y1]`, fractions of the input.
    pub bbox: [f32; 4],
}

/// Intersection over union of two boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    let area = |r: [f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Keeps the best box of each overlapping group of the same class (overlap above `iou_threshold`).
pub fn nms(mut boxes: Vec<RawBox>, iou_threshold: f32) -> Vec<RawBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<RawBox> = Vec::new();
    for b in boxes {
        if kept
            .iter()
            .all(|k| k.class != b.class || iou(k.bbox, b.bbox) <= iou_threshold)
        {
            kept.push(b);
        }
    }
    kept
}

/// SSD outputs for one image: boxes `[100][ymin, xmin, ymax, xmax]`, scores, 1-based classes, count.
pub fn decode_ssd(
    boxes: &[f32],
    scores: &[f32],
    classes: &[f32],
    count: usize,
    labels: usize,
    min_score: f32,
) -> Vec<RawBox> {
    let n = count
        .min(scores.len())
        .min(classes.len())
        .min(boxes.len() / 4);
    (0..n)
        .filter(|&i| scores[i].is_finite() && scores[i] >= min_score)
        .filter_map(|i| {
            let class = (classes[i].round() as i64 - 1)
                .try_into()
                .ok()
                .filter(|c| *c < labels)?;
            let b = &boxes[i * 4..i * 4 + 4];
            Some(RawBox {
                class,
                score: scores[i],
                bbox: [b[1], b[0], b[3], b[2]].map(|v| v.clamp(0.0, 1.0)),
            })
        })
        .collect()
}

/// YOLO output for one image with shape `[d1, d2]` (batch removed): `[4 + C, A]` (v8) or `[A, 5 + C]`
/// (v5). `scale` turns box units into input fractions (`1 / input size` for pixels).
pub fn decode_yolo(
    data: &[f32],
    d1: usize,
    d2: usize,
    labels: usize,
    min_score: f32,
    scale: [f32; 2],
) -> Result<Vec<RawBox>, String> {
    if data.len() < d1 * d2 {
        return Err(format!(
            "output has {} values, shape says {}",
            data.len(),
            d1 * d2
        ));
    }
    // (anchors, value at (anchor, k), has objectness)
    let (anchors, v8) = if d1 == 4 + labels {
        (d2, true)
    } else if d2 == 5 + labels {
        (d1, false)
    } else {
        return Err(format!(
            "output shape [{d1}, {d2}] matches neither [4 + {labels} labels, anchors] (v8) nor [anchors, 5 + {labels}] (v5)"
        ));
    };
    let at = |a: usize, k: usize| {
        if v8 {
            data[k * d2 + a]
        } else {
            data[a * d2 + k]
        }
    };
    let mut out = Vec::new();
    for a in 0..anchors {
        let (first_class, objectness) = if v8 { (4, 1.0) } else { (5, at(a, 4)) };
        let (class, best) = (0..labels)
            .map(|c| (c, at(a, first_class + c) * objectness))
            .fold((0, f32::MIN), |m, x| if x.1 > m.1 { x } else { m });
        if !best.is_finite() || best < min_score {
            continue;
        }
        let (cx, cy, w, h) = (
            at(a, 0) * scale[0],
            at(a, 1) * scale[1],
            at(a, 2) * scale[0],
            at(a, 3) * scale[1],
        );
        out.push(RawBox {
            class,
            score: best,
            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
                .map(|v| v.clamp(0.0, 1.0)),
        });
    }
    Ok(out)
}

/// Anchor centres of a BlazeFace model with a square `input` (128 for the short-range model): a
/// 2-anchor grid at stride 8, then a 6-anchor grid at stride 16, as MediaPipe lays them out.
pub fn blazeface_anchors(input: u32) -> Vec<[f32; 2]> {
    let mut anchors = Vec::new();
    for (stride, per_cell) in [(8u32, 2usize), (16, 6)] {
        let cells = input.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                let centre = [
                    (x as f32 + 0.5) / cells as f32,
                    (y as f32 + 0.5) / cells as f32,
                ];
                anchors.extend(std::iter::repeat_n(centre, per_cell));
            }
        }
    }
    anchors
}

/// BlazeFace outputs for one image: `regressors` (16 values per anchor: box centre offset and size
/// in input pixels, then six key points) and `classificators` (one logit per anchor).
pub fn decode_blazeface(
    regressors: &[f32],
    logits: &[f32],
    anchors: &[[f32; 2]],
    input: f32,
    score_threshold: f32,
) -> Result<Vec<RawBox>, String> {
    if logits.len() != anchors.len() || regressors.len() != anchors.len() * 16 {
        return Err(format!(
            "blazeface outputs hold {} logits and {} regressors for {} anchors",
            logits.len(),
            regressors.len() / 16,
            anchors.len()
        ));
    }
    let mut boxes = Vec::new();
    for (i, (logit, anchor)) in logits.iter().zip(anchors).enumerate() {
        let score = 1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp());
        if score < score_threshold || !score.is_finite() {
            continue;
        }
        let r = &regressors[i * 16..i * 16 + 4];
        let (cx, cy) = (anchor[0] + r[0] / input, anchor[1] + r[1] / input);
        let (w, h) = (r[2] / input, r[3] / input);
        let bbox =
            [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0].map(|v| v.clamp(0.0, 1.0));
        if bbox[2] > bbox[0] && bbox[3] > bbox[1] {
            boxes.push(RawBox {
                class: 0,
                score,
                bbox,
            });
        }
    }
    Ok(boxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blazeface_has_896_anchors_and_decodes_an_anchor_box() {
        let anchors = blazeface_anchors(128);
        assert_eq!(anchors.len(), 896);
        assert_eq!(anchors[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(anchors[512], [0.5 / 8.0, 0.5 / 8.0]);
        let mut regressors = vec![0.0; 896 * 16];
        let mut logits = vec![-10.0; 896];
        logits[3] = 5.0; // the second anchor of the second cell
        regressors[3 * 16 + 2] = 32.0; // 32 px wide
        regressors[3 * 16 + 3] = 64.0; // 64 px high
        let boxes = decode_blazeface(&regressors, &logits, &anchors, 128.0, 0.5).expect("decode");
        assert_eq!(boxes.len(), 1);
        let b = boxes[0].bbox;
        let (cx, cy) = (1.5 / 16.0, 0.5 / 16.0);
        assert!(
            (b[2] - (cx + 0.125)).abs() < 1e-6 && (b[3] - (cy + 0.25)).abs() < 1e-6,
            "{b:?}"
        );
        assert_eq!((b[0], b[1]), (0.0, 0.0), "clamped to the frame: {b:?}");
        assert!(decode_blazeface(&regressors, &logits[1..], &anchors, 128.0, 0.5).is_err());
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_per_class() {
        let b = |class, score, x| RawBox {
            class,
            score,
            bbox: [x, 0.0, x + 0.5, 0.5],
        };
        let kept = nms(
            vec![
                b(0, 0.6, 0.0),
                b(0, 0.9, 0.05),
                b(1, 0.5, 0.05),
                b(0, 0.7, 0.5),
            ],
            0.45,
        );
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].score, 0.9);
        assert!(kept.iter().any(|k| k.class == 1));
    }

    #[test]
    fn yolo_v8_and_v5_layouts_decode_the_same_box() {
        // one anchor, two classes; centre (32, 32), size 16x8 pixels of a 64x64 input; class 1 at 0.9
        let v8 = [32.0, 32.0, 16.0, 8.0, 0.1, 0.9];
        let boxes = decode_yolo(&v8, 6, 1, 2, 0.5, [1.0 / 64.0; 2]).unwrap();
        assert_eq!(boxes.len(), 1);
        assert_eq!(boxes[0].class, 1);
        assert_eq!(boxes[0].bbox, [0.375, 0.4375, 0.625, 0.5625]);
        let v5 = [32.0, 32.0, 16.0, 8.0, 1.0, 0.1, 0.9];
        assert_eq!(
            decode_yolo(&v5, 1, 7, 2, 0.5, [1.0 / 64.0; 2]).unwrap(),
            boxes
        );
        assert!(
            decode_yolo(&v8, 3, 2, 2, 0.5, [1.0; 2]).is_err(),
            "shape mismatch is an error"
        );
    }

    #[test]
    fn ssd_swaps_to_xy_and_drops_low_scores_and_unknown_classes() {
        let boxes = [0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let out = decode_ssd(&boxes, &[0.9, 0.1, 0.95], &[1.0, 1.0, 7.0], 3, 1, 0.5);
        assert_eq!(
            out,
            vec![RawBox {
                class: 0,
                score: 0.9,
                bbox: [0.2, 0.1, 0.6, 0.5]
            }]
        );
    }
}
