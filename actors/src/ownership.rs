//! The cameras this node may record, with the ownership epoch of each: written by the placement
//! agent (`cluster::placement`), read by the recording actors. Without placement the node owns every
//! camera and writes unfenced. A base module: it imports nothing of this crate but metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};
use vms_messages::CameraId;
use vms_store::Grant;

#[derive(Debug)]
struct Owned {
    grants: HashMap<CameraId, Grant>,
    /// When each camera was gained, until its first segment here.
    gained_at: HashMap<CameraId, Instant>,
    /// When grants were last read successfully (or this node started).
    read_at: Instant,
    /// When this node last fenced itself: grants read before then are stale.
    fenced_at: Option<Instant>,
}

impl Default for Owned {
    fn default() -> Self {
        Self {
            grants: HashMap::new(),
            gained_at: HashMap::new(),
            read_at: Instant::now(),
            fenced_at: None,
        }
    }
}

/// The cameras this node may record, with their ownership epochs.
#[derive(Debug)]
pub struct Ownership {
    /// Whether cameras are placed across nodes; otherwise this node records every camera.
    placed: bool,
    inner: RwLock<Owned>,
    generation: AtomicU64,
}

impl Ownership {
    /// Grants read from placement: at first none.
    pub fn placed() -> Self {
        Self {
            placed: true,
            inner: RwLock::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// No placement: every camera is this node's, and its writes are not fenced.
    pub fn unplaced() -> Self {
        Self {
            placed: false,
            inner: RwLock::default(),
            generation: AtomicU64::new(0),
        }
    }

    /// Whether cameras are placed across nodes.
    pub fn is_placed(&self) -> bool {
        self.placed
    }

    /// The ownership epoch a camera actor starting now writes `camera`'s segments and events with
    /// (0 when not granted here); `None` without placement (writes are not fenced).
    pub fn fencing_epoch(&self, camera: CameraId) -> Option<i64> {
        self.placed.then(|| self.epoch(camera))
    }

    /// Whether this node records `camera`.
    pub fn owns(&self, camera: CameraId) -> bool {
        !self.placed || self.read().grants.contains_key(&camera)
    }

    /// The epoch a camera actor started now writes `camera` with (0: not granted here, so every write
    /// is refused). A running actor keeps the epoch it started under.
    pub fn epoch(&self, camera: CameraId) -> i64 {
        self.read().grants.get(&camera).map_or(0, |g| g.epoch)
    }

    /// The cameras this node records (not those it only stands by for); `None` without placement,
    /// when it records every camera.
    pub fn owned_cameras(&self) -> Option<Vec<CameraId>> {
        self.placed.then(|| {
            self.read()
                .grants
                .iter()
                .filter(|(_, g)| g.owner)
                .map(|(c, _)| *c)
                .collect()
        })
    }

    /// A number that changes whenever the grants do: a cheap way to notice a gain or a loss.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// How many cameras this node may record.
    pub fn len(&self) -> usize {
        self.read().grants.len()
    }

    /// Whether it may record none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A segment of `camera` was indexed here: the first after gaining it reports the takeover time.
    pub fn segment_indexed(&self, camera: CameraId) {
        let gained = self
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .gained_at
            .remove(&camera);
        if let Some(at) = gained {
            crate::metrics::TAKEOVER_SECONDS.observe(at.elapsed().as_secs_f64());
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Owned> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets one grant, so that the next read gains it again.
    pub(crate) fn forget(&self, camera: CameraId) {
        let mut o = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        o.grants.remove(&camera);
        o.gained_at.remove(&camera);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// How long since the grants were last read (or this node started).
    pub(crate) fn read_age(&self) -> Duration {
        self.read().read_at.elapsed()
    }

    /// Drops every grant (this node fenced itself); grants read before now are ignored when their
    /// read ends later. Returns the cameras lost.
    pub(crate) fn fence(&self) -> Vec<CameraId> {
        let (_, lost) = self.replace(HashMap::new());
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .fenced_at = Some(Instant::now());
        lost
    }

    /// Replaces the granted set with grants read by a query that started at `started`; returns
    /// (gained, lost), or `None` when this node fenced itself after the query started (a read that
    /// hung in a partition and ended after it healed is stale).
    pub(crate) fn replace_read(
        &self,
        now: HashMap<CameraId, Grant>,
        started: Instant,
    ) -> Option<(Vec<CameraId>, Vec<CameraId>)> {
        {
            let mut o = self.inner.write().unwrap_or_else(PoisonError::into_inner);
            if o.fenced_at.is_some_and(|f| f >= started) {
                return None;
            }
            o.read_at = started;
        }
        Some(self.replace(now))
    }

    /// Replaces the granted set; returns (gained, lost). A camera granted again at another epoch (it
    /// moved away and back between two reads) is both lost and gained: its actor restarts under the
    /// new epoch, since what it recorded meanwhile belongs to the old one.
    pub(crate) fn replace(&self, now: HashMap<CameraId, Grant>) -> (Vec<CameraId>, Vec<CameraId>) {
        let mut o = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let regranted = |c: &CameraId| {
            o.grants
                .get(c)
                .is_some_and(|g| now.get(c).is_some_and(|n| n.epoch != g.epoch && n.owner))
        };
        let gained: Vec<CameraId> = now
            .keys()
            .filter(|c| !o.grants.contains_key(c) || regranted(c))
            .copied()
            .collect();
        let lost: Vec<CameraId> = o
            .grants
            .keys()
            .filter(|c| !now.contains_key(c) || regranted(c))
            .copied()
            .collect();
        for camera in &gained {
            o.gained_at.insert(*camera, Instant::now());
        }
        for camera in &lost {
            o.gained_at.remove(camera);
        }
        let changed = o.grants != now;
        o.grants = now;
        if changed {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        (gained, lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_reports_gains_losses_and_new_epochs() {
        let o = Ownership::placed();
        let cam = CameraId::new();
        assert_eq!(o.epoch(cam), 0);
        let (gained, _) = o.replace(HashMap::from([(
            cam,
            Grant {
                epoch: 4,
                owner: true,
            },
        )]));
        assert_eq!(gained, vec![cam]);
        assert!(o.owns(cam));
        let (_, lost) = o.replace(HashMap::new());
        assert_eq!(lost, vec![cam]);
        assert!(!o.owns(cam));
        assert_eq!(
            o.epoch(cam),
            0,
            "not granted: a new actor's writes are refused"
        );
        // Granted again at another epoch while still held: lost and gained (its actor restarts).
        let grant = |epoch| Grant { epoch, owner: true };
        o.replace(HashMap::from([(cam, grant(5))]));
        let (gained, lost) = o.replace(HashMap::from([(cam, grant(7))]));
        assert_eq!((gained, lost), (vec![cam], vec![cam]));
        let (gained, lost) = o.replace(HashMap::from([(cam, grant(7))]));
        assert!(gained.is_empty() && lost.is_empty());
    }
}
