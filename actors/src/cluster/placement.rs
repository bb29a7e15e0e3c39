//! Camera placement across nodes (`cluster.placement = true`). Every node runs the same loop, twice a
//! second:
//!
//! - **Leader**: it tries to take or renew the `placement` lease in PostgreSQL (one clock, the
//!   database's; the lease's epoch grows with every change of holder). A lease whose holder
//!   membership reports down is taken over at once rather than at its expiry. The holder places every camera (`plan`)
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
use crate::cluster::membership::{Membership, not_up};
use crate::cluster::plan::{candidates, plan};
use crate::context::NodeContext;
use crate::ownership::Ownership;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::{CameraId, subjects};
use vms_store::Grant;

/// Name of the leader's lease.
pub const LEASE: &str = "placement";
/// Time between rounds (agents also follow at once when the leader says it moved cameras).
const ROUND: Duration = Duration::from_millis(250);
/// Longest a round's PostgreSQL and NATS calls may take. A call that hangs (a partition that drops
/// packets without closing anything) is abandoned and counts as failed.
const CALL_DEADLINE: Duration = Duration::from_secs(1);
/// Lease length: a dead leader is replaced within it (no later than its node is seen down).
const LEASE_TTL: Duration = Duration::from_secs(2);

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

async fn lead(ctx: &NodeContext, membership: &Membership) -> Result<(), vms_store::StoreError> {
    let nodes = membership.nodes();
    let gone = not_up(&nodes);
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
    crate::metrics::CAMERAS_WITHOUT_STANDBY.set(i64::try_from(plan.without_standby).unwrap_or(0));
    // A camera placed in this round gets its standby written in the next (its row is new).
    let standbys = ctx
        .store
        .apply_standbys(LEASE, epoch, &plan.standbys)
        .await?;
    if standbys > 0 {
        tracing::info!(cameras = standbys, epoch, "standby nodes chosen");
    }
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
