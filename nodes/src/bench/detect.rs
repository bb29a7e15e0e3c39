//! `vms bench detect`: detector throughput through the [`ModelWorker`] against raw ONNX Runtime calls in
//! a loop, on the same frames and the same model, in one run. Prints frames per second for each and the
//! ratio worker/raw (target ≥ 0.9).

use anyhow::Context;
use std::sync::Arc;
use std::time::Instant;
use vms_models::registry::default_zoo;
use vms_models::worker::DetectorFactory;
use vms_models::{
    Detector, Frame, Manifest, ModelWorker, OnnxDetector, OwnedFrame, Priority, runtime,
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
}

/// A 1280x720 test picture: the astronaut scaled into a grey frame, with a gradient.
fn frames(n: usize) -> Vec<OwnedFrame> {
    (0..n)
        .map(|i| {
            let (w, h) = (1280u32, 720u32);
            let rgb = (0..w * h)
                .flat_map(|p| {
                    let (x, y) = (p % w, p / w);
                    [((x + i as u32) % 256) as u8, (y % 256) as u8, 128]
                })
                .collect();
            OwnedFrame {
                width: w,
                height: h,
                rgb,
            }
        })
        .collect()
}

/// Runs the benchmark.
pub fn detect(args: DetectBenchArgs) -> anyhow::Result<()> {
    let env = runtime::environment(None)?;
    let manifest = Manifest::load(&default_zoo().join(&args.model))?;
    let frames = frames(args.frames.clamp(10, 10_000));
    println!(
        "model {} ({}), {} frames 1280x720, {} intra-op thread(s), {} worker(s)",
        manifest.name,
        manifest.family,
        frames.len(),
        args.threads,
        args.workers
    );
    let mut raw = OnnxDetector::open(manifest.clone(), env, args.threads)?;
    for f in frames.iter().take(5) {
        raw.detect(&Frame {
            width: f.width,
            height: f.height,
            rgb: &f.rgb,
        })?;
    }
    let started = Instant::now();
    for f in &frames {
        raw.detect(&Frame {
            width: f.width,
            height: f.height,
            rgb: &f.rgb,
        })?;
    }
    let raw_fps = frames.len() as f64 / started.elapsed().as_secs_f64();
    drop(raw);

    let threads = args.threads;
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(OnnxDetector::open(manifest.clone(), env, threads)?) as Box<dyn Detector>)
    });
    let worker = ModelWorker::start("bench", factory, args.workers, frames.len())?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    for f in frames.iter().take(5) {
        let _ = rt.block_on(worker.submit(f.clone(), Priority::Standard));
    }
    let queued: Vec<OwnedFrame> = frames.clone();
    let started = Instant::now();
    let answers: Vec<_> = queued
        .into_iter()
        .map(|f| worker.submit(f, Priority::Standard))
        .collect();
    for a in answers {
        rt.block_on(a).context("worker dropped a job")??;
    }
    let worker_fps = frames.len() as f64 / started.elapsed().as_secs_f64();
    println!("raw ort loop     {raw_fps:>8.1} frames/s");
    println!("ModelWorker      {worker_fps:>8.1} frames/s");
    println!(
        "ratio worker/raw {:>8.2}  (target >= 0.9)",
        worker_fps / raw_fps
    );
    Ok(())
}
