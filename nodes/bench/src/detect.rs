//! `vms bench detect`: detector throughput through the [`ModelWorker`] against raw ONNX Runtime calls in
//! a loop, on the same real pictures and the same model, in one run. The pictures are the repository's
//! test images (`models/testdata/images`: the astronaut, the cat, the coffee, the plate) and frames of
//! the simulator's person scene (an empty room, then a person crossing it), cycled to `--frames`.
//! Prints frames per second for each path, the ratio worker/raw (target ≥ 0.9), and how many
//! detections each path found, which must be the same.

use super::context;
use anyhow::{Context, bail};
use std::sync::Arc;
use std::time::Instant;
use vms_models::DetectorFactory;
use vms_models::registry::default_zoo;
use vms_models::{
    Batching, Detection, Detector, Frame, Manifest, ModelWorker, OnnxDetector, OwnedFrame,
    Priority, WorkerOptions, runtime,
};

/// Options of `vms bench detect`.
#[derive(Clone, Debug, clap::Args)]
pub struct DetectBenchArgs {
    /// Model in the zoo.
    #[arg(long, default_value = "person")]
    pub model: String,
    /// Frames measured for each path.
    #[arg(long, default_value_t = 200)]
    pub frames: usize,
    /// Intra-op threads of each session.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Worker threads (sessions) in the pool.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Most frames per detector call through the worker (`analytics.batch_max`; 1: no batching).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Milliseconds a session waits to fill a batch (`analytics.batch_wait_ms`).
    #[arg(long, default_value_t = 5)]
    pub batch_wait_ms: u64,
}

/// Person-scene frames a second of its 10 s clip (20 frames: 8 with the person, 12 of the empty room).
const SCENE_FRAMES_PER_SECOND: u32 = 2;

/// The pictures measured: the test images, then the person scene at 1280x720.
fn pictures() -> anyhow::Result<Vec<(String, OwnedFrame)>> {
    let mut out: Vec<(String, OwnedFrame)> = vms_node::test_pictures()?
        .into_iter()
        .map(|(name, p)| {
            let (width, height, rgb) = (p.width, p.height, p.rgb);
            (name, OwnedFrame { width, height, rgb })
        })
        .collect();
    let (w, h) = (1280, 720);
    for (i, rgb) in vms_node::person_scene_frames(w, h, SCENE_FRAMES_PER_SECOND)?
        .into_iter()
        .enumerate()
    {
        out.push((
            format!("person scene frame {i}"),
            OwnedFrame {
                width: w,
                height: h,
                rgb,
            },
        ));
    }
    if out.is_empty() {
        bail!("no pictures to measure");
    }
    Ok(out)
}

/// Detections found over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Found {
    /// Frames with at least one detection.
    frames: usize,
    /// Detections in all.
    detections: usize,
}

impl Found {
    fn add(&mut self, detections: &[Detection]) {
        self.frames += usize::from(!detections.is_empty());
        self.detections += detections.len();
    }
}

fn frame(f: &OwnedFrame) -> Frame<'_> {
    Frame {
        width: f.width,
        height: f.height,
        rgb: &f.rgb,
    }
}

/// Runs the benchmark.
pub fn detect(args: DetectBenchArgs) -> anyhow::Result<()> {
    context::print();
    let env = runtime::environment(None)?;
    let manifest = Manifest::load(&default_zoo().join(&args.model))?;
    let pictures = pictures()?;
    let n = args.frames.clamp(10, 10_000);
    let frames: Vec<&OwnedFrame> = pictures.iter().map(|(_, f)| f).cycle().take(n).collect();
    println!(
        "model {} ({}), {} frames cycling {} pictures ({} test images and {} person-scene frames at 1280x720), \
         {} intra-op thread(s), {} worker(s), batches of up to {}",
        manifest.name,
        manifest.family,
        frames.len(),
        pictures.len(),
        pictures.len() - (10 * SCENE_FRAMES_PER_SECOND) as usize,
        10 * SCENE_FRAMES_PER_SECOND,
        args.threads,
        args.workers,
        args.batch
    );
    let mut raw = OnnxDetector::open(manifest.clone(), env, args.threads)?;
    println!("detections in each picture (raw path):");
    for (name, f) in &pictures {
        let found = raw.detect(&frame(f))?;
        let labels: Vec<String> = found
            .iter()
            .map(|d| format!("{} {:.2}", d.label, d.score))
            .collect();
        let found = if labels.is_empty() {
            "(none)".to_string()
        } else {
            labels.join(", ")
        };
        println!("  {name:<24} {found}");
    }
    let mut raw_found = Found::default();
    let started = Instant::now();
    for f in &frames {
        raw_found.add(&raw.detect(&frame(f))?);
    }
    let raw_fps = frames.len() as f64 / started.elapsed().as_secs_f64();
    drop(raw);

    let threads = args.threads;
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(OnnxDetector::open(manifest.clone(), env, threads)?) as Box<dyn Detector>)
    });
    let worker = ModelWorker::start_with(
        "bench",
        factory,
        WorkerOptions {
            threads: args.workers,
            capacity: frames.len(),
            batch: Batching {
                max: args.batch.clamp(1, vms_models::MAX_BATCH),
                wait: std::time::Duration::from_millis(args.batch_wait_ms),
            },
            observer: None,
        },
    )?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    for f in frames.iter().take(5) {
        let _ = rt.block_on(worker.submit((*f).clone(), Priority::Standard));
    }
    // The copies a caller hands the worker are made before the clock starts, as a sampler's frame is.
    let queued: Vec<OwnedFrame> = frames.iter().map(|f| (*f).clone()).collect();
    let mut worker_found = Found::default();
    let started = Instant::now();
    let answers: Vec<_> = queued
        .into_iter()
        .map(|f| worker.submit(f, Priority::Standard))
        .collect();
    for a in answers {
        worker_found.add(&rt.block_on(a).context("worker dropped a job")??);
    }
    let worker_fps = frames.len() as f64 / started.elapsed().as_secs_f64();
    let stats = worker.stats();
    println!(
        "raw ort loop     {raw_fps:>8.1} frames/s   {} detections on {} of {} frames",
        raw_found.detections,
        raw_found.frames,
        frames.len()
    );
    println!(
        "ModelWorker      {worker_fps:>8.1} frames/s   {} detections on {} of {} frames ({} dropped)",
        worker_found.detections,
        worker_found.frames,
        frames.len(),
        stats.dropped
    );
    println!(
        "ratio worker/raw {:>8.2}  (target >= 0.9)",
        worker_fps / raw_fps
    );
    if worker_found != raw_found {
        bail!("the two paths found different detections on the same frames");
    }
    Ok(())
}
