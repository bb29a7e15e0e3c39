//! The two paths of `docs/adding-a-detector.md`, compiled and run: a new model by manifest only, and a
//! detector written in Rust run through a `ModelWorker`.

use std::sync::Arc;
use vms_models::DetectorFactory;
use vms_models::registry::{default_zoo, open_all};
use vms_models::{
    Detection, Detector, DetectorError, Frame, InputSpec, ModelWorker, OwnedFrame, Priority,
    runtime,
};

/// Reports a "dark" detection when the mean brightness is below a threshold.
pub struct Darkness;

impl Detector for Darkness {
    fn name(&self) -> &str {
        "darkness"
    }
    fn input_spec(&self) -> InputSpec {
        InputSpec {
            width: 64,
            height: 64,
        }
    }
    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        vms_models::check_frame(frame)?;
        let mean = frame.rgb.iter().map(|v| u64::from(*v)).sum::<u64>() / frame.rgb.len() as u64;
        Ok(if mean < 30 {
            vec![Detection {
                label: "dark".into(),
                score: 1.0,
                bbox: [0.0, 0.0, 1.0, 1.0],
            }]
        } else {
            vec![]
        })
    }
}

#[tokio::test]
async fn a_rust_detector_runs_through_a_model_worker() {
    let factory: DetectorFactory = Arc::new(|| Ok(Box::new(Darkness) as Box<dyn Detector>));
    let worker = ModelWorker::start("darkness", factory, 1, 64).expect("worker");
    let frame = |v: u8| OwnedFrame {
        width: 8,
        height: 8,
        rgb: vec![v; 8 * 8 * 3],
    };
    let dark = worker
        .submit(frame(5), Priority::Standard)
        .await
        .expect("answer")
        .expect("ok");
    assert_eq!(dark.len(), 1);
    assert_eq!(dark[0].label, "dark");
    let light = worker
        .submit(frame(200), Priority::High)
        .await
        .expect("answer")
        .expect("ok");
    assert!(light.is_empty());
}

#[test]
fn a_new_model_needs_only_a_manifest() {
    // A "second" person model: the zoo's model under a new name, with a letterboxed input.
    let dir = std::env::temp_dir().join(format!("vms-new-model-{}", std::process::id()));
    let model = dir.join("people-letterboxed");
    std::fs::create_dir_all(&model).expect("dir");
    std::fs::copy(
        default_zoo().join("person/model.onnx"),
        model.join("model.onnx"),
    )
    .expect("copy");
    std::fs::write(
        model.join("model.toml"),
        "name = \"people-letterboxed\"\nversion = \"1\"\nfamily = \"ssd\"\nlicence = \"MIT\"\nlabels = [\"person\"]\n\
         [input]\nwidth = 320\nheight = 320\nlayout = \"nhwc\"\ndtype = \"u8\"\nresize = \"letterbox\"\n",
    )
    .expect("manifest");
    let env = runtime::environment(None).expect("ONNX Runtime");
    let (mut detectors, failed) = open_all(&dir, env, 1);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "{failed:?}");
    let det = detectors.first_mut().expect("loaded");
    assert_eq!(det.name(), "people-letterboxed");
    let grey = vec![128u8; 640 * 480 * 3];
    let found = det
        .detect(&Frame {
            width: 640,
            height: 480,
            rgb: &grey,
        })
        .expect("detect");
    assert!(found.is_empty(), "nobody in a grey frame: {found:?}");
}
