//! How frames are handed to a [`ModelWorker`](super::ModelWorker): the frame, its priority, whose it
//! is and until when it is worth running ([`Submission`]), what the worker tells its observer, and
//! the options a worker starts with.

use crate::{Detection, DetectorError};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

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
