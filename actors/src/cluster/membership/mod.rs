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
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use uuid::Uuid;
use vms_config::NodeConfig;
use vms_messages::{Heartbeat, NodeState, NodeView};

mod bucket;
use bucket::{check_cookie, claim, follow, member_key, open_bucket, put};

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
        let me = Arc::new(RwLock::new(first_heartbeat(config, instance, Utc::now())));
        let seen: Arc<RwLock<HashMap<String, Seen>>> = Arc::default();
        let clock = crate::clock::system();
        let last_stored = Arc::new(Mutex::new(clock.instant()));
        let owned = Arc::new(AtomicU32::new(0));
        let beat = {
            let (kv, me, seen) = (kv.clone(), Arc::clone(&me), Arc::clone(&seen));
            let (last_stored, owned) = (Arc::clone(&last_stored), Arc::clone(&owned));
            let cookie = Arc::clone(&cookie);
            let clock = Arc::clone(&clock);
            let data_dir = config.data_dir.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(heartbeat_every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    // Read before the lock is taken: a slow disk must not hold up the view.
                    let disk = disk_use(&data_dir);
                    let hb = {
                        let mut me = me.write().unwrap_or_else(PoisonError::into_inner);
                        me.disk = disk;
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

    /// Tells the others where this node's mirror server listens (from the next heartbeat).
    pub fn set_mirror(&self, address: String) {
        self.me
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .mirror = Some(address);
    }

    /// The mirror server of node `id`, as its heartbeats tell it.
    pub fn mirror_of(&self, id: &str) -> Option<String> {
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        seen.get(id)?.heartbeat.mirror.clone()
    }

    /// Reports the model worker replicas this node runs and their load (from the next heartbeat).
    pub fn set_replicas(&self, replicas: Vec<vms_messages::ReplicaLoad>) {
        self.me
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replicas = replicas;
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

/// The nodes of `seen`, by id, judged against `down_after`.
/// The ids of `nodes` that are not up (down, suspect or left): whose leases a node may take over
/// once their holder has been silent long enough.
pub(crate) fn not_up(nodes: &[NodeView]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.state != NodeState::Up)
        .map(|n| n.id.clone())
        .collect()
}

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
                mirror: hb.mirror.clone(),
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
                disk: hb.disk,
                replicas: hb.replicas.clone(),
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

/// The first heartbeat of the node `config` describes, run `instance`, at `now`.
fn first_heartbeat(config: &NodeConfig, instance: Uuid, now: DateTime<Utc>) -> Heartbeat {
    let c = &config.cluster;
    Heartbeat {
        node_id: config.node_id.clone(),
        cluster: c.name.clone(),
        instance,
        api: config.api.listen.clone(),
        link: (c.link_port != 0).then(|| format!("{}:{}", c.advertise_host, c.link_port)),
        mirror: None,
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
        disk: disk_use(&config.data_dir),
        replicas: Vec::new(),
        mac: String::new(),
    }
}

/// The disk holding `path`, if it can be read.
fn disk_use(path: &std::path::Path) -> Option<vms_messages::DiskUse> {
    crate::recording::retention::disk_use(path).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;

    fn heartbeat(node: &str) -> Heartbeat {
        let config = NodeConfig {
            node_id: node.into(),
            ..NodeConfig::default()
        };
        first_heartbeat(&config, Uuid::now_v7(), Utc::now())
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
