//! The zoo against real ONNX Runtime and real pictures: the person model finds the astronaut and no
//! one in the cat or coffee pictures; the synthetic YOLO model exercises YOLO decoding; every detector
//! survives odd frames; broken manifests are refused with the problem named.

use std::path::{Path, PathBuf};
use vms_models::registry::{default_zoo, manifests, open_all};
use vms_models::{Detector, Frame, Manifest, OnnxDetector, runtime};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn picture(name: &str) -> (u32, u32, Vec<u8>) {
    let img = image::open(testdata().join("images").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

fn detect_in(det: &mut dyn Detector, name: &str) -> Vec<vms_models::Detection> {
    let (w, h, rgb) = picture(name);
    det.detect(&Frame {
        width: w,
        height: h,
        rgb: &rgb,
    })
    .expect("detect")
}

fn person() -> OnnxDetector {
    let env = runtime::environment(None).expect("ONNX Runtime (scripts/fetch-onnxruntime.sh)");
    let m = Manifest::load(&default_zoo().join("person")).expect("person manifest");
    OnnxDetector::open(m, env, 1).expect("person model")
}

#[test]
fn the_person_model_finds_the_astronaut_and_nobody_else() {
    let mut det = person();
    let found = detect_in(&mut det, "astronaut.png");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].label, "person");
    assert!(found[0].score > 0.8, "{found:?}");
    let b = found[0].bbox;
    assert!(
        b[0] < b[2] && b[1] < b[3] && b.iter().all(|v| (0.0..=1.0).contains(v)),
        "{b:?}"
    );
    for name in ["coffee.png", "chelsea.png"] {
        let found = detect_in(&mut det, name);
        assert!(found.is_empty(), "{name}: {found:?}");
    }
}

/// A batch through one run finds what each picture finds alone, for every zoo detector (and the
/// synthetic YOLO model) whose batch dimension is free; the others run one by one.
#[test]
fn a_batch_finds_what_each_picture_finds_alone() {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let names = [
        "astronaut.png",
        "chelsea.png",
        "coffee.png",
        "astronaut.png",
    ];
    let pictures: Vec<(u32, u32, Vec<u8>)> = names.iter().map(|n| picture(n)).collect();
    let frames: Vec<Frame<'_>> = pictures
        .iter()
        .map(|(w, h, rgb)| Frame {
            width: *w,
            height: *h,
            rgb,
        })
        .collect();
    let mut batched = Vec::new();
    for dir in [
        default_zoo().join("person"),
        default_zoo().join("face"),
        testdata().join("synthetic-yolo"),
    ] {
        let m = Manifest::load(&dir).expect("manifest");
        let mut det = OnnxDetector::open(m, env, 1).expect("model");
        let alone: Vec<_> = frames
            .iter()
            .map(|f| det.detect(f).expect("detect"))
            .collect();
        let together: Vec<_> = det
            .detect_batch(&frames)
            .into_iter()
            .map(|r| r.expect("detect"))
            .collect();
        assert_eq!(together.len(), frames.len());
        for (i, (a, t)) in alone.iter().zip(&together).enumerate() {
            assert_eq!(a.len(), t.len(), "{dir:?} picture {i}: {a:?} vs {t:?}");
            for (x, y) in a.iter().zip(t) {
                assert_eq!(x.label, y.label);
                assert!((x.score - y.score).abs() < 1e-3, "{x:?} vs {y:?}");
                assert!(vms_models::iou(x.bbox, y.bbox) > 0.99, "{x:?} vs {y:?}");
            }
        }
        if det.batches() {
            batched.push(det.name().to_string());
        }
    }
    println!("models run as one batch: {batched:?}");
}

#[test]
fn the_face_model_finds_the_astronauts_face_and_no_face_in_the_coffee() {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let m = Manifest::load(&default_zoo().join("face")).expect("face manifest");
    let mut det = OnnxDetector::open(m, env, 1).expect("face model");
    let found = detect_in(&mut det, "astronaut.png");
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    assert_eq!(f.label, "face");
    assert!(f.score > 0.7, "{found:?}");
    // Her face is in the upper middle of the portrait, and small beside the picture.
    let (cx, cy) = ((f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0);
    let (w, h) = (f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]);
    assert!(
        (0.3..0.7).contains(&cx) && (0.1..0.5).contains(&cy),
        "{f:?}"
    );
    assert!((0.1..0.5).contains(&w) && (0.1..0.5).contains(&h), "{f:?}");
    assert!(detect_in(&mut det, "coffee.png").is_empty());
}

#[test]
fn the_synthetic_yolo_model_decodes_to_suppressed_boxes() {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let m = Manifest::load(&testdata().join("synthetic-yolo")).expect("manifest");
    let mut det = OnnxDetector::open(m, env, 1).expect("model");
    let found = detect_in(&mut det, "chelsea.png");
    assert!(
        !found.is_empty(),
        "its sigmoid outputs exceed the 0.3 threshold somewhere"
    );
    for d in &found {
        assert!(d.label == "a" || d.label == "b");
        assert!(d.bbox.iter().all(|v| (0.0..=1.0).contains(v)), "{d:?}");
    }
    for (i, a) in found.iter().enumerate() {
        for b in &found[i + 1..] {
            if a.label == b.label {
                assert!(
                    vms_models::iou(a.bbox, b.bbox) <= 0.45 + 1e-6,
                    "NMS left {a:?} and {b:?}"
                );
            }
        }
    }
}

#[test]
fn every_detector_survives_odd_frames() {
    let env = runtime::environment(None).expect("ONNX Runtime");
    let (mut detectors, failed) = open_all(&default_zoo(), env, 1);
    assert!(failed.is_empty(), "{failed:?}");
    let (extra, _) = open_all(&testdata(), env, 1);
    detectors.extend(extra);
    assert!(detectors.len() >= 2);
    let frames: Vec<(u32, u32, Vec<u8>)> = vec![
        (1, 1, vec![0; 3]),
        (3, 2000, vec![255; 3 * 2000 * 3]),
        (4096, 2160, vec![128; 4096 * 2160 * 3]),
        (640, 480, vec![0; 640 * 480 * 3]),
        (640, 480, vec![90; 640 * 480 * 3]),
    ];
    for det in &mut detectors {
        for (w, h, rgb) in &frames {
            let out = det.detect(&Frame {
                width: *w,
                height: *h,
                rgb,
            });
            let found = out.unwrap_or_else(|e| panic!("{} on {w}x{h}: {e}", det.name()));
            assert!(found.iter().all(|d| d.score.is_finite()), "{}", det.name());
        }
        // Frames that lie about their size are refused, not read out of bounds.
        assert!(
            det.detect(&Frame {
                width: 10,
                height: 10,
                rgb: &[0; 7]
            })
            .is_err()
        );
        assert!(
            det.detect(&Frame {
                width: 0,
                height: 0,
                rgb: &[]
            })
            .is_err()
        );
    }
}

#[test]
fn broken_manifests_are_refused_naming_the_problem() {
    let dir = std::env::temp_dir().join(format!("vms-bad-zoo-{}", std::process::id()));
    let model = |name: &str, text: &str, with_file: Option<&Path>| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("dir");
        std::fs::write(d.join("model.toml"), text).expect("write");
        if let Some(f) = with_file {
            std::fs::copy(f, d.join("model.onnx")).expect("copy");
        }
    };
    let base = |family: &str, labels: &str| {
        format!(
            "name = \"x\"\nversion = \"1\"\nfamily = \"{family}\"\nlicence = \"MIT\"\nlabels = {labels}\n\
             [input]\nwidth = 64\nheight = 64\nlayout = \"nchw\"\ndtype = \"f32\"\n"
        )
    };
    let synthetic = testdata().join("synthetic-yolo/model.onnx");
    model("a-missing-file", &base("yolo", "[\"a\", \"b\"]"), None);
    model(
        "b-unknown-family",
        &base("rcnn", "[\"a\"]"),
        Some(&synthetic),
    );
    model(
        "c-labels-mismatch",
        &base("yolo", "[\"a\", \"b\", \"c\"]"),
        Some(&synthetic),
    );
    model(
        "d-wrong-family-outputs",
        &base("ssd", "[\"a\", \"b\"]"),
        Some(&synthetic),
    );
    model(
        "e-not-onnx",
        &base("yolo", "[\"a\", \"b\"]"),
        Some(&testdata().join("README.md")),
    );
    let env = runtime::environment(None).expect("ONNX Runtime");
    let (ok, failed) = open_all(&dir, env, 1);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok.is_empty(), "{} loaded", ok.len());
    let messages: Vec<String> = failed.iter().map(ToString::to_string).collect();
    let expect = [
        "is missing",
        "known families: ssd, yolo",
        "does not match 3 labels",
        "needs an output named *boxes",
        "cannot load",
    ];
    assert_eq!(messages.len(), expect.len(), "{messages:#?}");
    for (m, want) in messages.iter().zip(expect) {
        assert!(m.contains(want), "{m:?} should say {want:?}");
    }
    let (found, _) = manifests(&default_zoo());
    assert!(found.iter().all(|m| m.file.is_file()));
}

#[test]
fn the_appearance_embedding_knows_the_same_person_from_a_cat() {
    use vms_models::{OnnxEmbedder, similarity};
    let env = runtime::environment(None).expect("ONNX Runtime");
    let m = Manifest::load(&default_zoo().join("appearance")).expect("appearance manifest");
    assert!(
        OnnxDetector::open(m.clone(), env, 1).is_err(),
        "an embedding model is no detector"
    );
    let mut embedder = OnnxEmbedder::open(m, env, 1).expect("appearance model");
    let person = detect_in(&mut person(), "astronaut.png")[0].bbox;
    let (w, h, rgb) = picture("astronaut.png");
    let frame = Frame {
        width: w,
        height: h,
        rgb: &rgb,
    };
    let a = embedder.embed(&frame, Some(person)).expect("embed");
    let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "unit length: {norm}");
    // The same person, boxed a little differently (as the next frame's detection would be).
    let nudged = [
        person[0] + 0.02,
        person[1] + 0.01,
        person[2] - 0.01,
        person[3] - 0.02,
    ];
    let b = embedder.embed(&frame, Some(nudged)).expect("embed");
    let (cw, ch, cat) = picture("chelsea.png");
    let c = embedder
        .embed(
            &Frame {
                width: cw,
                height: ch,
                rgb: &cat,
            },
            None,
        )
        .expect("embed");
    let (same, other) = (similarity(&a, &b), similarity(&a, &c));
    assert!(same > 0.9, "same person: {same}");
    assert!(other < same - 0.2, "cat {other} vs same person {same}");
    // Odd frames and boxes are refused or handled, never a panic.
    assert!(
        embedder
            .embed(
                &Frame {
                    width: 10,
                    height: 10,
                    rgb: &[0; 7]
                },
                None
            )
            .is_err()
    );
    let one = embedder
        .embed(&frame, Some([0.99, 0.99, 2.0, 2.0]))
        .expect("a one-pixel crop");
    assert!(one.iter().all(|v| v.is_finite()));
}

#[test]
fn the_plate_reader_reads_the_plate_and_finds_no_text_in_the_cat() {
    use vms_models::registry::open_detector;
    let env = runtime::environment(None).expect("ONNX Runtime");
    let m = Manifest::load(&default_zoo().join("plate")).expect("plate manifest");
    assert!(
        OnnxDetector::open(m.clone(), env, 1).is_err(),
        "two networks, not one"
    );
    let mut reader = open_detector(m, env, 1).expect("plate model");
    let found = detect_in(reader.as_mut(), "plate.png");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].label, "KA4721", "{found:?}");
    assert!(found[0].score > 0.6, "{found:?}");
    // The plate is at x 150-490, y 140-230 of 640x360; its text sits inside.
    let b = found[0].bbox;
    assert!(
        b[0] > 0.2 && b[2] < 0.8 && b[1] > 0.35 && b[3] < 0.68,
        "{b:?}"
    );
    let none = detect_in(reader.as_mut(), "chelsea.png");
    assert!(none.is_empty(), "{none:?}");
}
