//! [`ModelWorker`]: a pool of threads, each owning its own detector (an ONNX Runtime session runs with
//! `&mut self`), fed by two bounded queues: high priority first, then standard. When the standard
//! queue is full the oldest job is dropped (and counted): fresh frames matter more than stale ones. A
//! detector that panics is rebuilt from its factory; the job gets an error and nothing else is touched.

use crate::{Detection, Detector, DetectorError, Frame, ModelError};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Builds a detector for a worker thread (called again after a panic).
pub type DetectorFactory = Arc<dyn Fn() -> Result<Box<dyn Detector>, ModelError> + Send + Sync>;

/// Which queue a job goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Served first; refused (not dropped) when full.
    High,
    /// Served when no high-priority job waits; the oldest is dropped when full.
    Standard,
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

struct Job {
    frame: OwnedFrame,
    reply: oneshot::Sender<DetectResult>,
    /// Where the detector's time on this frame is added, in nanoseconds (usage for billing).
    busy: Option<Arc<AtomicU64>>,
}

#[derive(Default)]
struct Queues {
    high: VecDeque<Job>,
    standard: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    capacity: usize,
    dropped: AtomicU64,
    done: AtomicU64,
    restarts: AtomicU64,
}

/// Counters of a worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Standard jobs dropped because the queue was full.
    pub dropped: u64,
    /// Jobs answered.
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
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            done: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
        });
        let mut handles = Vec::new();
        for i in 0..threads.max(1) {
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

    /// Queues a frame; the answer arrives on the returned channel. A full high-priority queue refuses
    /// at once; a full standard queue drops its oldest job (whose channel then closes).
    pub fn submit(&self, frame: OwnedFrame, priority: Priority) -> oneshot::Receiver<DetectResult> {
        self.submit_timed(frame, priority, None)
    }

    /// [`ModelWorker::submit`], adding the time the detector spends on the frame to `busy`
    /// (nanoseconds): what a tenant's usage counts, queueing left out.
    pub fn submit_timed(
        &self,
        frame: OwnedFrame,
        priority: Priority,
        busy: Option<Arc<AtomicU64>>,
    ) -> oneshot::Receiver<DetectResult> {
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
        let job = Job { frame, reply, busy };
        match priority {
            Priority::High if q.high.len() >= self.shared.capacity => {
                let _ = job.reply.send(Err(DetectorError::Inference(
                    "high-priority queue full".into(),
                )));
                return answer;
            }
            Priority::High => q.high.push_back(job),
            Priority::Standard => {
                if q.standard.len() >= self.shared.capacity {
                    q.standard.pop_front();
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                q.standard.push_back(job);
            }
        }
        drop(q);
        self.shared.ready.notify_one();
        answer
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        WorkerStats {
            dropped: self.shared.dropped.load(Ordering::Relaxed),
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

fn next_job(shared: &Shared) -> Option<Job> {
    let mut q = shared.queues.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = q.high.pop_front().or_else(|| q.standard.pop_front()) {
            return Some(job);
        }
        if q.closed {
            return None;
        }
        q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
    }
}

fn run(mut detector: Box<dyn Detector>, shared: &Shared, factory: &DetectorFactory) {
    while let Some(job) = next_job(shared) {
        let frame = Frame {
            width: job.frame.width,
            height: job.frame.height,
            rgb: &job.frame.rgb,
        };
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| detector.detect(&frame)));
        if let Some(busy) = &job.busy {
            let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            busy.fetch_add(nanos, Ordering::Relaxed);
        }
        let answer = match result {
            Ok(answer) => answer,
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
                Err(DetectorError::Inference(
                    "detector crashed and was restarted".into(),
                ))
            }
        };
        shared.done.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(answer);
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
        let timed = worker.submit_timed(frame(1), Priority::Standard, Some(Arc::clone(&busy)));
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
}
