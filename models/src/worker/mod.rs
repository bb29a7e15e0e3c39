//! [`ModelWorker`]: a pool of threads, each owning its own detector (an ONNX Runtime session runs with
//! `&mut self`), fed by two bounded [`FairQueue`]s: high priority first, then standard. Within each,
//! tenants share the worker in proportion to their licence's inference share; when a queue is full,
//! the oldest frame of the tenant most over its share is shed (and counted), and a frame still
//! queued at its deadline is answered [`DetectorError::Expired`] instead of being run. A detector
//! that panics is rebuilt from its factory; the job gets an error and nothing else is touched.

use crate::fair_queue::FairQueue;
use crate::{Detection, Detector, DetectorError, Frame, ModelError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Builds a detector for a worker thread (called again after a panic).
pub type DetectorFactory = Arc<dyn Fn() -> Result<Box<dyn Detector>, ModelError> + Send + Sync>;

/// Which queue a job goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Served before any standard job (rules that must not wait: intrusion, fire).
    High,
    /// Served when no high-priority job waits.
    Standard,
}

impl Priority {
    /// The priority's name, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Standard => "standard",
        }
    }
}

/// Why a queued frame was not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shed to make room in a full queue (its tenant was the most over its share).
    Shed,
    /// Its deadline passed while it waited.
    Expired,
}

impl DropReason {
    /// The reason's name, as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shed => "shed",
            Self::Expired => "expired",
        }
    }
}

/// Told what the queues do, per tenant and priority (the node turns it into metrics).
pub trait QueueObserver: Send + Sync {
    /// The tenant's frames now queued at `priority`.
    fn queued(&self, tenant: &str, priority: Priority, depth: usize);
    /// One of the tenant's frames was dropped unrun.
    fn dropped(&self, tenant: &str, priority: Priority, reason: DropReason);
    /// One of the tenant's frames was taken for detection after waiting `waited`.
    fn served(&self, tenant: &str, priority: Priority, waited: Duration);
}

/// An RGB8 frame owned by a job.
#[derive(Clone, Debug)]
pub struct OwnedFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

/// The answer to a job.
pub type DetectResult = Result<Vec<Detection>, DetectorError>;

/// How a frame is queued: its priority, whose it is, its share, and until when it is worth running.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Queue it goes to.
    pub priority: Priority,
    /// Tenant whose frame it is (its fair-queueing flow and metrics label).
    pub tenant: Arc<str>,
    /// The tenant's inference share (weight; 1 or more).
    pub share: u32,
    /// When it is no longer worth running; `None` for never.
    pub deadline: Option<Instant>,
    /// Where the detector's time on it is added, in nanoseconds (usage for billing).
    pub busy: Option<Arc<AtomicU64>>,
}

impl Submission {
    /// A frame of no tenant in particular (share 1, no deadline, untimed) at `priority`.
    pub fn new(priority: Priority) -> Self {
        Self {
            priority,
            tenant: Arc::from(""),
            share: 1,
            deadline: None,
            busy: None,
        }
    }
}

struct Job {
    frame: OwnedFrame,
    reply: oneshot::Sender<DetectResult>,
    queued_at: Instant,
    deadline: Option<Instant>,
    busy: Option<Arc<AtomicU64>>,
}

struct Queues {
    high: FairQueue<Job>,
    standard: FairQueue<Job>,
    closed: bool,
}

impl Queues {
    fn of(&mut self, priority: Priority) -> &mut FairQueue<Job> {
        match priority {
            Priority::High => &mut self.high,
            Priority::Standard => &mut self.standard,
        }
    }
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    dropped: AtomicU64,
    expired: AtomicU64,
    done: AtomicU64,
    restarts: AtomicU64,
    observer: Option<Arc<dyn QueueObserver>>,
    batch: Batching,
}

/// How a worker thread gathers frames for one detector call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Batching {
    /// Most frames in one call (1: no batching); a detector that takes fewer caps it.
    pub max: usize,
    /// How long a thread holding fewer than `max` frames waits for more before it runs them.
    pub wait: Duration,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            max: 1,
            wait: Duration::ZERO,
        }
    }
}

/// How a [`ModelWorker`] runs: threads, queue depth, batching and who is told what the queues do.
#[derive(Clone, Default)]
pub struct WorkerOptions {
    /// Detector threads (sessions), at least one.
    pub threads: usize,
    /// Frames each queue (high, standard) holds.
    pub capacity: usize,
    /// Frames per detector call.
    pub batch: Batching,
    /// Told what the queues do.
    pub observer: Option<Arc<dyn QueueObserver>>,
}

impl Shared {
    fn drop_job(&self, tenant: &str, priority: Priority, job: Job, reason: DropReason) {
        let counter = match reason {
            DropReason::Shed => &self.dropped,
            DropReason::Expired => &self.expired,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if reason == DropReason::Expired {
            let _ = job.reply.send(Err(DetectorError::Expired));
        } // a shed job's channel closes
        if let Some(o) = &self.observer {
            o.dropped(tenant, priority, reason);
        }
    }

    fn observe_depth(&self, queues: &Queues, tenant: &str, priority: Priority) {
        if let Some(o) = &self.observer {
            let queue = match priority {
                Priority::High => &queues.high,
                Priority::Standard => &queues.standard,
            };
            o.queued(tenant, priority, queue.flow_len(tenant));
        }
    }
}

/// Counters of a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs shed because their queue was full.
    pub dropped: u64,
    /// Jobs whose deadline passed while they waited.
    pub expired: u64,
    /// Jobs answered by the detector.
    pub done: u64,
    /// Detectors rebuilt after a panic.
    pub restarts: u64,
}

/// A pool of detector threads; see the module docs. Dropping it finishes queued jobs' threads.
pub struct ModelWorker {
    name: String,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl ModelWorker {
    /// Starts `threads` threads, each with a detector from `factory`; each queue holds `capacity` jobs.
    /// Fails if the first detector cannot be built.
    pub fn start(
        name: &str,
        factory: DetectorFactory,
        threads: usize,
        capacity: usize,
    ) -> Result<Self, ModelError> {
        let options = WorkerOptions {
            threads,
            capacity,
            ..WorkerOptions::default()
        };
        Self::start_with(name, factory, options)
    }

    /// [`ModelWorker::start`] with every option.
    pub fn start_with(
        name: &str,
        factory: DetectorFactory,
        options: WorkerOptions,
    ) -> Result<Self, ModelError> {
        let capacity = options.capacity;
        Self::start_with_queues(name, factory, options, || FairQueue::new(capacity))
    }

    /// [`ModelWorker::start`] with first-in-first-out queues that shed the oldest frame of any
    /// tenant: the baseline the fairness benchmark compares against.
    pub fn start_fifo(
        name: &str,
        factory: DetectorFactory,
        threads: usize,
        capacity: usize,
    ) -> Result<Self, ModelError> {
        let options = WorkerOptions {
            threads,
            capacity,
            ..WorkerOptions::default()
        };
        Self::start_with_queues(name, factory, options, || FairQueue::fifo(capacity))
    }

    fn start_with_queues(
        name: &str,
        factory: DetectorFactory,
        options: WorkerOptions,
        queue: impl Fn() -> FairQueue<Job>,
    ) -> Result<Self, ModelError> {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues {
                high: queue(),
                standard: queue(),
                closed: false,
            }),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            done: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            observer: options.observer,
            batch: options.batch,
        });
        let mut handles = Vec::new();
        for i in 0..options.threads.max(1) {
            let detector = factory()?;
            let (shared, factory) = (Arc::clone(&shared), Arc::clone(&factory));
            let handle = std::thread::Builder::new()
                .name(format!("model-{name}-{i}"))
                .spawn(move || run(detector, &shared, &factory))
                .map_err(|e| ModelError::Runtime(format!("cannot start worker thread: {e}")))?;
            handles.push(handle);
        }
        Ok(Self {
            name: name.to_string(),
            shared,
            threads: handles,
        })
    }

    /// The detector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues a frame of no tenant in particular; see [`ModelWorker::submit_as`].
    pub fn submit(&self, frame: OwnedFrame, priority: Priority) -> oneshot::Receiver<DetectResult> {
        self.submit_as(frame, Submission::new(priority))
    }

    /// Queues a frame as `how` says; the answer arrives on the returned channel. A frame shed from
    /// a full queue has its channel closed; one whose deadline passes while it waits is answered
    /// [`DetectorError::Expired`].
    pub fn submit_as(&self, frame: OwnedFrame, how: Submission) -> oneshot::Receiver<DetectResult> {
        let (reply, answer) = oneshot::channel();
        let mut q = self
            .shared
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if q.closed {
            let _ = reply.send(Err(DetectorError::Inference("worker stopped".into())));
            return answer;
        }
        let job = Job {
            frame,
            reply,
            queued_at: Instant::now(),
            deadline: how.deadline,
            busy: how.busy,
        };
        let shed = q.of(how.priority).push(&how.tenant, how.share, job);
        self.shared.observe_depth(&q, &how.tenant, how.priority);
        if let Some((tenant, job)) = shed {
            self.shared.observe_depth(&q, &tenant, how.priority);
            self.shared
                .drop_job(&tenant, how.priority, job, DropReason::Shed);
        }
        drop(q);
        self.shared.ready.notify_one();
        answer
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            expired: self.shared.expired.load(Ordering::Relaxed),
            done: self.shared.done.load(Ordering::Relaxed),
            restarts: self.shared.restarts.load(Ordering::Relaxed),
        }
    }
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        self.shared
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.shared.ready.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The next job queued, high priority first; jobs past their deadline are answered on the way.
fn try_next(shared: &Shared, q: &mut Queues) -> Option<Job> {
    for priority in [Priority::High, Priority::Standard] {
        while let Some((tenant, job)) = q.of(priority).pop() {
            shared.observe_depth(q, &tenant, priority);
            let now = Instant::now();
            if job.deadline.is_some_and(|d| d <= now) {
                shared.drop_job(&tenant, priority, job, DropReason::Expired);
                continue;
            }
            if let Some(o) = &shared.observer {
                o.served(&tenant, priority, now.duration_since(job.queued_at));
            }
            return Some(job);
        }
    }
    None
}

/// The next jobs to run together: waits for one, then takes up to `max` (waiting at most the
/// batching wait for more). Empty once the worker is stopped.
fn next_batch(shared: &Shared, max: usize) -> Vec<Job> {
    let mut q = shared.queues.lock().unwrap_or_else(PoisonError::into_inner);
    let mut batch = Vec::new();
    loop {
        if let Some(job) = try_next(shared, &mut q) {
            batch.push(job);
            break;
        }
        if q.closed {
            return batch;
        }
        q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
    }
    let until = Instant::now() + shared.batch.wait;
    while batch.len() < max {
        if let Some(job) = try_next(shared, &mut q) {
            batch.push(job);
            continue;
        }
        let now = Instant::now();
        if q.closed || now >= until {
            break;
        }
        q = shared
            .ready
            .wait_timeout(q, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    batch
}

fn run(mut detector: Box<dyn Detector>, shared: &Shared, factory: &DetectorFactory) {
    loop {
        let max = shared.batch.max.clamp(1, detector.max_batch().max(1));
        let jobs = next_batch(shared, max);
        if jobs.is_empty() {
            return;
        }
        let frames: Vec<Frame<'_>> = jobs
            .iter()
            .map(|job| Frame {
                width: job.frame.width,
                height: job.frame.height,
                rgb: &job.frame.rgb,
            })
            .collect();
        let started = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if frames.len() == 1 {
                vec![detector.detect(&frames[0])]
            } else {
                detector.detect_batch(&frames)
            }
        }));
        drop(frames);
        // Each frame of a batch is charged its part of the call.
        let nanos =
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX) / jobs.len() as u64;
        let answers = match result {
            Ok(answers) => answers,
            Err(_) => {
                shared.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    detector = detector.name(),
                    "detector panicked; rebuilding it"
                );
                match factory() {
                    Ok(fresh) => detector = fresh,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot rebuild detector; keeping the old one")
                    }
                }
                Vec::new()
            }
        };
        let mut answers = answers.into_iter();
        for job in jobs {
            if let Some(busy) = &job.busy {
                busy.fetch_add(nanos, Ordering::Relaxed);
            }
            let answer = answers.next().unwrap_or_else(|| {
                Err(DetectorError::Inference(
                    "detector crashed and was restarted".into(),
                ))
            });
            shared.done.fetch_add(1, Ordering::Relaxed);
            let _ = job.reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputSpec;
    use std::sync::atomic::AtomicBool;

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
        fn detect_batch(
            &mut self,
            frames: &[Frame<'_>],
        ) -> Vec<Result<Vec<Detection>, DetectorError>> {
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
}
