//! Camera placement across nodes (`cluster.placement = true`). Every node runs the same loop, twice a
//! second:
//!
//! - **Leader**: it tries to take or renew the `placement` lease in PostgreSQL (one clock, the
//!   database's; the lease's epoch grows with every change of holder). The holder places every camera
//!   by rendezvous hashing over the nodes membership sees `up` with the `ingest` role: a camera on a
//!   node that is down moves at once; one whose best node changed (a node joined) moves at a bounded
//!   rate, so about 1/N of the cameras move when the N-th node joins. Every write carries the epoch,
//!   and a write from an older epoch never overwrites a newer one (a stale leader is fenced).
//! - **Agent**: it reads the cameras placed on this node and starts the ones it gained and stops (without
//!   deleting anything) the ones it lost.
//!
//! A node that is frozen or cut off stops being `up` for the others after `cluster.down_after_ms`, and
//! its cameras move; when it comes back its agent sees they are no longer its own and stops them.

use crate::context::NodeContext;
use crate::membership::Membership;
use crate::supervisor::{NODE_SUPERVISOR, NodeMsg};
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use vms_messages::{CameraId, NodeState};

/// Name of the leader's lease.
pub const LEASE: &str = "placement";
/// Time between rounds.
const ROUND: Duration = Duration::from_millis(500);
/// Lease length: a dead leader is replaced within it.
const LEASE_TTL: Duration = Duration::from_secs(3);
/// Most rebalancing moves per round (moves off a dead node are not limited).
const MAX_MOVES: usize = 16;

/// The cameras this node records; `None` in [`NodeContext`] means every camera (no placement).
#[derive(Debug, Default)]
pub struct Ownership {
    owned: RwLock<HashSet<CameraId>>,
}

impl Ownership {
    /// Whether this node records `camera`.
    pub fn owns(&self, camera: CameraId) -> bool {
        self.owned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&camera)
    }

    /// Replaces the owned set; returns (gained, lost).
    fn replace(&self, now: HashSet<CameraId>) -> (Vec<CameraId>, Vec<CameraId>) {
        let mut owned = self.owned.write().unwrap_or_else(PoisonError::into_inner);
        let gained = now.difference(&owned).copied().collect();
        let lost = owned.difference(&now).copied().collect();
        *owned = now;
        (gained, lost)
    }
}

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

/// The node that should record `camera` among `nodes` (rendezvous hashing: the highest score).
pub fn rendezvous(camera: CameraId, nodes: &[String]) -> Option<&String> {
    nodes
        .iter()
        .max_by_key(|n| fnv1a(camera.0.as_bytes().iter().copied().chain(n.bytes())))
}

/// Runs the leader and agent rounds for as long as the node runs.
pub fn spawn(
    ctx: Arc<NodeContext>,
    membership: Arc<Membership>,
    ownership: Arc<Ownership>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROUND);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = lead(&ctx, &membership).await {
                tracing::debug!(error = %e, "placement round failed");
            }
            if let Err(e) = follow(&ctx, &ownership).await {
                tracing::debug!(error = %e, "cannot read this node's placement");
            }
        }
    })
}

async fn lead(ctx: &NodeContext, membership: &Membership) -> Result<(), crate::StoreError> {
    let Some(epoch) = ctx
        .store
        .acquire_lease(LEASE, ctx.node_id(), LEASE_TTL)
        .await?
    else {
        return Ok(());
    };
    let mut live: Vec<String> = membership
        .nodes()
        .into_iter()
        .filter(|n| n.state == NodeState::Up && n.roles.iter().any(|r| r == "ingest"))
        .map(|n| n.id)
        .collect();
    live.sort();
    if live.is_empty() {
        return Ok(());
    }
    let mut moves = 0;
    for (camera, current) in ctx.store.placements().await? {
        let Some(best) = rendezvous(camera, &live) else {
            continue;
        };
        let orphan = current.as_ref().is_none_or(|c| !live.contains(c));
        let better = current.as_ref() != Some(best);
        if orphan || (better && moves < MAX_MOVES) {
            if ctx.store.assign(camera, best, epoch).await? {
                crate::metrics::PLACEMENT_MOVES.inc();
                tracing::info!(camera_id = %camera, from = current.as_deref().unwrap_or("-"), to = %best, epoch, "camera placed");
            }
            if !orphan {
                moves += 1;
            }
        }
    }
    Ok(())
}

async fn follow(ctx: &NodeContext, ownership: &Ownership) -> Result<(), crate::StoreError> {
    let mine: HashSet<CameraId> = ctx
        .store
        .assigned_to(ctx.node_id())
        .await?
        .into_iter()
        .collect();
    let (gained, lost) = ownership.replace(mine);
    if gained.is_empty() && lost.is_empty() {
        return Ok(());
    }
    let Some(cell) = ractor::registry::where_is(NODE_SUPERVISOR) else {
        return Ok(());
    };
    let supervisor: ractor::ActorRef<NodeMsg> = cell.into();
    for id in gained {
        match ctx.store.camera(vms_messages::TenantScope::All, id).await {
            Ok(camera) => {
                tracing::info!(camera_id = %id, "camera placed here; starting it");
                let _ = supervisor.cast(NodeMsg::CameraUpserted(camera));
            }
            Err(e) => {
                tracing::warn!(camera_id = %id, error = %e, "cannot load a camera placed here")
            }
        }
    }
    for id in lost {
        tracing::info!(camera_id = %id, "camera placed elsewhere; stopping it here");
        let _ = supervisor.cast(NodeMsg::CameraReleased(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Every move goes to the new node.
        assert!(
            cameras
                .iter()
                .filter(|c| rendezvous(**c, &three) != rendezvous(**c, &four))
                .all(|c| rendezvous(*c, &four).map(String::as_str) == Some("d"))
        );
        let per_node: Vec<usize> = four
            .iter()
            .map(|n| {
                cameras
                    .iter()
                    .filter(|c| rendezvous(**c, &four) == Some(n))
                    .count()
            })
            .collect();
        assert!(
            per_node.iter().all(|n| (180..=320).contains(n)),
            "{per_node:?}"
        );
    }
}
