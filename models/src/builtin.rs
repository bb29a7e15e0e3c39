//! Built-in pixel detectors that need no model: motion, camera tampering (covered, defocused, moved)
//! and fire/smoke by colour and flicker. Each keeps state from frame to frame, so a node runs one
//! instance per camera (not a shared worker pool). They work on a small grey or colour grid of the
//! frame (block averages), which costs well under a millisecond per frame.
//!
//! No permissively licensed fire model exists; a user's own fire ONNX model plugs in through a
//! manifest like any other detector, and rules may name either.

use crate::{Detection, Detector, DetectorError, Frame, InputSpec};

/// Names of the built-in detectors, as rules and licences name them.
pub const NAMES: [&str; 3] = ["motion", "tampering", "fire"];

/// Labels the built-in detector `name` reports.
pub fn labels(name: &str) -> &'static [&'static str] {
    match name {
        "motion" => &["motion"],
        "tampering" => &["covered", "defocused", "moved"],
        "fire" => &["fire", "smoke"],
        _ => &[],
    }
}

/// A fresh per-camera instance of the built-in detector `name`.
pub fn create(name: &str) -> Option<Box<dyn Detector>> {
    match name {
        "motion" => Some(Box::new(MotionDetector::default())),
        "tampering" => Some(Box::new(TamperingDetector::default())),
        "fire" => Some(Box::new(FireDetector::default())),
        _ => None,
    }
}

/// Grid the frame is reduced to.
const GRID_W: usize = 64;
const GRID_H: usize = 36;

/// Block averages of a frame: `GRID_W x GRID_H` cells of mean RGB.
fn grid(frame: &Frame<'_>) -> Result<Vec<[f32; 3]>, DetectorError> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    if w == 0 || h == 0 || frame.rgb.len() != w * h * 3 {
        return Err(DetectorError::InvalidFrame(format!(
            "frame {w}x{h} needs {} RGB bytes, got {}",
            w * h * 3,
            frame.rgb.len()
        )));
    }
    let mut cells = vec![[0f32; 3]; GRID_W * GRID_H];
    let mut counts = vec![0u32; GRID_W * GRID_H];
    // Sample every other pixel both ways: plenty for block means.
    for y in (0..h).step_by(2) {
        let gy = y * GRID_H / h;
        for x in (0..w).step_by(2) {
            let gx = x * GRID_W / w;
            let i = (y * w + x) * 3;
            let c = &mut cells[gy * GRID_W + gx];
            c[0] += f32::from(frame.rgb[i]);
            c[1] += f32::from(frame.rgb[i + 1]);
            c[2] += f32::from(frame.rgb[i + 2]);
            counts[gy * GRID_W + gx] += 1;
        }
    }
    for (c, n) in cells.iter_mut().zip(counts) {
        let n = n.max(1) as f32;
        for v in c.iter_mut() {
            *v /= n;
        }
    }
    Ok(cells)
}

fn grey(c: &[f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// Box around the cells for which `hit` holds, in frame fractions, with the share of cells hit.
fn hit_box(hit: impl Fn(usize) -> bool) -> Option<([f32; 4], f32)> {
    let (mut x0, mut y0, mut x1, mut y1, mut n) = (GRID_W, GRID_H, 0, 0, 0usize);
    for y in 0..GRID_H {
        for x in 0..GRID_W {
            if hit(y * GRID_W + x) {
                n += 1;
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (n > 0).then(|| {
        (
            [
                x0 as f32 / GRID_W as f32,
                y0 as f32 / GRID_H as f32,
                x1 as f32 / GRID_W as f32,
                y1 as f32 / GRID_H as f32,
            ],
            n as f32 / (GRID_W * GRID_H) as f32,
        )
    })
}

fn detection(label: &str, score: f32, bbox: [f32; 4]) -> Detection {
    Detection {
        label: label.into(),
        score: score.clamp(0.0, 1.0),
        bbox,
    }
}

fn spec() -> InputSpec {
    InputSpec {
        width: 320,
        height: 180,
    }
}

/// Motion: cells whose brightness changed by more than 25 levels since the previous frame. One
/// detection (`motion`) around them; its score is 20 times the changed share of the frame (5 % of the
/// frame moving scores 1.0). Changes of under 0.3 % of the frame are noise.
#[derive(Default)]
pub struct MotionDetector {
    previous: Option<Vec<f32>>,
}

impl Detector for MotionDetector {
    fn name(&self) -> &str {
        "motion"
    }

    fn input_spec(&self) -> InputSpec {
        spec()
    }

    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        let now: Vec<f32> = grid(frame)?.iter().map(grey).collect();
        let Some(before) = self.previous.replace(now.clone()) else {
            return Ok(Vec::new());
        };
        Ok(hit_box(|i| (now[i] - before[i]).abs() > 25.0)
            .filter(|(_, share)| *share >= 0.003)
            .map(|(bbox, share)| vec![detection("motion", share * 20.0, bbox)])
            .unwrap_or_default())
    }
}

/// Mean and standard deviation of a grey grid.
fn mean_std(g: &[f32]) -> (f32, f32) {
    let n = g.len().max(1) as f32;
    let mean = g.iter().sum::<f32>() / n;
    let var = g.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    (mean, var.sqrt())
}

/// Mean absolute difference between neighbouring cells: how much detail the picture holds.
fn sharpness(g: &[f32]) -> f32 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in 0..GRID_H {
        for x in 0..GRID_W - 1 {
            sum += (g[y * GRID_W + x] - g[y * GRID_W + x + 1]).abs();
            n += 1.0;
        }
    }
    for y in 0..GRID_H - 1 {
        for x in 0..GRID_W {
            sum += (g[y * GRID_W + x] - g[(y + 1) * GRID_W + x]).abs();
            n += 1.0;
        }
    }
    sum / n
}

/// Frames a tampering reference needs before it judges.
const WARMUP: u32 = 3;
/// Frames in a row a moved view must persist before it is reported.
const MOVED_FRAMES: u32 = 3;
/// Frames in a row a blurred view must persist before it is reported (a detailed passer-by leaving a
/// plain room is not a lens going soft).
const DEFOCUS_FRAMES: u32 = 10;

/// Camera tampering against a slowly learnt reference view: `covered` (dark or featureless: a hand,
/// tape, a bag), `defocused` (detail below 40 % of the reference's for 10 frames in a row) and `moved`
/// (most of the view differs from the reference for 3 frames in a row). The reference view follows the
/// view slowly (5 % a frame), so a deliberate re-aim stops being reported after about a minute at one
/// frame a second; the reference detail does not follow a blurred view.
#[derive(Default)]
pub struct TamperingDetector {
    reference: Option<Vec<f32>>,
    reference_sharpness: f32,
    frames: u32,
    moved_for: u32,
    blurred_for: u32,
}

impl Detector for TamperingDetector {
    fn name(&self) -> &str {
        "tampering"
    }

    fn input_spec(&self) -> InputSpec {
        spec()
    }

    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        let now: Vec<f32> = grid(frame)?.iter().map(grey).collect();
        let (mean, std) = mean_std(&now);
        let sharp = sharpness(&now);
        let whole = [0.0, 0.0, 1.0, 1.0];
        let mut found = Vec::new();
        let covered = mean < 25.0 || std < 6.0;
        if covered {
            let darkness = (1.0 - mean / 25.0).max(0.0);
            let flatness = (1.0 - std / 6.0).max(0.0);
            found.push(detection("covered", darkness.max(flatness).max(0.6), whole));
        }
        let Some(reference) = self.reference.as_mut() else {
            if !covered {
                self.reference = Some(now);
                self.reference_sharpness = sharp;
                self.frames = 1;
            }
            return Ok(found);
        };
        if covered {
            // A covered view must not become the reference.
            return Ok(found);
        }
        let warm = self.frames >= WARMUP;
        let blurred =
            warm && self.reference_sharpness > 2.0 && sharp < 0.4 * self.reference_sharpness;
        self.blurred_for = if blurred { self.blurred_for + 1 } else { 0 };
        if self.blurred_for >= DEFOCUS_FRAMES {
            found.push(detection(
                "defocused",
                1.0 - sharp / self.reference_sharpness,
                whole,
            ));
        }
        let changed = now
            .iter()
            .zip(reference.iter())
            .filter(|(a, b)| (*a - *b).abs() > 30.0)
            .count() as f32
            / now.len() as f32;
        self.moved_for = if warm && changed > 0.6 {
            self.moved_for + 1
        } else {
            0
        };
        if self.moved_for >= MOVED_FRAMES {
            found.push(detection("moved", changed, whole));
        }
        for (r, v) in reference.iter_mut().zip(&now) {
            *r += 0.05 * (v - *r);
        }
        if !blurred {
            self.reference_sharpness += 0.05 * (sharp - self.reference_sharpness);
        }
        self.frames += 1;
        Ok(found)
    }
}

/// Whether a cell's colour is flame-like: bright, red over green over blue, well saturated.
fn flame(c: &[f32; 3]) -> bool {
    let [r, g, b] = *c;
    r > 190.0 && r >= g && g > b && r - b > 90.0 && g / r > 0.25 && g / r < 0.9
}

/// Whether a cell's colour is smoke-like: grey (low saturation) and mid-bright.
fn smoky(c: &[f32; 3]) -> bool {
    let (hi, lo) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
    hi - lo < 20.0 && (90.0..220.0).contains(&grey(c))
}

/// Fire and smoke by colour and change: `fire` where flame-coloured cells flicker (their brightness
/// changes from frame to frame, unlike a red wall or an orange jacket standing still); `smoke` where
/// grey haze spreads over a quarter of the frame that was not grey before. A colour heuristic: expect
/// false alarms from flickering orange light; a trained fire model plugs in through a manifest.
#[derive(Default)]
pub struct FireDetector {
    previous: Option<Vec<[f32; 3]>>,
    baseline_smoky: Option<Vec<bool>>,
}

impl Detector for FireDetector {
    fn name(&self) -> &str {
        "fire"
    }

    fn input_spec(&self) -> InputSpec {
        spec()
    }

    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        let now = grid(frame)?;
        let Some(before) = self.previous.replace(now.clone()) else {
            self.baseline_smoky = Some(now.iter().map(smoky).collect());
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        let flickering =
            |i: usize| flame(&now[i]) && (grey(&now[i]) - grey(&before[i])).abs() > 12.0;
        if let Some((bbox, share)) = hit_box(flickering).filter(|(_, s)| *s >= 0.002) {
            found.push(detection("fire", 0.5 + share * 25.0, bbox));
        }
        if let Some(baseline) = &self.baseline_smoky {
            let new_haze = |i: usize| smoky(&now[i]) && !baseline[i];
            if let Some((bbox, share)) = hit_box(new_haze).filter(|(_, s)| *s >= 0.25) {
                found.push(detection("smoke", share, bbox));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured grey scene (a checker of 16 px squares) with optional coloured rectangles.
    fn scene(w: u32, h: u32, shift: u32, rects: &[([u32; 4], [u8; 3])]) -> Vec<u8> {
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                let v = if ((x + shift) / 16 + y / 16).is_multiple_of(2) {
                    70
                } else {
                    170
                };
                let px = rects
                    .iter()
                    .find(|(r, _)| x >= r[0] && x < r[2] && y >= r[1] && y < r[3])
                    .map_or([v, v, v], |(_, c)| *c);
                rgb.extend_from_slice(&px);
            }
        }
        rgb
    }

    fn run(det: &mut dyn Detector, rgb: &[u8]) -> Vec<Detection> {
        det.detect(&Frame {
            width: 320,
            height: 180,
            rgb,
        })
        .expect("detect")
    }

    #[test]
    fn motion_boxes_what_moved() {
        let mut m = MotionDetector::default();
        let still = scene(320, 180, 0, &[]);
        assert!(
            run(&mut m, &still).is_empty(),
            "first frame: nothing to compare"
        );
        assert!(run(&mut m, &still).is_empty(), "nothing moved");
        let walker = scene(320, 180, 0, &[([100, 40, 140, 160], [250, 250, 250])]);
        let found = run(&mut m, &walker);
        assert_eq!(found.len(), 1, "{found:?}");
        let b = found[0].bbox;
        assert!(
            b[0] <= 100.0 / 320.0 && b[2] >= 140.0 / 320.0 - 0.02,
            "{b:?}"
        );
        assert!(found[0].score > 0.5, "{found:?}");
        assert!(run(&mut m, &walker).is_empty(), "it stopped");
    }

    #[test]
    fn tampering_sees_a_cover_a_blur_and_a_turn() {
        let view = scene(320, 180, 0, &[]);
        let mut t = TamperingDetector::default();
        for _ in 0..5 {
            assert!(run(&mut t, &view).is_empty());
        }
        let black = vec![3u8; 320 * 180 * 3];
        let found = run(&mut t, &black);
        assert_eq!(found[0].label, "covered", "{found:?}");
        let grey_card = vec![128u8; 320 * 180 * 3];
        assert_eq!(run(&mut t, &grey_card)[0].label, "covered");
        // Defocused: the scene smeared into a smooth ramp keeps its brightness but loses its edges.
        let blur: Vec<u8> = (0..320 * 180)
            .flat_map(|i| {
                let v = (70 + (i % 320) * 100 / 320) as u8;
                [v, v, v]
            })
            .collect();
        for _ in 1..DEFOCUS_FRAMES {
            assert!(run(&mut t, &blur).is_empty(), "not at once");
        }
        let found = run(&mut t, &blur);
        assert!(found.iter().any(|d| d.label == "defocused"), "{found:?}");
        // Moved: the view shifts by one square and stays there.
        let mut t = TamperingDetector::default();
        for _ in 0..5 {
            run(&mut t, &view);
        }
        let turned = scene(320, 180, 16, &[]);
        let labels: Vec<Vec<String>> = (0..3)
            .map(|_| run(&mut t, &turned).into_iter().map(|d| d.label).collect())
            .collect();
        assert_eq!(labels, [vec![], vec![], vec!["moved".to_string()]]);
    }

    #[test]
    fn fire_needs_flame_colours_that_flicker() {
        let mut f = FireDetector::default();
        let calm = scene(320, 180, 0, &[([200, 100, 240, 150], [240, 120, 30])]);
        assert!(run(&mut f, &calm).is_empty());
        assert!(
            run(&mut f, &calm).is_empty(),
            "an orange box standing still is no fire"
        );
        let flicker = scene(320, 180, 0, &[([200, 100, 240, 150], [255, 170, 40])]);
        let found = run(&mut f, &flicker);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].label, "fire");
        assert!(
            found[0].bbox[0] >= 0.6 && found[0].bbox[2] <= 0.78,
            "{found:?}"
        );
        // Haze: most of the frame turns an even grey.
        let mut f = FireDetector::default();
        let room = scene(320, 180, 0, &[([0, 0, 320, 180], [40, 60, 120])]);
        run(&mut f, &room);
        let smoke = vec![150u8; 320 * 180 * 3];
        let found = run(&mut f, &smoke);
        assert!(found.iter().any(|d| d.label == "smoke"), "{found:?}");
    }

    /// The simulator's room (a smooth wall and floor) with a detailed figure (noise) walking through
    /// for 6 of every 10 frames.
    fn room(frame: u32) -> Vec<u8> {
        let t = frame % 10;
        let mut rgb = Vec::with_capacity(320 * 180 * 3);
        for y in 0..180u32 {
            for x in 0..320u32 {
                let left = (t.saturating_sub(2) * 70) as i64 - 140;
                let inside = (2..8).contains(&t)
                    && (x as i64) >= left
                    && (x as i64) < left + 140
                    && (30..170).contains(&y);
                let v = if inside {
                    ((x * 7919 + y * 104_729) % 256) as u8
                } else if y < 120 {
                    170 + (x * 20 / 320) as u8
                } else {
                    90 + (y * 30 / 180) as u8
                };
                rgb.extend_from_slice(&[v, v.saturating_sub(10), v.saturating_sub(25)]);
            }
        }
        rgb
    }

    #[test]
    fn a_walker_in_a_plain_room_is_no_tampering() {
        for start in 0..10 {
            let mut t = TamperingDetector::default();
            for i in start..start + 40 {
                let found = run(&mut t, &room(i));
                assert!(found.is_empty(), "start {start}, frame {i}: {found:?}");
            }
        }
    }

    #[test]
    fn odd_frames_are_refused_not_panicked_on() {
        for name in NAMES {
            let mut d = create(name).expect("built in");
            assert_eq!(d.name(), name);
            let bad = d.detect(&Frame {
                width: 10,
                height: 10,
                rgb: &[0; 5],
            });
            assert!(bad.is_err());
            for (w, h) in [(1, 1), (2, 1), (3000, 2)] {
                let rgb = vec![0u8; (w * h * 3) as usize];
                assert!(
                    d.detect(&Frame {
                        width: w,
                        height: h,
                        rgb: &rgb
                    })
                    .is_ok(),
                    "{w}x{h}"
                );
            }
        }
        assert!(create("nope").is_none());
    }
}
