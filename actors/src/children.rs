//! What the keepers of keyed child actors (model replicas, tenant actors, ticket actors) do alike
//! when a child ends: forget it, so their next round starts it again if it is still wanted.

use ractor::{ActorRef, SupervisionEvent};
use std::collections::HashMap;

/// How a keeper's child ended, as a supervision event tells.
pub(crate) enum ChildEnd {
    /// The event is not of a child of `running` ending.
    NotAChild,
    /// It stopped.
    Stopped,
    /// It failed, for this reason.
    Failed(String),
}

/// Removes from `running` the child that `event` says stopped or failed, and says how it ended.
pub(crate) fn forget_ended<K, M>(
    running: &mut HashMap<K, ActorRef<M>>,
    event: &SupervisionEvent,
) -> ChildEnd {
    let (cell, failure) = match event {
        SupervisionEvent::ActorTerminated(cell, ..) => (cell, None),
        SupervisionEvent::ActorFailed(cell, e) => (cell, Some(e.to_string())),
        _ => return ChildEnd::NotAChild,
    };
    let gone = cell.get_id();
    let before = running.len();
    running.retain(|_, a| a.get_id() != gone);
    match (running.len() < before, failure) {
        (false, _) => ChildEnd::NotAChild,
        (true, None) => ChildEnd::Stopped,
        (true, Some(e)) => ChildEnd::Failed(e),
    }
}
