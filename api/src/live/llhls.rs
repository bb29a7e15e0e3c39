//! Low-latency HLS of a camera's live video: one window per camera, shared by every LL-HLS
//! client of this node. A task reads the camera's live feed and cuts it into segments that start
//! on keyframes (at least [`SEGMENT_TARGET`] long) made of parts of about [`PART_TARGET`] (CMAF
//! chunks: each part is its frames' one-sample fragments back to back). Playlist and part requests
//! may block until what they name exists (`_HLS_msn`/`_HLS_part`, preload hints). A window nobody
//! asked for in [`IDLE`] stops and lets its viewer place go.
//!
//! Each client takes a viewer place of its own: the window's place stands for its first client,
//! and every other client that reloads the playlist holds one more until it has not for
//! [`CLIENT_IDLE`]. A client is told apart by its address, its user agent and its credential
//! (hashed), so players behind one address with the same browser and token count once.

use crate::live::ViewerSlot;
use crate::live::gate::{self, FrameGate};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vms_messages::{CameraId, LiveFeed, LiveFrame, LiveTrack};

/// Parts last about this long (seconds).
pub(crate) const PART_TARGET: f64 = 0.5;
/// Segments last at least this long (seconds), from keyframe to keyframe.
pub(crate) const SEGMENT_TARGET: f64 = 2.0;
/// Complete segments a window keeps.
const KEEP_SEGMENTS: usize = 6;
/// A window nobody asked for this long stops.
const IDLE: Duration = Duration::from_secs(30);
/// A client that has not reloaded the playlist for this long is gone (players reload it at least
/// every part, or every 4 s blocking).
const CLIENT_IDLE: Duration = Duration::from_secs(10);
/// Ticks of the 90 kHz clock.
const HZ: f64 = 90_000.0;

/// One part: its bytes and how it plays.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    /// Its frames' fragments, back to back.
    pub(crate) bytes: Bytes,
    /// Seconds.
    pub(crate) duration: f64,
    /// It starts on a keyframe.
    pub(crate) independent: bool,
}

/// One segment: its parts so far, and whether it is complete.
#[derive(Clone, Debug)]
pub(crate) struct Segment {
    /// Media sequence number.
    pub(crate) msn: u64,
    /// Wall-clock time of its first frame.
    pub(crate) start: DateTime<Utc>,
    /// Its complete parts.
    pub(crate) parts: Vec<Part>,
    /// No part will be added.
    pub(crate) complete: bool,
}

impl Segment {
    /// Seconds of its complete parts.
    pub(crate) fn duration(&self) -> f64 {
        self.parts.iter().map(|p| p.duration).sum()
    }

    /// The whole segment's bytes.
    pub(crate) fn bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        for p in &self.parts {
            out.extend_from_slice(&p.bytes);
        }
        out.freeze()
    }
}

/// What a window holds now.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The track (its init section), once a frame came.
    pub(crate) track: Option<Arc<LiveTrack>>,
    /// Oldest first; the last may be incomplete.
    pub(crate) segments: VecDeque<Segment>,
    /// The feed ended (the camera stopped or moved).
    pub(crate) ended: bool,
}

impl Snapshot {
    /// The part `part` of segment `msn`, if it exists.
    pub(crate) fn part(&self, msn: u64, part: usize) -> Option<&Part> {
        self.segment(msn)?.parts.get(part)
    }

    /// Segment `msn`, if the window holds it.
    pub(crate) fn segment(&self, msn: u64) -> Option<&Segment> {
        self.segments.iter().find(|s| s.msn == msn)
    }

    /// The number of the segment after the newest: the `msn` of the one being cut next.
    pub(crate) fn next_msn(&self) -> u64 {
        self.segments.back().map_or(0, |s| s.msn + 1)
    }

    /// Whether segment `msn` is too far ahead to come soon (more than one after the next).
    pub(crate) fn too_far(&self, msn: u64) -> bool {
        msn > self.next_msn() + 1
    }

    /// Whether part `part` of `msn` (the whole segment when `None`) exists or has passed.
    pub(crate) fn has(&self, msn: u64, part: Option<usize>) -> bool {
        let Some(last) = self.segments.back() else {
            return false;
        };
        match part {
            _ if msn < last.msn => true,
            _ if msn > last.msn => false,
            Some(p) => p < last.parts.len(),
            None => last.complete,
        }
    }
}

/// A window's clients: when each last reloaded the playlist, and the viewer places of all but the
/// first (the window's own place stands for it).
#[derive(Default)]
struct Clients {
    seen: HashMap<u64, Instant>,
    places: Vec<ViewerSlot>,
}

/// A camera's window; see the module docs.
pub(crate) struct Window {
    state: watch::Sender<Snapshot>,
    asked: Mutex<Instant>,
    clients: Mutex<Clients>,
}

impl Window {
    /// Notes a playlist request of client `key` at `now`. A client the window does not know, when
    /// it already has one, takes a viewer place from `take` (its error, a 429, when none is left).
    /// Places of clients gone quiet for [`CLIENT_IDLE`] are let go first.
    pub(crate) fn admit<E>(
        &self,
        key: u64,
        now: Instant,
        take: impl FnOnce() -> Result<ViewerSlot, E>,
    ) -> Result<(), E> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients
            .seen
            .retain(|_, at| now.saturating_duration_since(*at) < CLIENT_IDLE);
        let others = clients.seen.len().saturating_sub(1);
        clients.places.truncate(others);
        if !clients.seen.contains_key(&key) && !clients.seen.is_empty() {
            let place = take()?;
            clients.places.push(place);
        }
        clients.seen.insert(key, now);
        Ok(())
    }

    /// What it holds now; it counts as a request.
    pub(crate) fn snapshot(&self) -> Snapshot {
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.state.borrow().clone()
    }

    /// Waits until `ready` holds for the window's content, or `within` passed; the content then.
    pub(crate) async fn wait_for(
        &self,
        within: Duration,
        ready: impl Fn(&Snapshot) -> bool,
    ) -> Snapshot {
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let mut changes = self.state.subscribe();
        let waited = tokio::time::timeout(within, changes.wait_for(|s| ready(s) || s.ended)).await;
        match waited {
            Ok(Ok(s)) => s.clone(),
            _ => self.state.borrow().clone(),
        }
    }
}

/// Every camera's window on this node.
#[derive(Default)]
pub(crate) struct LlHls {
    windows: Arc<Mutex<HashMap<CameraId, Arc<Window>>>>,
}

impl LlHls {
    /// `camera`'s window, if one runs.
    pub(crate) fn window(&self, camera: CameraId) -> Option<Arc<Window>> {
        let windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        windows.get(&camera).cloned()
    }

    /// Starts `camera`'s window on `feed` (or returns the one that runs).
    pub(crate) fn start(&self, camera: CameraId, feed: LiveFeed, slot: ViewerSlot) -> Arc<Window> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = windows.get(&camera) {
            return Arc::clone(w);
        }
        let window = Arc::new(Window {
            state: watch::channel(Snapshot::default()).0,
            asked: Mutex::new(Instant::now()),
            clients: Mutex::default(),
        });
        windows.insert(camera, Arc::clone(&window));
        let (all, w) = (Arc::clone(&self.windows), Arc::clone(&window));
        actix_web::rt::spawn(async move {
            run(&w, feed, slot).await;
            w.state.send_modify(|s| s.ended = true);
            let mut windows = all.lock().unwrap_or_else(PoisonError::into_inner);
            if windows.get(&camera).is_some_and(|c| Arc::ptr_eq(c, &w)) {
                windows.remove(&camera);
            }
        });
        window
    }
}

/// Cuts the feed into the window until nobody asks or the feed ends.
async fn run(window: &Window, mut feed: LiveFeed, slot: ViewerSlot) {
    gate::catch_up(&mut feed);
    let mut gate = FrameGate::new(slot.labels().clone());
    let mut frames = gate::stream(feed);
    let mut cutter = Cutter::default();
    loop {
        let next = tokio::time::timeout(IDLE, frames.next()).await;
        let idle = window
            .asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .elapsed()
            > IDLE;
        let item = match next {
            Ok(Some(item)) if !idle => item,
            _ => return,
        };
        let lagged = item.is_err();
        let Some(frame) = gate.admit(item) else {
            if lagged {
                cutter.drop_open();
            }
            continue;
        };
        let changes = cutter.push(frame);
        if changes {
            let (track, segments) = (cutter.track.clone(), cutter.segments.clone());
            window.state.send_modify(|s| {
                s.track = track;
                s.segments = segments;
            });
        }
    }
}

/// Builds segments and parts from frames.
#[derive(Default)]
struct Cutter {
    track: Option<Arc<LiveTrack>>,
    segments: VecDeque<Segment>,
    next_msn: u64,
    /// Frames of the part being filled.
    open: Vec<LiveFrame>,
    /// Ticks between the last two frames (a frame's duration before the next one comes).
    step: u64,
}

impl Cutter {
    /// Adds a frame; whether a part or segment was completed.
    fn push(&mut self, frame: LiveFrame) -> bool {
        if let Some(last) = self.open.last()
            && frame.time_90k > last.time_90k
        {
            self.step = frame.time_90k - last.time_90k;
        }
        let new_track = !self
            .track
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, &frame.track));
        let mut changed = false;
        if new_track {
            // A new track starts the window again (players reload the init section).
            self.track = Some(Arc::clone(&frame.track));
            self.segments.clear();
            self.open.clear();
            changed = true;
        }
        let current = self.segments.back().filter(|s| !s.complete);
        let start_segment = frame.keyframe
            && current.is_none_or(|s| s.duration() + self.open_duration(&frame) >= SEGMENT_TARGET);
        if start_segment {
            changed |= self.close_part(Some(&frame));
            if let Some(s) = self.segments.back_mut() {
                changed |= !s.complete;
                s.complete = true;
            }
            self.segments.push_back(Segment {
                msn: self.next_msn,
                start: frame.wall_clock(),
                parts: Vec::new(),
                complete: false,
            });
            self.next_msn += 1;
            while self.segments.iter().filter(|s| s.complete).count() > KEEP_SEGMENTS {
                self.segments.pop_front();
            }
        } else if self.segments.back().is_none_or(|s| s.complete) {
            // Frames before the first keyframe of a segment cannot be decoded alone.
            return changed;
        } else if self.open_duration(&frame) + self.step as f64 / HZ > PART_TARGET + 1e-6 {
            // This frame would make the part longer than the target, which no part may be.
            changed |= self.close_part(Some(&frame));
        }
        self.open.push(frame);
        changed
    }

    /// Seconds of the open part if it ended where `next` starts.
    fn open_duration(&self, next: &LiveFrame) -> f64 {
        self.open.first().map_or(0.0, |f| {
            next.time_90k.saturating_sub(f.time_90k) as f64 / HZ
        })
    }

    /// Closes the open part, ending where `next` starts (or one frame after its last).
    fn close_part(&mut self, next: Option<&LiveFrame>) -> bool {
        let (Some(first), Some(last)) = (self.open.first(), self.open.last()) else {
            return false;
        };
        let end = next.map_or(last.time_90k + self.step, |n| n.time_90k);
        let mut bytes = BytesMut::new();
        for f in &self.open {
            bytes.extend_from_slice(&f.fragment);
        }
        let part = Part {
            bytes: bytes.freeze(),
            duration: end.saturating_sub(first.time_90k) as f64 / HZ,
            independent: first.keyframe,
        };
        self.open.clear();
        match self.segments.back_mut().filter(|s| !s.complete) {
            Some(s) => {
                s.parts.push(part);
                true
            }
            None => false,
        }
    }

    /// The viewer fell behind: the open part is dropped and the segment ends there.
    fn drop_open(&mut self) {
        self.open.clear();
        if let Some(s) = self.segments.back_mut() {
            s.complete = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::gate::test_frames;

    fn frame(track: &Arc<LiveTrack>, i: u64, keyframe: bool) -> LiveFrame {
        let fragment = Bytes::from(vec![1u8; 10]);
        test_frames::frame(track, 1_000_000 + i * 3600, keyframe, fragment)
    }

    #[test]
    fn each_client_takes_a_viewer_place_until_it_goes_quiet() {
        let live = crate::live::Live::new(vms_config::LiveConfig {
            max_viewers_per_camera: 2,
            ..vms_config::LiveConfig::default()
        });
        let camera = CameraId(uuid::Uuid::now_v7());
        let window = Window {
            state: watch::channel(Snapshot::default()).0,
            asked: Mutex::new(Instant::now()),
            clients: Mutex::default(),
        };
        let _window_place = live
            .viewer_slot(camera, "llhls")
            .expect("the window's place");
        let at = |s: u64| Instant::now() + Duration::from_secs(s);
        let take = || live.viewer_slot(camera, "llhls");
        window
            .admit(1, at(0), take)
            .expect("the first client has the window's place");
        window.admit(1, at(1), take).expect("it reloads");
        window
            .admit(2, at(1), take)
            .expect("a second client takes the last place");
        let refused = window
            .admit(3, at(2), take)
            .expect_err("a third is one too many");
        assert_eq!(
            refused.status,
            actix_web::http::StatusCode::TOO_MANY_REQUESTS
        );
        // Client 2 goes quiet; client 1 reloads. Client 2's place goes to client 3.
        window.admit(1, at(9), take).expect("client 1 reloads");
        window
            .admit(3, at(12), take)
            .expect("client 2's place came free");
        assert_eq!(window.clients.lock().expect("lock").places.len(), 1);
    }

    #[test]
    fn frames_become_keyframe_segments_of_half_second_parts() {
        let track = test_frames::track();
        let mut cutter = Cutter::default();
        // 25 fps with a keyframe every second, for 5 s, starting mid-GOP.
        for i in 10..135 {
            cutter.push(frame(&track, i, i % 25 == 0));
        }
        let segs: Vec<_> = cutter.segments.iter().collect();
        assert_eq!(segs.len(), 3, "{segs:?}");
        assert!(segs[0].complete && segs[1].complete && !segs[2].complete);
        // Segments begin on a keyframe and last 2 s, in parts no longer than the 0.5 s target.
        for s in &segs[..2] {
            assert!((s.duration() - 2.0).abs() < 1e-9, "{}", s.duration());
            assert!(s.parts[0].independent);
            assert!(
                s.parts.iter().all(|p| p.duration <= PART_TARGET + 1e-9),
                "{:?}",
                s.parts
            );
            assert_eq!(s.bytes().len(), 50 * 10);
        }
        let snapshot = Snapshot {
            track: Some(track),
            segments: cutter.segments.clone(),
            ended: false,
        };
        assert!(snapshot.has(0, None) && snapshot.has(1, Some(3)));
        // The open segment's 0.4 s are not a part yet.
        assert!(!snapshot.has(2, None) && !snapshot.has(2, Some(0)));
    }
}
