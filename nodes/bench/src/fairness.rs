//! `vms-bench fairness`: two tenants on one overloaded model worker. Tenant A has 32 cameras and
//! tenant B has 2; each camera offers frames at the same steady rate, in all about twice what the
//! worker can detect. The same run is made through the worker's weighted fair queues and through
//! the first-in-first-out baseline (one queue shedding its oldest frame), on the same real model
//! and frames. Tenant A also has `--high-cameras` cameras whose rules are high priority. Prints, per
//! group of cameras, the frames offered, detected and lost per camera and the p50/p99 time from a
//! frame's submission to its answer, and the ratio of B's loss per camera to A's (goal: at most 1,
//! so B's cameras lose no more than A's); the high-priority cameras should lose nothing.

use super::context;
use super::events::quantile;
use anyhow::bail;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vms_models::registry::default_zoo;
use vms_models::{
    DetectorError, DetectorFactory, Manifest, ModelWorker, OnnxDetector, OwnedFrame, Priority,
    Submission, runtime,
};

/// Options of `vms-bench fairness`.
#[derive(Clone, Debug, clap::Args)]
pub struct FairnessBenchArgs {
    /// Model in the zoo.
    #[arg(long, default_value = "person")]
    pub model: String,
    /// Cameras of tenant A.
    #[arg(long, default_value_t = 32)]
    pub cameras_a: usize,
    /// Cameras of tenant B.
    #[arg(long, default_value_t = 2)]
    pub cameras_b: usize,
    /// Inference share of tenant A.
    #[arg(long, default_value_t = 1)]
    pub share_a: u32,
    /// Inference share of tenant B.
    #[arg(long, default_value_t = 1)]
    pub share_b: u32,
    /// Cameras of tenant A whose frames are high priority.
    #[arg(long, default_value_t = 1)]
    pub high_cameras: usize,
    /// Frames offered over what the worker can detect (2: twice as many).
    #[arg(long, default_value_t = 2.0)]
    pub overload: f64,
    /// Seconds each run lasts.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Frames each queue holds.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Milliseconds a frame may wait (`analytics.frame_deadline_ms`).
    #[arg(long, default_value_t = 2000)]
    pub deadline_ms: u64,
}

/// A group of cameras: one tenant's, at one priority.
struct Group {
    label: &'static str,
    tenant: Arc<str>,
    share: u32,
    cameras: usize,
    priority: Priority,
}

/// The groups of a run: A's and B's standard cameras, and A's high-priority ones.
fn groups(args: &FairnessBenchArgs) -> Vec<Group> {
    let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
    vec![
        Group {
            label: "A",
            tenant: Arc::clone(&a),
            share: args.share_a,
            cameras: args.cameras_a,
            priority: Priority::Standard,
        },
        Group {
            label: "B",
            tenant: b,
            share: args.share_b,
            cameras: args.cameras_b,
            priority: Priority::Standard,
        },
        Group {
            label: "A high",
            tenant: a,
            share: args.share_a,
            cameras: args.high_cameras,
            priority: Priority::High,
        },
    ]
}

/// What one group's cameras offered and got.
#[derive(Default)]
struct Outcome {
    offered: AtomicU64,
    detected: AtomicU64,
    shed: AtomicU64,
    expired: AtomicU64,
    /// Seconds from each detected frame's submission to its answer.
    latencies: Mutex<Vec<f64>>,
}

/// The per-camera figures of one group in one run.
#[derive(Clone, Copy, Debug)]
struct PerCamera {
    offered: f64,
    detected: f64,
    lost: f64,
}

impl Outcome {
    fn per_camera(&self, cameras: usize) -> PerCamera {
        let n = cameras.max(1) as f64;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / n;
        PerCamera {
            offered: get(&self.offered),
            detected: get(&self.detected),
            lost: get(&self.shed) + get(&self.expired),
        }
    }

    /// p50 and p99 of the latencies, milliseconds.
    fn latency_ms(&self) -> (f64, f64) {
        let mut l = self
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        l.sort_by(f64::total_cmp);
        let at = |q| quantile(&l, 0, q).unwrap_or(0.0) * 1e3;
        (at(0.5), at(0.99))
    }
}

/// One run: every camera offers a frame every `period` for `args.seconds`.
async fn run(
    worker: Arc<ModelWorker>,
    frames: Arc<Vec<OwnedFrame>>,
    args: &FairnessBenchArgs,
    period: Duration,
) -> Vec<Arc<Outcome>> {
    let groups = groups(args);
    let outcomes: Vec<Arc<Outcome>> = groups.iter().map(|_| Arc::default()).collect();
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let deadline = Duration::from_millis(args.deadline_ms);
    let mut cameras = Vec::new();
    let total: usize = groups.iter().map(|g| g.cameras).sum();
    let mut index = 0;
    for (group, outcome) in groups.iter().zip(&outcomes) {
        for _ in 0..group.cameras {
            // Cameras start spread over one period, as real ones are not in step.
            let offset = period.mul_f64(index as f64 / total as f64);
            index += 1;
            let (worker, frames, outcome) = (
                Arc::clone(&worker),
                Arc::clone(&frames),
                Arc::clone(outcome),
            );
            let (tenant, share, priority) =
                (Arc::clone(&group.tenant), group.share, group.priority);
            cameras.push(tokio::spawn(async move {
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(period);
                let mut pending = Vec::new();
                let mut n = index;
                while Instant::now() < until {
                    tick.tick().await;
                    n += 1;
                    outcome.offered.fetch_add(1, Ordering::Relaxed);
                    let submitted = Instant::now();
                    let answer = worker.submit_as(
                        frames[n % frames.len()].clone(),
                        Submission {
                            tenant: Arc::clone(&tenant),
                            share,
                            deadline: Some(submitted + deadline),
                            ..Submission::new(priority)
                        },
                    );
                    let outcome = Arc::clone(&outcome);
                    pending.push(tokio::spawn(async move {
                        let counter = match answer.await {
                            Ok(Ok(_)) => {
                                outcome
                                    .latencies
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .push(submitted.elapsed().as_secs_f64());
                                &outcome.detected
                            }
                            Ok(Err(DetectorError::Expired)) => &outcome.expired,
                            Ok(Err(_)) => &outcome.expired, // a failed frame is lost too
                            Err(_) => &outcome.shed,
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }));
                }
                for p in pending {
                    let _ = p.await;
                }
            }));
        }
    }
    for c in cameras {
        let _ = c.await;
    }
    outcomes
}

/// Prints one run's figures; returns B's loss per camera over A's.
fn report(name: &str, args: &FairnessBenchArgs, outcomes: &[Arc<Outcome>]) -> f64 {
    let served = |o: &Outcome| o.detected.load(Ordering::Relaxed) as f64;
    let all: f64 = outcomes.iter().map(|o| served(o)).sum();
    let mut per = Vec::new();
    for (group, o) in groups(args).iter().zip(outcomes) {
        let p = o.per_camera(group.cameras);
        let (p50, p99) = o.latency_ms();
        println!(
            "{name:<6} {:<7} ({:>2} cameras, share {}, {:<8}): per camera {:>6.1} offered, {:>6.1} detected, \
             {:>6.1} lost ({:>5.1} %); {:>5.1} % of what was detected; answer p50 {p50:>5.0} ms, p99 {p99:>5.0} ms",
            group.label,
            group.cameras,
            group.share,
            group.priority.as_str(),
            p.offered,
            p.detected,
            p.lost,
            100.0 * p.lost / p.offered.max(1.0),
            100.0 * served(o) / all.max(1.0),
        );
        per.push(p);
    }
    let ratio = per[1].lost / per[0].lost.max(f64::EPSILON);
    println!("{name:<6} B lost per camera / A lost per camera: {ratio:.2} (goal <= 1)");
    ratio
}

/// Runs the benchmark.
pub fn fairness(args: FairnessBenchArgs) -> anyhow::Result<()> {
    context::print();
    if args.cameras_a == 0 || args.cameras_b == 0 {
        bail!("both tenants need cameras");
    }
    let env = runtime::environment(None)?;
    let manifest = Manifest::load(&default_zoo().join(&args.model))?;
    let (w, h) = (manifest.input.width, manifest.input.height);
    let frames: Vec<OwnedFrame> = vms_node::person_scene_frames(w, h, 2)?
        .into_iter()
        .map(|rgb| OwnedFrame {
            width: w,
            height: h,
            rgb,
        })
        .collect();
    if frames.is_empty() {
        bail!("no frames to offer");
    }
    let frames = Arc::new(frames);
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(OnnxDetector::open(manifest.clone(), env, 1)?)
            as Box<dyn vms_models::Detector>)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // The worker's capacity, measured: frames one session detects a second.
    let probe = ModelWorker::start("probe", Arc::clone(&factory), 1, 256)?;
    let started = Instant::now();
    let n = 40;
    rt.block_on(async {
        let answers: Vec<_> = (0..n)
            .map(|i| probe.submit(frames[i % frames.len()].clone(), Priority::Standard))
            .collect();
        for a in answers {
            let _ = a.await;
        }
    });
    let capacity = n as f64 / started.elapsed().as_secs_f64();
    drop(probe);
    let cameras = args.cameras_a + args.cameras_b + args.high_cameras;
    let per_camera_fps = capacity * args.overload / cameras as f64;
    let period = Duration::from_secs_f64(1.0 / per_camera_fps);
    println!(
        "model {} {w}x{h}, one session: {capacity:.1} frames/s; {cameras} cameras at {per_camera_fps:.2} frames/s \
         each offer {:.1}x that for {} s per run; queues of {}, deadline {} ms",
        args.model, args.overload, args.seconds, args.queue, args.deadline_ms
    );

    let fair = Arc::new(ModelWorker::start(
        "fair",
        Arc::clone(&factory),
        1,
        args.queue,
    )?);
    let fair_outcomes = rt.block_on(run(Arc::clone(&fair), Arc::clone(&frames), &args, period));
    drop(fair);
    let fifo = Arc::new(ModelWorker::start_fifo("fifo", factory, 1, args.queue)?);
    let fifo_outcomes = rt.block_on(run(Arc::clone(&fifo), Arc::clone(&frames), &args, period));
    drop(fifo);

    let fair_ratio = report("fair", &args, &fair_outcomes);
    let fifo_ratio = report("fifo", &args, &fifo_outcomes);
    println!(
        "B's loss per camera against A's: fair {fair_ratio:.2}, FIFO baseline {fifo_ratio:.2}"
    );
    if fair_ratio > 1.0 {
        bail!("tenant B's cameras lost more frames than tenant A's under fair queueing");
    }
    Ok(())
}
