//! Camera placement across nodes (`cluster.placement = true`). Every node runs the same loop, twice a
//! second:
//!
//! - **Leader**: it tries to take or renew the `placement` lease in PostgreSQL (one clock, the
//!   database's; the lease's epoch grows with every change of holder). A lease whose holder
//!   membership reports down is taken over at once rather than at its expiry. The holder places every camera
//!   by weighted rendezvous hashing over the nodes membership sees `up` with the `ingest` role and that
//!   are not drained, honouring each camera's `placement.<label>` constraints and each node's
//!   `max_cameras`. A camera on a node that is down moves at once; one whose best node changed (a node
//!   joined, or its node is drained) is handed over make-before-break at a bounded rate, so about 1/N
//!   of the cameras move when the N-th node joins. The leader's writes are refused once its lease is
//!   gone (a stale leader is fenced).
//! - **Agent**: at every round, and at once when the leader announces moves on
//!   `vms.cluster.<name>.placement`, it reads the cameras this node may record, each with its
//!   ownership epoch, starts the ones it gained and stops (without deleting anything) the ones it
//!   lost. Segment and event writes carry the epoch their camera actor started under, and the database
//!   refuses stale ones, so a node that was frozen or cut off and comes back cannot write for a camera
//!   that moved.
//! - **Self-fencing**: a node that can reach neither NATS (its heartbeat not stored) nor PostgreSQL
//!   (its grants unreadable) for `down_after_ms - heartbeat_ms` stops all its cameras by itself,
//!   before the others take them. One that still reads its grants from PostgreSQL follows them: the
//!   leader moves its cameras once the others stop hearing it, and the database fences its writes.
//!   A node does not lead while NATS does not store its heartbeat (it would see every node down), nor
//!   for `down_after_ms` after it stores them again or after its own rounds stalled (it was frozen):
//!   the others' heartbeats must reach it first.

use crate::cluster::local::{LocalActors, release};
use crate::cluster::membership::Membership;
use crate::context::NodeContext;
use crate::ownership::Ownership;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::{CameraId, NodeState, NodeView, subjects};
use vms_store::placement::{Grant, Move, PlacedCamera};

/// Name of the leader's lease.
pub const LEASE: &str = "placement";
/// Time between rounds (agents also follow at once when the leader says it moved cameras).
const ROUND: Duration = Duration::from_millis(250);
/// Longest a round's PostgreSQL and NATS calls may take. A call that hangs (a partition that drops
/// packets without closing anything) is abandoned and counts as failed.
const CALL_DEADLINE: Duration = Duration::from_secs(1);
/// Lease length: a dead leader is replaced within it (no later than its node is seen down).
const LEASE_TTL: Duration = Duration::from_secs(2);
/// Weight of a node without `max_cameras`.
const DEFAULT_WEIGHT: f64 = 64.0;
/// Camera labels with this prefix are placement constraints: `placement.site = north` needs a node
/// labelled `site = north`.
pub const CONSTRAINT_PREFIX: &str = "placement.";

/// FNV-1a with a 64-bit finaliser (MurmurHash3's), stable across processes and builds: FNV alone
/// scores nodes whose names differ in one last byte too much alike.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h = bytes.into_iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Weighted rendezvous score of `node` (weight `weight`) for `camera`: `-weight / ln(u)` with `u`
/// uniform in (0, 1) from the hash, so each node wins a share of cameras proportional to its weight
/// and adding or removing a node moves only the cameras it wins or held.
fn score(camera: CameraId, node: &str, weight: f64) -> f64 {
    let h = fnv1a(camera.0.as_bytes().iter().copied().chain(node.bytes()));
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -weight / u.ln()
}

/// A node placement may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Node id.
    pub id: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Most cameras (0: no limit).
    pub max_cameras: u32,
}

impl Candidate {
    fn weight(&self) -> f64 {
        if self.max_cameras > 0 {
            f64::from(self.max_cameras)
        } else {
            DEFAULT_WEIGHT
        }
    }
}

/// The node that should record `camera` among `nodes` (unweighted, unconstrained rendezvous).
pub fn rendezvous(camera: CameraId, nodes: &[String]) -> Option<&String> {
    nodes.iter().max_by(|a, b| {
        score(camera, a, 1.0)
            .partial_cmp(&score(camera, b, 1.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

/// The constraints of a camera: `placement.<key> = <value>` labels.
fn constraints(labels: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
    labels
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(CONSTRAINT_PREFIX).map(|k| (k, v.as_str())))
}

/// What the leader decides in one round.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Changes to write.
    pub moves: Vec<Move>,
    /// Cameras per node after the plan.
    pub load: HashMap<String, usize>,
}

/// Plans a round: where every camera of `cameras` goes among `candidates` (up, ingest, not drained),
/// given the nodes that are up at all (`up`: a camera on an up but drained node is handed over, one
/// on a node not up moves at once). At most `max_handovers` handovers are started.
pub fn plan(
    cameras: &[PlacedCamera],
    candidates: &[Candidate],
    up: &[String],
    max_handovers: usize,
) -> Plan {
    let mut load: HashMap<String, usize> = candidates.iter().map(|c| (c.id.clone(), 0)).collect();
    let mut moves = Vec::new();
    let mut handovers = 0;
    for cam in cameras {
        let wanted: Vec<(&str, &str)> = constraints(&cam.labels).collect();
        let mut ranked: Vec<(&Candidate, f64)> = candidates
            .iter()
            .filter(|n| {
                wanted
                    .iter()
                    .all(|(k, v)| n.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|n| (n, score(cam.camera_id, &n.id, n.weight())))
            .collect();
        let matching = ranked.len();
        ranked.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        let best = ranked.iter().map(|(n, _)| *n).find(|n| {
            n.max_cameras == 0
                || load.get(&n.id).copied().unwrap_or(0) < n.max_cameras as usize
                || cam.node_id.as_deref() == Some(n.id.as_str())
        });
        let current = cam.node_id.as_deref();
        let current_up = current.is_some_and(|c| up.iter().any(|u| u == c));
        let Some(best) = best else {
            let reason = if candidates.is_empty() {
                "no node can take cameras: none is up with the ingest role and undrained"
                    .to_string()
            } else if matching == 0 {
                let want: Vec<String> = wanted.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(
                    "no up, undrained ingest node has the labels {}",
                    want.join(", ")
                )
            } else {
                format!("all {matching} nodes that match are full (max_cameras)")
            };
            if cam.unplaced_reason.as_deref() != Some(reason.as_str()) || current.is_some() {
                moves.push(Move {
                    camera_id: cam.camera_id,
                    from: cam.node_id.clone(),
                    to: None,
                    handover: false,
                    reason,
                });
            }
            continue;
        };
        let stays = current == Some(best.id.as_str());
        let target = if stays || cam.handing_over {
            // A handover under way completes before the camera moves again.
            cam.node_id.clone().filter(|c| load.contains_key(c))
        } else if !current_up {
            moves.push(Move {
                camera_id: cam.camera_id,
                from: cam.node_id.clone(),
                to: Some(best.id.clone()),
                handover: false,
                reason: if current.is_some() {
                    "node down".into()
                } else {
                    "placed".into()
                },
            });
            Some(best.id.clone())
        } else if handovers < max_handovers {
            handovers += 1;
            let drained = current.is_some_and(|c| !load.contains_key(c));
            moves.push(Move {
                camera_id: cam.camera_id,
                from: cam.node_id.clone(),
                to: Some(best.id.clone()),
                handover: true,
                reason: if drained { "drain" } else { "rebalance" }.into(),
            });
            Some(best.id.clone())
        } else {
            cam.node_id.clone()
        };
        if let Some(t) = target {
            *load.entry(t).or_default() += 1;
        }
    }
    Plan { moves, load }
}

/// Runs the leader and agent rounds for as long as the node runs, and the watchdog that fences this
/// node when it is cut off.
pub fn spawn(
    ctx: Arc<NodeContext>,
    membership: Arc<Membership>,
    ownership: Arc<Ownership>,
    actors: Arc<dyn LocalActors>,
) -> tokio::task::JoinHandle<()> {
    let watchdog = tokio::spawn(crate::cluster::self_fence::watchdog(
        Arc::clone(&ctx),
        Arc::clone(&membership),
        Arc::clone(&ownership),
        Arc::clone(&actors),
    ));
    tokio::spawn(async move {
        // Stops the watchdog with the rounds.
        let _watchdog = AbortOnDrop(watchdog);
        let mut tick = tokio::time::interval(ROUND);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard_since: Option<Instant> = None;
        let mut last_round = Instant::now();
        let subject = subjects::placement_moved(&ctx.config.cluster.name);
        let mut moved = within(ctx.nats.subscribe(subject))
            .await
            .ok()
            .and_then(Result::ok);
        loop {
            let woken = async {
                match moved.as_mut() {
                    Some(sub) => sub.next().await.is_some(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {}
                true = woken => {
                    follow_logged(&ctx, &membership, &ownership, actors.as_ref()).await;
                    continue;
                }
            }
            // First: a node that was frozen or cut off learns what it may still record.
            follow_logged(&ctx, &membership, &ownership, actors.as_ref()).await;
            // A node that was frozen (or starved) sees everyone as silent until their heartbeats
            // reach it again: it must not lead on that stale view (nor take the lease).
            let stalled = last_round.elapsed() > ROUND * 4;
            last_round = Instant::now();
            if stalled || membership.heartbeat_age() > membership.fence_after() {
                heard_since = None;
            }
            let settled = heard_since.get_or_insert_with(Instant::now).elapsed()
                >= Duration::from_millis(ctx.config.cluster.down_after_ms);
            if !settled {
                crate::metrics::PLACEMENT_LEADER.set(0);
                continue;
            }
            match within(lead(&ctx, &membership)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "placement round failed"),
                Err(_) => {
                    crate::metrics::PLACEMENT_LEADER.set(0);
                    tracing::warn!("placement round abandoned after its deadline");
                }
            }
        }
    })
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `call`, abandoned after [`CALL_DEADLINE`].
async fn within<T>(call: impl Future<Output = T>) -> Result<T, tokio::time::error::Elapsed> {
    tokio::time::timeout(CALL_DEADLINE, call).await
}

/// Reads this node's grants within the deadline and starts and stops cameras by them; a failure is
/// logged (the watchdog acts on it).
async fn follow_logged(
    ctx: &NodeContext,
    membership: &Membership,
    ownership: &Ownership,
    actors: &dyn LocalActors,
) {
    let started = Instant::now();
    match within(ctx.store.grants(ctx.node_id())).await {
        Ok(Ok(grants)) => follow(ctx, membership, ownership, actors, grants, started).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "cannot read this node's placement"),
        Err(_) => tracing::debug!("reading this node's placement took too long; abandoned"),
    }
}

/// The nodes placement may use now: up, with the ingest role, not drained; and the ids of all up nodes.
pub fn candidates(
    nodes: &[NodeView],
    drained: &std::collections::HashSet<String>,
) -> (Vec<Candidate>, Vec<String>) {
    let up: Vec<&NodeView> = nodes.iter().filter(|n| n.state == NodeState::Up).collect();
    let mut candidates: Vec<Candidate> = up
        .iter()
        .filter(|n| n.roles.iter().any(|r| r == "ingest") && !drained.contains(&n.id))
        .map(|n| Candidate {
            id: n.id.clone(),
            labels: n.labels.clone(),
            max_cameras: n.max_cameras,
        })
        .collect();
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    (candidates, up.iter().map(|n| n.id.clone()).collect())
}

async fn lead(ctx: &NodeContext, membership: &Membership) -> Result<(), vms_store::StoreError> {
    let nodes = membership.nodes();
    let gone: Vec<String> = nodes
        .iter()
        .filter(|n| n.state != NodeState::Up)
        .map(|n| n.id.clone())
        .collect();
    let Some(epoch) = ctx
        .store
        .acquire_lease(LEASE, ctx.node_id(), LEASE_TTL, &gone)
        .await?
    else {
        crate::metrics::PLACEMENT_LEADER.set(0);
        return Ok(());
    };
    crate::metrics::PLACEMENT_LEADER.set(1);
    crate::metrics::PLACEMENT_EPOCH.set(epoch);
    let settled = ctx.store.settle_handovers().await?;
    if settled > 0 {
        tracing::info!(cameras = settled, "handovers done");
    }
    let drained = ctx.store.drained_nodes().await?;
    let (candidates, up) = candidates(&nodes, &drained);
    if up.is_empty() {
        return Ok(());
    }
    let cameras = ctx.store.placements().await?;
    let c = &ctx.config.cluster;
    let mut plan = plan(&cameras, &candidates, &up, c.max_handovers as usize);
    if plan.moves.is_empty() {
        return Ok(());
    }
    if c.fake_cameras {
        // Nothing records: there is no footage to hand over, so moves are immediate.
        for m in &mut plan.moves {
            m.handover = false;
        }
    }
    let moved = ctx.store.apply_moves(LEASE, epoch, &plan.moves).await?;
    crate::metrics::PLACEMENT_MOVES.inc_by(moved);
    if moved > 0 {
        // Agents follow at once instead of at their next round (the caller's deadline bounds it).
        let _ = ctx
            .nats
            .publish(subjects::placement_moved(&c.name), bytes::Bytes::new())
            .await;
    }
    for m in plan.moves.iter().take(32) {
        match &m.to {
            Some(to) => {
                tracing::info!(camera_id = %m.camera_id, from = m.from.as_deref().unwrap_or("-"), to = %to, handover = m.handover, reason = %m.reason, epoch, "camera placed")
            }
            None => {
                tracing::warn!(camera_id = %m.camera_id, reason = %m.reason, "camera cannot be placed")
            }
        }
    }
    if plan.moves.len() > 32 {
        tracing::info!(
            moves = plan.moves.len(),
            written = moved,
            epoch,
            "cameras placed (first 32 logged)"
        );
    }
    Ok(())
}

/// Applies grants read by a query that started at `started`: stops the cameras lost, starts the
/// cameras gained.
async fn follow(
    ctx: &NodeContext,
    membership: &Membership,
    ownership: &Ownership,
    actors: &dyn LocalActors,
    grants: HashMap<CameraId, Grant>,
    started: Instant,
) {
    let n = grants.len();
    let Some((gained, lost)) = ownership.replace_read(grants, started) else {
        tracing::info!("placement read before this node fenced itself; ignored");
        return;
    };
    membership.set_owned(n);
    if gained.is_empty() && lost.is_empty() {
        return;
    }
    if ctx.config.cluster.fake_cameras {
        tracing::debug!(
            gained = gained.len(),
            lost = lost.len(),
            "placement changed (fake cameras: nothing recorded)"
        );
        return;
    }
    // Lost first: a camera granted again at a new epoch is stopped, then started under it.
    release(ctx, actors, &lost);
    for id in gained {
        match ctx.store.camera(vms_messages::TenantScope::All, id).await {
            Ok(camera) => {
                tracing::info!(camera_id = %id, epoch = ownership.epoch(id), "camera placed here; starting it");
                actors.upsert_camera(camera);
            }
            Err(e) => {
                // Forgotten until the next read grants it again, which retries the start.
                ownership.forget(id);
                tracing::warn!(camera_id = %id, error = %e, "cannot load a camera placed here; retrying")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams(n: usize) -> Vec<PlacedCamera> {
        (0..n)
            .map(|_| PlacedCamera {
                camera_id: CameraId::new(),
                labels: BTreeMap::new(),
                node_id: None,
                unplaced_reason: None,
                handing_over: false,
            })
            .collect()
    }

    fn nodes(ids: &[&str]) -> Vec<Candidate> {
        ids.iter()
            .map(|id| Candidate {
                id: (*id).into(),
                labels: BTreeMap::new(),
                max_cameras: 0,
            })
            .collect()
    }

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| (*s).to_string()).collect()
    }

    /// Applies a plan's moves to the cameras, as the store would.
    fn apply(cameras: &mut [PlacedCamera], plan: &Plan) {
        for m in &plan.moves {
            let cam = cameras
                .iter_mut()
                .find(|c| c.camera_id == m.camera_id)
                .expect("camera");
            cam.node_id = m.to.clone();
            cam.unplaced_reason = m.to.is_none().then(|| m.reason.clone());
        }
    }

    #[test]
    fn rendezvous_moves_about_a_quarter_when_a_fourth_node_joins() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut four = three.clone();
        four.push("d".into());
        let cameras: Vec<CameraId> = (0..1000).map(|_| CameraId::new()).collect();
        let moved = cameras
            .iter()
            .filter(|c| rendezvous(**c, &three) != rendezvous(**c, &four))
            .count();
        assert!((150..=350).contains(&moved), "{moved} of 1000 moved");
        assert!(
            cameras
                .iter()
                .filter(|c| rendezvous(**c, &three) != rendezvous(**c, &four))
                .all(|c| rendezvous(*c, &four).map(String::as_str) == Some("d"))
        );
    }

    #[test]
    fn plan_places_everything_then_hands_over_a_quarter_at_a_bounded_rate() {
        let mut cameras = cams(1000);
        let three = nodes(&["a", "b", "c"]);
        let first = plan(&cameras, &three, &ids(&["a", "b", "c"]), 16);
        assert_eq!(first.moves.len(), 1000, "all placed at once");
        assert!(
            first
                .moves
                .iter()
                .all(|m| !m.handover && m.reason == "placed")
        );
        apply(&mut cameras, &first);
        let max = *first.load.values().max().expect("load");
        assert!(max < 400, "{:?}", first.load);
        // Stable: nothing moves again.
        assert!(
            plan(&cameras, &three, &ids(&["a", "b", "c"]), 16)
                .moves
                .is_empty()
        );
        // A fourth node: handovers to it only, at most 16 a round, about a quarter in all.
        let four = nodes(&["a", "b", "c", "d"]);
        let up = ids(&["a", "b", "c", "d"]);
        let mut moved = 0;
        for _ in 0..100 {
            let p = plan(&cameras, &four, &up, 16);
            if p.moves.is_empty() {
                break;
            }
            assert!(p.moves.len() <= 16);
            assert!(
                p.moves
                    .iter()
                    .all(|m| m.handover && m.to.as_deref() == Some("d"))
            );
            moved += p.moves.len();
            apply(&mut cameras, &p);
        }
        assert!((150..=350).contains(&moved), "{moved} moved");
    }

    #[test]
    fn plan_moves_a_dead_nodes_cameras_at_once_and_drains_by_handover() {
        let mut cameras = cams(200);
        let abc = nodes(&["a", "b", "c"]);
        let p = plan(&cameras, &abc, &ids(&["a", "b", "c"]), 16);
        apply(&mut cameras, &p);
        let on_c = cameras
            .iter()
            .filter(|c| c.node_id.as_deref() == Some("c"))
            .count();
        // c is down: every one of its cameras moves in one round, none as a handover.
        let p = plan(&cameras, &nodes(&["a", "b"]), &ids(&["a", "b"]), 16);
        assert_eq!(p.moves.len(), on_c);
        assert!(
            p.moves
                .iter()
                .all(|m| !m.handover && m.reason == "node down")
        );
        apply(&mut cameras, &p);
        // b is drained (up, not a candidate): its cameras are handed over, 16 a round.
        let p = plan(&cameras, &nodes(&["a"]), &ids(&["a", "b"]), 16);
        assert_eq!(p.moves.len(), 16);
        assert!(p.moves.iter().all(|m| m.handover && m.reason == "drain"));
    }

    #[test]
    fn plan_honours_labels_and_capacity_and_says_why_not() {
        let mut cameras = cams(10);
        cameras[0]
            .labels
            .insert("placement.site".into(), "north".into());
        cameras[1]
            .labels
            .insert("placement.gpu".into(), "true".into());
        let mut n = nodes(&["a", "b"]);
        n[0].labels.insert("site".into(), "north".into());
        n[1].max_cameras = 3;
        let p = plan(&cameras, &n, &ids(&["a", "b"]), 16);
        let to = |i: usize| {
            p.moves
                .iter()
                .find(|m| m.camera_id == cameras[i].camera_id)
                .expect("move")
        };
        assert_eq!(to(0).to.as_deref(), Some("a"));
        assert_eq!(to(1).to, None);
        assert!(to(1).reason.contains("gpu=true"), "{}", to(1).reason);
        assert!(p.load["b"] <= 3, "{:?}", p.load);
        // Nothing can be placed with no candidates, and the reason says so.
        let p = plan(&cams(1), &[], &ids(&["a"]), 16);
        assert!(p.moves[0].reason.contains("undrained"), "{:?}", p.moves);
    }

    #[test]
    fn weights_follow_capacity() {
        let mut n = nodes(&["small", "big"]);
        n[0].max_cameras = 100;
        n[1].max_cameras = 300;
        let p = plan(&cams(200), &n, &ids(&["small", "big"]), 16);
        let (small, big) = (p.load["small"], p.load["big"]);
        assert!(big > 2 * small, "small {small}, big {big}");
    }

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
