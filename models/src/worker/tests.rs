//! Tests of the model worker: priorities, shedding across tenants, deadlines, panics, usage time
//! and batching, over fake detectors.

use super::*;
use crate::{Detection, InputSpec};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Answers with the frame's width as score; panics on width 13; blocks while `hold` is set.
struct Fake {
    hold: Arc<AtomicBool>,
}

impl Detector for Fake {
    fn name(&self) -> &str {
        "fake"
    }
    fn input_spec(&self) -> InputSpec {
        InputSpec {
            width: 1,
            height: 1,
        }
    }
    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        while self.hold.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        assert_ne!(frame.width, 13, "unlucky frame");
        Ok(vec![Detection {
            label: "x".into(),
            score: frame.width as f32,
            bbox: [0.0; 4],
        }])
    }
}

/// A one-thread worker of [`Fake`] detectors, queues of 2, held while `hold` is set.
fn fake_worker(hold: &Arc<AtomicBool>) -> ModelWorker {
    let h = Arc::clone(hold);
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(Fake {
            hold: Arc::clone(&h),
        }) as Box<dyn Detector>)
    });
    ModelWorker::start("fake", factory, 1, 2).expect("start")
}

fn frame(width: u32) -> OwnedFrame {
    OwnedFrame {
        width,
        height: 1,
        rgb: vec![0; width as usize * 3],
    }
}

#[tokio::test]
async fn high_priority_first_oldest_standard_dropped_and_panics_recovered() {
    let hold = Arc::new(AtomicBool::new(true));
    let worker = fake_worker(&hold);
    let first = worker.submit(frame(1), Priority::Standard); // taken by the thread, which holds
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let s2 = worker.submit(frame(2), Priority::Standard);
    let s3 = worker.submit(frame(3), Priority::Standard);
    let s4 = worker.submit(frame(4), Priority::Standard); // drops 2
    let h5 = worker.submit(frame(5), Priority::High);
    hold.store(false, Ordering::Relaxed);
    assert_eq!(first.await.expect("answer").expect("ok")[0].score, 1.0);
    assert!(s2.await.is_err(), "the oldest standard job was dropped");
    assert_eq!(h5.await.expect("answer").expect("ok")[0].score, 5.0);
    assert_eq!(s3.await.expect("answer").expect("ok")[0].score, 3.0);
    assert_eq!(s4.await.expect("answer").expect("ok")[0].score, 4.0);
    assert!(
        worker
            .submit(frame(13), Priority::High)
            .await
            .expect("answer")
            .is_err()
    );
    assert_eq!(
        worker
            .submit(frame(7), Priority::High)
            .await
            .expect("answer")
            .expect("ok")[0]
            .score,
        7.0
    );
    assert_eq!(
        worker.stats(),
        WorkerStats {
            dropped: 1,
            expired: 0,
            done: 6,
            restarts: 1
        }
    );
}

#[tokio::test]
async fn the_detector_time_of_a_timed_frame_is_added_to_its_tally() {
    let hold = Arc::new(AtomicBool::new(true));
    let worker = fake_worker(&hold);
    let busy = Arc::new(AtomicU64::new(0));
    let timed = worker.submit_as(
        frame(1),
        Submission {
            busy: Some(Arc::clone(&busy)),
            ..Submission::new(Priority::Standard)
        },
    );
    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    hold.store(false, Ordering::Relaxed);
    timed.await.expect("answer").expect("ok");
    let spent = busy.load(Ordering::Relaxed);
    assert!(
        spent >= 30_000_000,
        "the 40 ms held in the detector counted: {spent} ns"
    );
    worker
        .submit(frame(2), Priority::Standard)
        .await
        .expect("answer")
        .expect("ok");
    assert_eq!(
        busy.load(Ordering::Relaxed),
        spent,
        "an untimed frame adds nothing"
    );
}

/// Records what the worker tells its observer.
#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl QueueObserver for Seen {
    fn queued(&self, _: &str, _: Priority, _: usize) {}
    fn dropped(&self, tenant: &str, priority: Priority, reason: DropReason) {
        self.push(format!(
            "{} {tenant} {}",
            reason.as_str(),
            priority.as_str()
        ));
    }
    fn served(&self, tenant: &str, priority: Priority, _: Duration) {
        self.push(format!("served {tenant} {}", priority.as_str()));
    }
}

impl Seen {
    fn push(&self, line: String) {
        self.0.lock().expect("lock").push(line);
    }
}

fn of(tenant: &str, priority: Priority, deadline: Option<Instant>) -> Submission {
    Submission {
        tenant: Arc::from(tenant),
        deadline,
        ..Submission::new(priority)
    }
}

#[tokio::test]
async fn a_full_queue_sheds_the_oldest_frame_of_the_tenant_most_over_its_share() {
    let hold = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(Seen::default());
    let h = Arc::clone(&hold);
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(Fake {
            hold: Arc::clone(&h),
        }) as Box<dyn Detector>)
    });
    let observer: Arc<dyn QueueObserver> = seen.clone();
    let worker = ModelWorker::start_with(
        "fake",
        factory,
        WorkerOptions {
            threads: 1,
            capacity: 2,
            observer: Some(observer),
            ..WorkerOptions::default()
        },
    )
    .expect("start");
    let first = worker.submit_as(frame(1), of("big", Priority::Standard, None));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let oldest = worker.submit_as(frame(2), of("big", Priority::Standard, None));
    let small = worker.submit_as(frame(3), of("small", Priority::Standard, None));
    let big = worker.submit_as(frame(4), of("big", Priority::Standard, None)); // full: sheds 2
    hold.store(false, Ordering::Relaxed);
    first.await.expect("answer").expect("ok");
    assert!(
        oldest.await.is_err(),
        "the big tenant's oldest frame was shed"
    );
    assert_eq!(small.await.expect("answer").expect("ok")[0].score, 3.0);
    assert_eq!(big.await.expect("answer").expect("ok")[0].score, 4.0);
    let seen = seen.0.lock().expect("lock").clone();
    assert!(
        seen.contains(&"shed big standard".to_string()),
        "the big tenant, most over its share, lost its oldest frame: {seen:?}"
    );
    assert!(seen.contains(&"served small standard".to_string()));
}

#[tokio::test]
async fn an_expired_frame_is_answered_expired_not_run() {
    let hold = Arc::new(AtomicBool::new(true));
    let worker = fake_worker(&hold);
    let first = worker.submit(frame(1), Priority::Standard);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let soon = Instant::now() + Duration::from_millis(10);
    let stale = worker.submit_as(frame(2), of("t", Priority::High, Some(soon)));
    tokio::time::sleep(Duration::from_millis(30)).await;
    hold.store(false, Ordering::Relaxed);
    first.await.expect("answer").expect("ok");
    assert!(matches!(
        stale.await.expect("answer"),
        Err(DetectorError::Expired)
    ));
    assert_eq!(worker.stats().expired, 1);
    assert_eq!(worker.stats().done, 1);
}

/// Takes up to 4 frames a call, recording each call's size; blocks while `hold` is set.
struct Batched {
    hold: Arc<AtomicBool>,
    sizes: Arc<Mutex<Vec<usize>>>,
}

impl Detector for Batched {
    fn name(&self) -> &str {
        "batched"
    }
    fn input_spec(&self) -> InputSpec {
        InputSpec {
            width: 1,
            height: 1,
        }
    }
    fn detect(&mut self, frame: &Frame<'_>) -> Result<Vec<Detection>, DetectorError> {
        self.detect_batch(std::slice::from_ref(frame))
            .pop()
            .unwrap_or(Ok(Vec::new()))
    }
    fn max_batch(&self) -> usize {
        4
    }
    fn detect_batch(&mut self, frames: &[Frame<'_>]) -> Vec<Result<Vec<Detection>, DetectorError>> {
        while self.hold.load(Ordering::Relaxed) {
            std::thread::yield_now();
        }
        self.sizes.lock().expect("lock").push(frames.len());
        frames
            .iter()
            .map(|f| {
                Ok(vec![Detection {
                    label: "x".into(),
                    score: f.width as f32,
                    bbox: [0.0; 4],
                }])
            })
            .collect()
    }
}

/// A one-thread worker of [`Batched`] detectors asking for batches of `max` within `wait`,
/// held while `hold` is set; with the sizes of the calls made.
fn batched_worker(
    hold: &Arc<AtomicBool>,
    max: usize,
    wait: Duration,
) -> (ModelWorker, Arc<Mutex<Vec<usize>>>) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let (h, z) = (Arc::clone(hold), Arc::clone(&sizes));
    let factory: DetectorFactory = Arc::new(move || {
        Ok(Box::new(Batched {
            hold: Arc::clone(&h),
            sizes: Arc::clone(&z),
        }) as Box<dyn Detector>)
    });
    let options = WorkerOptions {
        threads: 1,
        capacity: 16,
        batch: Batching { max, wait },
        observer: None,
    };
    let worker = ModelWorker::start_with("batched", factory, options).expect("start");
    (worker, sizes)
}

#[tokio::test]
async fn frames_waiting_run_together_up_to_the_detectors_batch_and_each_gets_its_answer() {
    let hold = Arc::new(AtomicBool::new(true));
    // The detector takes 4: that caps the 8 asked for.
    let (worker, sizes) = batched_worker(&hold, 8, Duration::ZERO);
    let first = worker.submit(frame(1), Priority::Standard); // taken alone, held
    tokio::time::sleep(Duration::from_millis(50)).await;
    let rest: Vec<_> = (2..=6)
        .map(|w| worker.submit(frame(w), Priority::Standard))
        .collect();
    hold.store(false, Ordering::Relaxed);
    assert_eq!(first.await.expect("answer").expect("ok")[0].score, 1.0);
    for (w, answer) in (2..=6).zip(rest) {
        assert_eq!(
            answer.await.expect("answer").expect("ok")[0].score,
            w as f32
        );
    }
    assert_eq!(*sizes.lock().expect("lock"), vec![1, 4, 1]);
    assert_eq!(worker.stats().done, 6);
}

#[tokio::test]
async fn a_lone_frame_waits_at_most_the_batching_wait() {
    let hold = Arc::new(AtomicBool::new(false));
    let (worker, sizes) = batched_worker(&hold, 4, Duration::from_millis(30));
    let started = Instant::now();
    worker
        .submit(frame(1), Priority::Standard)
        .await
        .expect("answer")
        .expect("ok");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(25) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(*sizes.lock().expect("lock"), vec![1]);
}

#[tokio::test]
async fn a_workers_load_counts_queued_and_running_frames_and_its_time_per_frame() {
    let hold = Arc::new(AtomicBool::new(true));
    let worker = fake_worker(&hold);
    assert_eq!(worker.load().queued, 0);
    assert_eq!(worker.load().service, Duration::ZERO);
    let running = worker.submit(frame(1), Priority::Standard);
    let queued = worker.submit(frame(2), Priority::High);
    while worker.load().queued < 2 {
        tokio::task::yield_now().await;
    }
    let load = worker.load();
    assert_eq!((load.queued, load.sessions), (2, 1));
    // Before any frame was timed, the fallback prices each of the three rounds ahead of a new one.
    let fallback = Duration::from_millis(10);
    assert_eq!(load.expected_wait(fallback), fallback * 3);
    hold.store(false, Ordering::Relaxed);
    running.await.expect("answer").expect("ok");
    queued.await.expect("answer").expect("ok");
    let load = worker.load();
    assert_eq!(load.queued, 0);
    assert!(load.service > Duration::ZERO, "{load:?}");
    // Measured, the time per frame replaces the fallback; two sessions halve the rounds.
    let two = WorkerLoad {
        queued: 3,
        sessions: 2,
        service: Duration::from_millis(4),
    };
    assert_eq!(two.expected_wait(fallback), Duration::from_millis(8));
}
