//! Cluster membership over NATS: every node puts a heartbeat into the JetStream key-value bucket
//! `VMS_NODES` (key = node id) every `cluster.heartbeat_ms`, and watches the bucket. Each node judges
//! the others by its own monotonic clock (when it last received their heartbeat), so a node whose
//! wall clock is off is still judged right, and its skew (against the NATS server's clock when it
//! stored the heartbeat) is reported. A node not heard from for
//! `cluster.down_after_ms` is down: dead, frozen (SIGSTOP) or cut off, which ractor_cluster alone
//! never reports.
//!
//! Keys are `<cluster.name>.<node id>`: several clusters may share one NATS, and each sees only its
//! own members.
//!
//! Heartbeats are signed with the cluster cookie (`cluster.cookie`, HMAC-SHA256): a node with another
//! cookie is not a member. Its heartbeats are ignored (and logged) by the others, and it refuses to
//! start when it finds live members it cannot verify. Each heartbeat carries its run's sequence
//! number and is refused when it was sent long before NATS stored it or is not newer than the last
//! one of its run, so a recorded heartbeat put back cannot keep a dead node up
//! (`crate::cluster_auth`). Unsigned delete markers only drop nodes that are already down, and an
//! unsigned entry cannot hold a node id.
//!
//! A node id is claimed at start: if another process heartbeats under the same id, the node refuses
//! to start. An entry left by a crashed run of the same id is not in the way: the claim waits until
//! that entry has gone stale.

use crate::clock::Clock;
use crate::cluster_auth::{self, Refusal};
use chrono::Utc;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use uuid::Uuid;
use vms_config::NodeConfig;
use vms_messages::{Heartbeat, NodeState, NodeView};

/// Key-value bucket of heartbeats.
pub const NODES_BUCKET: &str = "VMS_NODES";
/// Wall-clock skew above which a node's clock is reported as off.
pub const MAX_CLOCK_SKEW_MS: i64 = 2000;

/// Why a node cannot join.
#[derive(Debug, Error)]
pub enum MembershipError {
    /// Another running process uses this node id.
    #[error(
        "node id {id} is in use by another running node (api {api}, started {started}); give this node another node_id"
    )]
    DuplicateId {
        /// The id.
        id: String,
        /// The other node's API address.
        api: String,
        /// When the other node started.
        started: String,
    },
    /// Live members carry another cookie.
    #[error(
        "cluster {cluster} has live members whose heartbeats this node's cluster.cookie does not verify ({members}); use the cluster's cookie"
    )]
    WrongCookie {
        /// The cluster.
        cluster: String,
        /// Some of its members.
        members: String,
    },
    /// The cookie file cannot be read.
    #[error("cluster.cookie_file: {0}")]
    Cookie(String),
    /// NATS or its key-value store failed.
    #[error("membership over nats: {0}")]
    Nats(String),
}

struct Seen {
    heartbeat: Heartbeat,
    at: Instant,
    skew_ms: i64,
    /// Its ractor_cluster link dropped since this heartbeat (a killed process closes its sockets at
    /// once): it is down as soon as a heartbeat is overdue, not only after `down_after`.
    suspected: bool,
}

/// This node's membership: its heartbeat and its view of the others. Stops with the value.
pub struct Membership {
    kv: async_nats::jetstream::kv::Store,
    me: Arc<RwLock<Heartbeat>>,
    seen: Arc<RwLock<HashMap<String, Seen>>>,
    down_after: Duration,
    heartbeat_every: Duration,
    cluster: String,
    /// When a heartbeat was last stored by NATS.
    last_stored: Arc<Mutex<Instant>>,
    /// Cameras this node was given (placement), reported in the heartbeat.
    owned: Arc<AtomicU32>,
    cookie: Arc<str>,
    /// Where heartbeat ages are read.
    clock: Arc<dyn Clock>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn nats_error(e: impl std::fmt::Display) -> MembershipError {
    MembershipError::Nats(e.to_string())
}

/// Cameras this process records (its camera actors).
fn camera_count() -> u32 {
    let n = ractor::registry::registered()
        .iter()
        .filter(|name| name.starts_with("camera:"))
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Membership {
    /// Claims `config.node_id` and starts heartbeating and watching the other nodes.
    pub async fn join(
        nats: &async_nats::Client,
        config: &NodeConfig,
    ) -> Result<Self, MembershipError> {
        let kv = open_bucket(nats).await?;
        let c = &config.cluster;
        let key = member_key(&c.name, &config.node_id);
        let cookie: Arc<str> = c
            .resolve_cookie()
            .map_err(|e| MembershipError::Cookie(e.to_string()))?
            .unwrap_or_default()
            .into();
        let heartbeat_every = Duration::from_millis(c.heartbeat_ms);
        let down_after = Duration::from_millis(c.down_after_ms);
        check_cookie(&kv, &c.name, &cookie, down_after).await?;
        let instance = Uuid::now_v7();
        claim(&kv, &key, (instance, &cookie), down_after + heartbeat_every).await?;
        let now = Utc::now();
        let me = Arc::new(RwLock::new(Heartbeat {
            node_id: config.node_id.clone(),
            cluster: c.name.clone(),
            instance,
            api: config.api.listen.clone(),
            link: (c.link_port != 0).then(|| format!("{}:{}", c.advertise_host, c.link_port)),
            version: env!("CARGO_PKG_VERSION").into(),
            roles: c.roles.clone(),
            labels: c.labels.clone(),
            max_cameras: c.max_cameras,
            cameras: 0,
            owned: 0,
            started_at: now,
            sent_at: now,
            seq: 1,
            leaving: false,
            mac: String::new(),
        }));
        let seen: Arc<RwLock<HashMap<String, Seen>>> = Arc::default();
        let clock = crate::clock::system();
        let last_stored = Arc::new(Mutex::new(clock.instant()));
        let owned = Arc::new(AtomicU32::new(0));
        let beat = {
            let (kv, me, seen) = (kv.clone(), Arc::clone(&me), Arc::clone(&seen));
            let (last_stored, owned) = (Arc::clone(&last_stored), Arc::clone(&owned));
            let cookie = Arc::clone(&cookie);
            let clock = Arc::clone(&clock);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(heartbeat_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let hb = {
                        let mut me = me.write().unwrap_or_else(PoisonError::into_inner);
                        me.cameras = camera_count();
                        me.owned = owned.load(Ordering::Relaxed);
                        me.sent_at = Utc::now();
                        me.seq += 1;
                        me.clone()
                    };
                    // A heartbeat NATS has not stored within its interval is late: the next one
                    // goes out on time instead of waiting behind it (a silent partition).
                    match tokio::time::timeout(heartbeat_every, put(&kv, &hb, &cookie)).await {
                        Ok(Ok(())) => {
                            *last_stored.lock().unwrap_or_else(PoisonError::into_inner) =
                                clock.instant();
                        }
                        Ok(Err(e)) => tracing::warn!(error = %e, "cannot publish heartbeat"),
                        Err(_) => tracing::warn!(
                            within_ms =
                                u64::try_from(heartbeat_every.as_millis()).unwrap_or(u64::MAX),
                            "heartbeat not stored in time"
                        ),
                    }
                    let thresholds = (down_after, suspect_after(heartbeat_every));
                    record_metrics(&view(&seen, thresholds, clock.as_ref()));
                }
            })
        };
        let watch = {
            let (kv, seen) = (kv.clone(), Arc::clone(&seen));
            let (my_id, my_instance) = (config.node_id.clone(), instance);
            let cluster = c.name.clone();
            let cookie = Arc::clone(&cookie);
            let clock = Arc::clone(&clock);
            tokio::spawn(async move {
                let mut refused = std::collections::HashSet::new();
                loop {
                    let me = (my_id.as_str(), my_instance);
                    if let Err(e) = follow(
                        &kv,
                        &seen,
                        (&cluster, &cookie),
                        me,
                        &mut refused,
                        down_after,
                        clock.as_ref(),
                    )
                    .await
                    {
                        tracing::warn!(error = %e, "membership watch interrupted; watching again");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        let membership = Self {
            kv,
            me,
            seen,
            down_after,
            heartbeat_every,
            cluster: c.name.clone(),
            last_stored,
            owned,
            cookie,
            clock,
            tasks: vec![beat, watch],
        };
        let first = membership
            .me
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        put(&membership.kv, &first, &membership.cookie)
            .await
            .map_err(nats_error)?;
        tracing::info!(node_id = %config.node_id, instance = %instance, "joined the cluster");
        Ok(membership)
    }

    /// The nodes as this node sees them, by id.
    pub fn nodes(&self) -> Vec<NodeView> {
        view(
            &self.seen,
            (self.down_after, suspect_after(self.heartbeat_every)),
            self.clock.as_ref(),
        )
    }

    /// How long since NATS last stored this node's heartbeat.
    pub fn heartbeat_age(&self) -> Duration {
        let stored = *self
            .last_stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.clock.since(stored)
    }

    /// After how long without a stored heartbeat this node must stop its cameras itself: a heartbeat
    /// before the others declare it down and take them.
    pub fn fence_after(&self) -> Duration {
        self.down_after.saturating_sub(self.heartbeat_every)
    }

    /// Reports how many cameras this node was given (in the next heartbeats).
    pub fn set_owned(&self, n: usize) {
        self.owned
            .store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// The ractor_cluster link to `node_id` dropped: it is down once a heartbeat is overdue, unless
    /// a heartbeat arrives first.
    pub fn suspect(&self, node_id: &str) {
        if let Some(s) = self
            .seen
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(node_id)
        {
            s.suspected = true;
        }
    }

    /// Removes a node that has stopped from the membership (`DELETE /nodes/{id}`).
    pub async fn forget(&self, node_id: &str) -> Result<(), MembershipError> {
        self.kv
            .delete(member_key(&self.cluster, node_id))
            .await
            .map_err(nats_error)?;
        self.seen
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(node_id);
        Ok(())
    }

    /// Tells the others this node is stopping (its entities are not lost, they are handed over).
    pub async fn leave(&self) {
        for t in &self.tasks {
            t.abort();
        }
        let hb = {
            let mut me = self.me.write().unwrap_or_else(PoisonError::into_inner);
            me.leaving = true;
            me.sent_at = Utc::now();
            me.seq += 1;
            me.clone()
        };
        if let Err(e) = put(&self.kv, &hb, &self.cookie).await {
            tracing::warn!(error = %e, "cannot announce leaving the cluster");
        }
    }
}

/// The heartbeat bucket, created if missing. The stream is made as a key-value bucket's stream is
/// made (`create_key_value` first queries the account, which NATS 2.9 answers in a shape this client
/// does not read).
async fn open_bucket(
    nats: &async_nats::Client,
) -> Result<async_nats::jetstream::kv::Store, MembershipError> {
    use async_nats::jetstream::stream;
    let js = async_nats::jetstream::new(nats.clone());
    if let Ok(kv) = js.get_key_value(NODES_BUCKET).await {
        return Ok(kv);
    }
    js.get_or_create_stream(stream::Config {
        name: format!("KV_{NODES_BUCKET}"),
        description: Some("vms node heartbeats".into()),
        subjects: vec![format!("$KV.{NODES_BUCKET}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(24 * 3600),
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await
    .map_err(nats_error)?;
    js.get_key_value(NODES_BUCKET).await.map_err(nats_error)
}

/// Key of a node's heartbeat: `<cluster>.<node id>`.
fn member_key(cluster: &str, node_id: &str) -> String {
    format!("{cluster}.{node_id}")
}

/// The nodes of `seen`, by id, judged against `down_after`.
/// How long a node whose link dropped may be silent before it is down: one and a half heartbeats.
fn suspect_after(heartbeat_every: Duration) -> Duration {
    heartbeat_every + heartbeat_every / 2
}

/// The nodes of `seen`, judged against `down_after` (and, for nodes whose link dropped, the shorter
/// `suspect_after`).
fn view(
    seen: &RwLock<HashMap<String, Seen>>,
    (down_after, suspect_after): (Duration, Duration),
    clock: &dyn Clock,
) -> Vec<NodeView> {
    let seen = seen.read().unwrap_or_else(PoisonError::into_inner);
    let mut nodes: Vec<NodeView> = seen
        .values()
        .map(|s| {
            let hb = &s.heartbeat;
            let quiet = clock.since(s.at);
            let state = if hb.leaving {
                NodeState::Left
            } else if quiet > down_after || (s.suspected && quiet > suspect_after) {
                NodeState::Down
            } else {
                NodeState::Up
            };
            NodeView {
                id: hb.node_id.clone(),
                api: hb.api.clone(),
                link: hb.link.clone(),
                version: hb.version.clone(),
                roles: hb.roles.clone(),
                labels: hb.labels.clone(),
                max_cameras: hb.max_cameras,
                cameras: hb.cameras,
                owned: hb.owned,
                placed: 0,
                drained: false,
                leader: false,
                state,
                started_at: hb.started_at,
                last_seen_ms: u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX),
                clock_skew_ms: s.skew_ms,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    nodes
}

/// Sets `vms_cluster_nodes{state}` from a view.
fn record_metrics(nodes: &[NodeView]) {
    for state in [NodeState::Up, NodeState::Down, NodeState::Left] {
        let n = nodes.iter().filter(|n| n.state == state).count();
        crate::metrics::CLUSTER_NODES
            .with_label_values(&[state_name(state)])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

fn state_name(s: NodeState) -> &'static str {
    match s {
        NodeState::Up => "up",
        NodeState::Down => "down",
        NodeState::Left => "left",
    }
}

/// Refuses to join when the cluster has live members and none carries this node's cookie.
async fn check_cookie(
    kv: &async_nats::jetstream::kv::Store,
    cluster: &str,
    cookie: &str,
    fresh: Duration,
) -> Result<(), MembershipError> {
    let prefix = format!("{cluster}.");
    let mut keys = kv.keys().await.map_err(nats_error)?;
    let (mut good, mut bad) = (0, Vec::new());
    while let Some(key) = keys.next().await {
        let key = key.map_err(nats_error)?;
        if !key.starts_with(&prefix) {
            continue;
        }
        let Some(entry) = kv.entry(&key).await.map_err(nats_error)? else {
            continue;
        };
        let Ok(hb) = serde_json::from_slice::<Heartbeat>(&entry.value) else {
            continue;
        };
        let age_ms = Utc::now().timestamp_millis() as i128
            - entry.created.unix_timestamp_nanos() / 1_000_000;
        if hb.leaving || age_ms > fresh.as_millis() as i128 {
            continue;
        }
        if cluster_auth::verified(&hb, cookie) {
            good += 1;
        } else {
            bad.push(hb.node_id);
        }
    }
    if good == 0 && !bad.is_empty() {
        bad.truncate(5);
        return Err(MembershipError::WrongCookie {
            cluster: cluster.into(),
            members: bad.join(", "),
        });
    }
    Ok(())
}

async fn put(
    kv: &async_nats::jetstream::kv::Store,
    hb: &Heartbeat,
    cookie: &str,
) -> Result<(), String> {
    let mut hb = hb.clone();
    cluster_auth::sign(&mut hb, cookie);
    let bytes = serde_json::to_vec(&hb).map_err(|e| e.to_string())?;
    kv.put(member_key(&hb.cluster, &hb.node_id), bytes.into())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Refuses `id` while another instance heartbeats under it; waits out a stale entry of a crashed run.
async fn claim(
    kv: &async_nats::jetstream::kv::Store,
    key: &str,
    (instance, cookie): (Uuid, &str),
    patience: Duration,
) -> Result<(), MembershipError> {
    let entry = kv.entry(key).await.map_err(nats_error)?;
    let Some(first) = entry else { return Ok(()) };
    let Ok(other) = serde_json::from_slice::<Heartbeat>(&first.value) else {
        return Ok(());
    };
    if !cluster_auth::verified(&other, cookie) {
        // Not a member's entry: it cannot hold the id (nor keep a real node out).
        Refusal::BadSignature.count("claim");
        tracing::warn!(key = %key, "an entry not signed with the cluster cookie holds this node id; ignored");
        return Ok(());
    }
    if other.leaving || other.instance == instance {
        return Ok(());
    }
    // Alive or not? An alive node puts a new revision within its heartbeat interval.
    let started = Instant::now();
    while started.elapsed() < patience {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = kv.entry(key).await.map_err(nats_error)?;
        if let Some(e) = now
            && e.revision != first.revision
        {
            let hb: Option<Heartbeat> = serde_json::from_slice(&e.value)
                .ok()
                .filter(|h| cluster_auth::verified(h, cookie));
            let Some(hb) = hb else {
                Refusal::BadSignature.count("claim");
                continue;
            };
            if hb.leaving {
                return Ok(());
            }
            return Err(MembershipError::DuplicateId {
                id: other.node_id,
                api: other.api,
                started: other.started_at.to_rfc3339(),
            });
        }
    }
    tracing::info!(key = %key, "the previous run of this node id is gone; taking it over");
    Ok(())
}

/// Refuses a heartbeat that is not new: sent more than [`cluster_auth::MESSAGE_WINDOW`] before the
/// NATS server stored it (a recording put back), not after the last one of its run, or of an older
/// run than the one already seen.
fn admit_heartbeat(
    hb: &Heartbeat,
    entry: &async_nats::jetstream::kv::Entry,
    seen: &RwLock<HashMap<String, Seen>>,
) -> Result<(), Refusal> {
    let stored_ms = i64::try_from(entry.created.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let stored = chrono::DateTime::from_timestamp_millis(stored_ms).unwrap_or_else(Utc::now);
    if !cluster_auth::fresh(hb.sent_at, stored) {
        return Err(Refusal::Stale);
    }
    let seen = seen.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(last) = seen.get(&hb.node_id).map(|s| &s.heartbeat) {
        let replayed = if last.instance == hb.instance {
            hb.seq <= last.seq
        } else {
            hb.started_at < last.started_at
        };
        if replayed {
            return Err(Refusal::Replayed);
        }
    }
    Ok(())
}

/// Follows the bucket, recording when each node was last heard by this node's monotonic clock.
async fn follow(
    kv: &async_nats::jetstream::kv::Store,
    seen: &RwLock<HashMap<String, Seen>>,
    (cluster, cookie): (&str, &str),
    (my_id, my_instance): (&str, Uuid),
    refused: &mut std::collections::HashSet<Uuid>,
    down_after: Duration,
    clock: &dyn Clock,
) -> Result<(), String> {
    let prefix = format!("{cluster}.");
    let mut watch = kv
        .watch(format!("{prefix}*"))
        .await
        .map_err(|e| e.to_string())?;
    while let Some(entry) = watch.next().await {
        let entry = entry.map_err(|e| e.to_string())?;
        let Some(node_id) = entry.key.strip_prefix(&prefix) else {
            continue;
        };
        if entry.operation != async_nats::jetstream::kv::Operation::Put {
            // Delete markers carry no signature: one may only drop a node already down (as an
            // admin's `DELETE /nodes/{id}` of a stopped node does), never hide a live one.
            let mut seen = seen.write().unwrap_or_else(PoisonError::into_inner);
            if seen
                .get(node_id)
                .is_some_and(|s| s.heartbeat.leaving || clock.since(s.at) >= down_after)
            {
                seen.remove(node_id);
            } else if seen.contains_key(node_id) {
                Refusal::BadSignature.count("heartbeat");
                tracing::warn!(node_id = %node_id, "delete marker for a live node ignored");
            }
            continue;
        }
        let Ok(hb) = serde_json::from_slice::<Heartbeat>(&entry.value) else {
            continue;
        };
        if hb.cluster != cluster {
            continue;
        }
        if !cluster_auth::verified(&hb, cookie) {
            Refusal::BadSignature.count("heartbeat");
            if refused.insert(hb.instance) {
                tracing::warn!(node_id = %hb.node_id, api = %hb.api, "heartbeat refused: the node does not carry this cluster's cookie; it is not a member");
            }
            continue;
        }
        if let Err(why) = admit_heartbeat(&hb, &entry, seen) {
            why.count("heartbeat");
            tracing::warn!(node_id = %hb.node_id, seq = hb.seq, reason = why.as_str(), "heartbeat refused");
            continue;
        }
        if hb.node_id == my_id && hb.instance != my_instance && !hb.leaving {
            tracing::error!(node_id = %my_id, other_api = %hb.api, "another process heartbeats under this node id");
        }
        // Skew against the NATS server's clock when it stored the heartbeat, so a heartbeat read
        // late (this node was frozen, or busy) does not look skewed.
        let stored_ms =
            i64::try_from(entry.created.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let skew_ms = hb.sent_at.timestamp_millis().saturating_sub(stored_ms);
        let previous_skew = seen
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hb.node_id)
            .map(|s| s.skew_ms);
        if skew_ms.abs() > MAX_CLOCK_SKEW_MS
            && previous_skew.is_none_or(|p| p.abs() <= MAX_CLOCK_SKEW_MS)
        {
            tracing::warn!(node_id = %hb.node_id, skew_ms, "node's clock is off; its wall-clock times are not to be trusted");
        }
        // A replayed old entry (at watch start) must not look fresh: judge it by its server age.
        let age = {
            let created = entry.created.unix_timestamp_nanos() / 1_000_000;
            let now = clock.now().timestamp_millis() as i128;
            Duration::from_millis(u64::try_from((now - created).max(0)).unwrap_or(0))
        };
        let now = clock.instant();
        let at = if entry.seen_current {
            now
        } else {
            now.checked_sub(age).unwrap_or(now)
        };
        seen.write().unwrap_or_else(PoisonError::into_inner).insert(
            hb.node_id.clone(),
            Seen {
                heartbeat: hb,
                at,
                skew_ms,
                suspected: false,
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;

    fn heartbeat(node: &str) -> Heartbeat {
        let now = Utc::now();
        Heartbeat {
            node_id: node.into(),
            cluster: "vms".into(),
            instance: Uuid::now_v7(),
            api: "127.0.0.1:8080".into(),
            link: None,
            version: "test".into(),
            roles: vec!["ingest".into()],
            labels: Default::default(),
            max_cameras: 0,
            cameras: 0,
            owned: 0,
            started_at: now,
            sent_at: now,
            seq: 1,
            leaving: false,
            mac: String::new(),
        }
    }

    fn state_of(nodes: &[NodeView], id: &str) -> NodeState {
        nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.state)
            .expect("node seen")
    }

    #[test]
    fn a_silent_node_is_down_after_down_after_and_sooner_once_its_link_dropped() {
        let clock = SimulatedClock::default();
        let seen = RwLock::new(HashMap::new());
        for (node, suspected) in [("quiet", false), ("unlinked", true)] {
            seen.write().unwrap_or_else(PoisonError::into_inner).insert(
                node.to_string(),
                Seen {
                    heartbeat: heartbeat(node),
                    at: clock.instant(),
                    skew_ms: 0,
                    suspected,
                },
            );
        }
        // down_after 2 s; a node whose link dropped is down once a 0.5 s heartbeat is overdue.
        let thresholds = (
            Duration::from_secs(2),
            suspect_after(Duration::from_millis(500)),
        );
        let at = |advance_ms| {
            clock.advance(Duration::from_millis(advance_ms));
            view(&seen, thresholds, &clock)
        };
        let nodes = at(0);
        assert_eq!(state_of(&nodes, "quiet"), NodeState::Up);
        assert_eq!(state_of(&nodes, "unlinked"), NodeState::Up);
        let nodes = at(thresholds.1.as_millis() as u64 + 1);
        assert_eq!(state_of(&nodes, "quiet"), NodeState::Up);
        assert_eq!(state_of(&nodes, "unlinked"), NodeState::Down);
        let nodes = at(2000);
        assert_eq!(
            state_of(&nodes, "quiet"),
            NodeState::Down,
            "silent past down_after"
        );
        assert!(nodes.iter().all(|n| n.last_seen_ms > 2000));
    }
}
