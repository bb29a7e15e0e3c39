//! Self-fencing: a node that can reach neither PostgreSQL (its placement grants) nor NATS (its
//! heartbeat) for [`Membership::fence_after`] stops every camera itself, before the others declare it
//! down and take them. A watchdog looks on its own clock, so that a call hanging in a partition that
//! drops packets cannot hold the fence back.

use crate::cluster::local::{LocalActors, release};
use crate::cluster::membership::Membership;
use crate::context::NodeContext;
use crate::ownership::Ownership;
use std::sync::Arc;
use std::time::Duration;

/// How often the self-fencing watchdog looks, independently of the placement rounds.
const WATCHDOG_EVERY: Duration = Duration::from_millis(100);

/// Fences this node when it has neither read its grants nor had a heartbeat stored for longer than
/// [`Membership::fence_after`]: looked at every [`WATCHDOG_EVERY`] whatever the rounds are doing, so
/// that a call hanging in a partition cannot delay it.
pub(crate) async fn watchdog(
    ctx: Arc<NodeContext>,
    membership: Arc<Membership>,
    ownership: Arc<Ownership>,
    actors: Arc<dyn LocalActors>,
) {
    let mut tick = tokio::time::interval(WATCHDOG_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if ownership.read_age() > membership.fence_after() {
            fence_if_cut_off(&ctx, &membership, &ownership, actors.as_ref());
        }
    }
}

/// Stops every camera when NATS has not stored this node's heartbeat for too long either (the caller
/// could not read the grants for as long).
fn fence_if_cut_off(
    ctx: &NodeContext,
    membership: &Membership,
    ownership: &Ownership,
    actors: &dyn LocalActors,
) {
    let age = membership.heartbeat_age();
    if age <= membership.fence_after() {
        return;
    }
    if !ownership.is_empty() {
        crate::metrics::SELF_FENCES.inc();
        tracing::error!(
            heartbeat_age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
            cameras = ownership.len(),
            "cut off from NATS and PostgreSQL; stopping this node's cameras so that others take them"
        );
        let lost = ownership.fence();
        membership.set_owned(0);
        release(ctx, actors, &lost);
    }
}
