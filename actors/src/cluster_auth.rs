//! Authenticity and freshness of what nodes tell each other over NATS (changes, heartbeats).
//!
//! NATS carries hints; PostgreSQL holds the truth. Still, a hint must come from a member: each
//! message carries its sender, the sender's run (`incarnation`), a sequence number within that run,
//! its wall-clock time and an HMAC-SHA256 under the cluster cookie. A receiver drops a message whose
//! MAC does not verify, one sent more than [`MESSAGE_WINDOW`] away from its own clock, and one whose
//! (sender, run, sequence) it has seen, and counts each in `vms_cluster_messages_refused_total`.

use chrono::{DateTime, Utc};
use prometheus::{IntCounterVec, register_int_counter_vec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;
use uuid::Uuid;
use vms_messages::{Change, ClusterChange, Heartbeat, WIRE_VERSION};

/// How far a message's time may be from the receiver's clock (so replays are bounded in time and
/// seen-sets stay small). Node clocks must agree within it (NTP); the membership reports skew.
pub const MESSAGE_WINDOW: Duration = Duration::from_secs(30);

/// Cluster messages refused, by kind (`change`, `heartbeat`, `claim`) and reason.
pub static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_cluster_messages_refused_total",
        "cluster messages dropped: bad_signature, stale (outside the time window) or replayed",
        &["kind", "reason"]
    )
    .expect("metric registers")
});

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The MAC does not verify under this cluster's cookie.
    BadSignature,
    /// Sent too long ago (or too far in the future).
    Stale,
    /// Seen before.
    Replayed,
}

impl Refusal {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::Stale => "stale",
            Self::Replayed => "replayed",
        }
    }

    /// Counts this refusal of a message of `kind`.
    pub fn count(self, kind: &str) {
        REFUSED.with_label_values(&[kind, self.as_str()]).inc();
    }
}

/// Who sent a message, in which run, where in that run's sequence, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// Sending node.
    pub origin: String,
    /// The sender's run of the process.
    pub incarnation: Uuid,
    /// Position in that run's sequence (from 1).
    pub seq: u64,
    /// Sender's wall clock when it sent.
    pub sent_at: DateTime<Utc>,
}

/// A message signed with the cluster cookie.
pub trait Signed: serde::Serialize + Clone {
    /// Its stamp.
    fn stamp(&self) -> Stamp;
    /// Its MAC field (`sha256=<hex>`).
    fn mac(&self) -> &str;
    /// Sets its MAC field.
    fn set_mac(&mut self, mac: String);
}

impl Signed for ClusterChange {
    fn stamp(&self) -> Stamp {
        Stamp {
            origin: self.origin.clone(),
            incarnation: self.incarnation,
            seq: self.seq,
            sent_at: self.sent_at,
        }
    }
    fn mac(&self) -> &str {
        &self.mac
    }
    fn set_mac(&mut self, mac: String) {
        self.mac = mac;
    }
}

impl Signed for Heartbeat {
    fn stamp(&self) -> Stamp {
        Stamp {
            origin: self.node_id.clone(),
            incarnation: self.instance,
            seq: self.seq,
            sent_at: self.sent_at,
        }
    }
    fn mac(&self) -> &str {
        &self.mac
    }
    fn set_mac(&mut self, mac: String) {
        self.mac = mac;
    }
}

/// The MAC of `msg` under `cookie`, computed with its MAC field empty.
pub fn mac_of<T: Signed>(msg: &T, cookie: &str) -> String {
    let mut unsigned = msg.clone();
    unsigned.set_mac(String::new());
    let body = serde_json::to_vec(&unsigned).unwrap_or_default();
    crate::signing::signature(
        cookie.as_bytes(),
        msg.stamp().sent_at.timestamp_millis(),
        &body,
    )
}

/// Signs `msg` in place.
pub fn sign<T: Signed>(msg: &mut T, cookie: &str) {
    let mac = mac_of(msg, cookie);
    msg.set_mac(mac);
}

/// Whether `msg` carries a MAC made with `cookie` (compared in constant time).
pub fn verified<T: Signed>(msg: &T, cookie: &str) -> bool {
    let want = mac_of(msg, cookie);
    let got = msg.mac();
    want.len() == got.len()
        && want
            .bytes()
            .zip(got.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Whether `sent_at` is within [`MESSAGE_WINDOW`] of `now`.
pub fn fresh(sent_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - sent_at)
        .abs()
        .to_std()
        .is_ok_and(|d| d <= MESSAGE_WINDOW)
}

/// `change` with `stamp` and no MAC yet.
pub fn unsigned_change(stamp: Stamp, change: Change) -> ClusterChange {
    ClusterChange {
        v: WIRE_VERSION,
        origin: stamp.origin,
        incarnation: stamp.incarnation,
        seq: stamp.seq,
        sent_at: stamp.sent_at,
        mac: String::new(),
        change,
    }
}

/// Remembers the stamps it admitted within the window, to refuse them a second time.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<(String, Uuid, u64), DateTime<Utc>>>,
}

impl ReplayGuard {
    /// Admits a stamp not seen before and within the window of `now`.
    pub fn admit(&self, stamp: &Stamp, now: DateTime<Utc>) -> Result<(), Refusal> {
        if !fresh(stamp.sent_at, now) {
            return Err(Refusal::Stale);
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, at| fresh(*at, now));
        let key = (stamp.origin.clone(), stamp.incarnation, stamp.seq);
        if seen.insert(key, stamp.sent_at).is_some() {
            return Err(Refusal::Replayed);
        }
        Ok(())
    }
}

/// This node's key and stamps for what it sends, and the replay guard for what it receives.
pub struct ClusterAuth {
    cookie: String,
    origin: String,
    incarnation: Uuid,
    seq: AtomicU64,
    changes: ReplayGuard,
}

impl ClusterAuth {
    /// Signs as `origin` with `cookie` (empty: development only; config refuses it with placement).
    pub fn new(cookie: String, origin: String) -> Self {
        Self {
            cookie,
            origin,
            incarnation: Uuid::now_v7(),
            seq: AtomicU64::new(0),
            changes: ReplayGuard::default(),
        }
    }

    /// The cluster cookie.
    pub fn cookie(&self) -> &str {
        &self.cookie
    }

    /// A fresh stamp of this node: the next sequence number of this run, now.
    pub fn next_stamp(&self) -> Stamp {
        Stamp {
            origin: self.origin.clone(),
            incarnation: self.incarnation,
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            sent_at: Utc::now(),
        }
    }

    /// `change` as this node publishes it: stamped and signed.
    pub fn sealed_change(&self, change: Change) -> ClusterChange {
        let mut sealed = unsigned_change(self.next_stamp(), change);
        sign(&mut sealed, &self.cookie);
        sealed
    }

    /// Checks a change another node published: signature, time and replay.
    pub fn admit_change(&self, change: &ClusterChange) -> Result<(), Refusal> {
        if !verified(change, &self.cookie) {
            return Err(Refusal::BadSignature);
        }
        self.changes.admit(&change.stamp(), Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vms_messages::CameraId;

    fn change(auth: &ClusterAuth) -> ClusterChange {
        auth.sealed_change(Change::Camera {
            camera_id: CameraId::new(),
        })
    }

    #[test]
    fn changes_need_the_cookie_and_pass_once() {
        let sender = ClusterAuth::new("a cookie of the cluster".into(), "a".into());
        let receiver = ClusterAuth::new("a cookie of the cluster".into(), "b".into());
        let outsider = ClusterAuth::new("another cookie".into(), "a".into());
        let c = change(&sender);
        assert_eq!(receiver.admit_change(&c), Ok(()));
        assert_eq!(receiver.admit_change(&c), Err(Refusal::Replayed));
        assert_eq!(
            receiver.admit_change(&change(&outsider)),
            Err(Refusal::BadSignature)
        );
        let mut tampered = change(&sender);
        tampered.change = Change::TenantRemoved {
            tenant_id: vms_messages::TenantId::new(),
        };
        assert_eq!(receiver.admit_change(&tampered), Err(Refusal::BadSignature));
        let mut old = change(&sender);
        old.sent_at = Utc::now() - chrono::Duration::seconds(31);
        sign(&mut old, sender.cookie());
        assert_eq!(receiver.admit_change(&old), Err(Refusal::Stale));
        assert_eq!(receiver.admit_change(&change(&sender)), Ok(()));
    }
}
