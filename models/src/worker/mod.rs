//! [`ModelWorker`]: a pool of threads, each owning its own detector (an ONNX Runtime session runs with
//! `&mut self`), fed by two bounded [`FairQueue`]s: high priority first, then standard. Within each,
//! tenants share the worker in proportion to their licence's inference share; when a queue is full,
//! the oldest frame of the tenant most over its share is shed (and counted), and a frame still
//! queued at its deadline is answered [`DetectorError::Expired`] instead of being run. A detector
//! that panics is rebuilt from its factory; the job gets an error and nothing else is touched.

mod submission;

pub use submission::{
    Batching, DetectResult, DropReason, OwnedFrame, Priority, QueueObserver, Submission,
    WorkerOptions,
};

use crate::fair_queue::FairQueue;
use crate::{Detector, DetectorError, Frame, ModelError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Builds a detector for a worker thread (called again after a panic).
pub type DetectorFactory = Arc<dyn Fn() -> Result<Box<dyn Detector>, ModelError> + Send + Sync>;

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
    /// Recent detector time per frame (an exponential average, 1/8 per call), in nanoseconds.
    service_nanos: AtomicU64,
    /// Frames a detector is working on now.
    running: AtomicU64,
}

impl Shared {
    fn record_service(&self, nanos: u64) {
        let old = self.service_nanos.load(Ordering::Relaxed);
        let new = if old == 0 {
            nanos
        } else {
            old - old / 8 + nanos / 8
        };
        self.service_nanos.store(new, Ordering::Relaxed);
    }
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

    fn observe_depth(&self, queues: &mut Queues, tenant: &str, priority: Priority) {
        if let Some(o) = &self.observer {
            o.queued(tenant, priority, queues.of(priority).flow_len(tenant));
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

/// How loaded a worker is now, for choosing among replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerLoad {
    /// Frames waiting in its queues or being run.
    pub queued: usize,
    /// Detector threads.
    pub sessions: usize,
    /// Recent detector time per frame (zero before the first).
    pub service: Duration,
}

impl WorkerLoad {
    /// How long a frame submitted now should wait for its answer: the frames ahead of it and itself,
    /// shared among the sessions, at the recent time per frame (`fallback` before any was measured).
    pub fn expected_wait(&self, fallback: Duration) -> Duration {
        let per_frame = if self.service.is_zero() {
            fallback
        } else {
            self.service
        };
        let rounds = (self.queued + 1).div_ceil(self.sessions.max(1));
        per_frame * u32::try_from(rounds).unwrap_or(u32::MAX)
    }
}

/// A pool of detector threads; see the module docs. Dropping it finishes queued jobs' threads.
pub struct ModelWorker {
    name: String,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    sessions: usize,
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
            service_nanos: AtomicU64::new(0),
            running: AtomicU64::new(0),
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
            sessions: handles.len(),
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
        self.shared.observe_depth(&mut q, &how.tenant, how.priority);
        if let Some((tenant, job)) = shed {
            self.shared.observe_depth(&mut q, &tenant, how.priority);
            self.shared
                .drop_job(&tenant, how.priority, job, DropReason::Shed);
        }
        drop(q);
        self.shared.ready.notify_one();
        answer
    }

    /// Its load now.
    pub fn load(&self) -> WorkerLoad {
        let waiting = {
            let q = self
                .shared
                .queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            q.high.len() + q.standard.len()
        };
        let running = self.shared.running.load(Ordering::Relaxed);
        WorkerLoad {
            queued: waiting + usize::try_from(running).unwrap_or(usize::MAX),
            sessions: self.sessions,
            service: Duration::from_nanos(self.shared.service_nanos.load(Ordering::Relaxed)),
        }
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
        let count = jobs.len() as u64;
        shared.running.fetch_add(count, Ordering::Relaxed);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if frames.len() == 1 {
                vec![detector.detect(&frames[0])]
            } else {
                detector.detect_batch(&frames)
            }
        }));
        drop(frames);
        // Each frame of a batch is charged its part of the call.
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX) / count;
        shared.running.fetch_sub(count, Ordering::Relaxed);
        shared.record_service(nanos);
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
mod tests;
