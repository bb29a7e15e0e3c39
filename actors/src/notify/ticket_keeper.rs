//! [`TicketKeeper`]: activates and passivates this node's [`TicketActor`]s, one per open ticket of
//! a camera this node records (every camera without placement) whose tenant sets an
//! acknowledgement limit.
//!
//! - **On demand.** The outbox tells the keeper when an event it stored opened a ticket; the keeper
//!   starts that ticket's actor at once.
//! - **On failover.** When this node's camera grants change (it gained a dead node's cameras, or
//!   lost some), the keeper reads the open tickets of the cameras it records now from PostgreSQL,
//!   starts the actors missing and stops those of cameras it lost. It reads them again every
//!   [`RESYNC_EVERY`] as well, in case a change was missed.
//! - **On a licence change.** Every actor reads its ticket and limit again, and the keeper syncs
//!   (tickets of a tenant that had no limit may have one now).
//!
//! Ticket actors are linked to the keeper; one that stops (its ticket escalated or acknowledged)
//! is forgotten.

use super::ticket_actor::{TicketActor, TicketArgs, TicketMsg, ticket_actor_name};
use crate::analytics::outbox::Outbox;
use crate::children::{ChildEnd, forget_ended};
use crate::clock::Clock;
use crate::context::NodeContext;
use crate::ownership::Ownership;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Name of the node's ticket keeper (in logs and its supervisor's events).
pub const TICKET_KEEPER: &str = "ticket-keeper";
/// How often the keeper looks whether this node's camera grants changed (in memory).
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How often the keeper reads the open tickets again though nothing changed.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);

/// Messages of [`TicketKeeper`].
#[derive(Debug)]
pub enum KeeperMsg {
    /// An event stored here opened this ticket.
    Opened(Uuid),
    /// Look whether the camera grants changed (or a resync is due) and sync if so.
    Watch,
    /// A tenant's licence changed: every actor reads its limit again.
    LicenceChanged,
}

impl ractor::Message for KeeperMsg {}

/// Arguments of [`TicketKeeper`].
pub struct KeeperArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// Where escalation events are queued; it also reports opened tickets.
    pub outbox: Arc<Outbox>,
    /// The cameras this node records.
    pub ownership: Arc<Ownership>,
    /// Where the SLA timers read time.
    pub clock: Arc<dyn Clock>,
}

/// State of [`TicketKeeper`].
pub struct KeeperState {
    args: KeeperArgs,
    active: HashMap<Uuid, ActorRef<TicketMsg>>,
    /// The grants' generation last synced, and when.
    synced: Option<(u64, Instant)>,
}

/// Keeps this node's ticket actors; see the module docs.
pub struct TicketKeeper;

impl KeeperState {
    /// Sets `vms_ticket_actors` to the actors running.
    fn report_count(&self) {
        crate::metrics::TICKET_ACTORS.set(i64::try_from(self.active.len()).unwrap_or(i64::MAX));
    }

    async fn activate(&mut self, myself: &ActorRef<KeeperMsg>, id: Uuid) {
        if self.active.contains_key(&id) {
            return;
        }
        let args = TicketArgs {
            id,
            ctx: Arc::clone(&self.args.ctx),
            outbox: Arc::clone(&self.args.outbox),
            clock: Arc::clone(&self.args.clock),
        };
        match Actor::spawn_linked(
            Some(ticket_actor_name(id)),
            TicketActor,
            args,
            myself.get_cell(),
        )
        .await
        {
            Ok((actor, _)) => {
                self.active.insert(id, actor);
                self.report_count();
            }
            Err(e) => {
                // Its previous actor may still be stopping under the same name: sync again soon.
                tracing::warn!(ticket_id = %id, error = %e, "cannot start the ticket's actor yet");
                self.synced = None;
            }
        }
    }

    /// Starts the actors of the open tickets of the cameras recorded here; stops the others.
    async fn sync(&mut self, myself: &ActorRef<KeeperMsg>) -> Result<(), vms_store::StoreError> {
        let cameras = self.args.ownership.owned_cameras();
        let tickets = self
            .args
            .ctx
            .store
            .escalatable_tickets(cameras.as_deref())
            .await?;
        let wanted: HashSet<Uuid> = tickets.iter().map(|(t, _)| t.id).collect();
        for (id, actor) in &self.active {
            if !wanted.contains(id) {
                actor.stop(Some("its camera is recorded elsewhere".into()));
            }
        }
        for id in wanted {
            self.activate(myself, id).await;
        }
        Ok(())
    }
}

impl Actor for TicketKeeper {
    type Msg = KeeperMsg;
    type State = KeeperState;
    type Arguments = KeeperArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let me = myself.clone();
        args.outbox.on_ticket_opened(Box::new(move |id| {
            let _ = me.cast(KeeperMsg::Opened(id));
        }));
        myself.send_interval(WATCH_EVERY, || KeeperMsg::Watch);
        myself.send_message(KeeperMsg::Watch)?;
        Ok(KeeperState {
            args,
            active: HashMap::new(),
            synced: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            KeeperMsg::Opened(id) => state.activate(&myself, id).await,
            KeeperMsg::Watch => {
                let generation = state.args.ownership.generation();
                let due = state
                    .synced
                    .is_none_or(|(seen, at)| seen != generation || at.elapsed() >= RESYNC_EVERY);
                if due {
                    match state.sync(&myself).await {
                        Ok(()) => state.synced = Some((generation, Instant::now())),
                        Err(e) => tracing::debug!(error = %e, "cannot read open tickets yet"),
                    }
                }
            }
            KeeperMsg::LicenceChanged => {
                for actor in state.active.values() {
                    let _ = actor.cast(TicketMsg::Reload);
                }
                // Tickets that had no limit may have one now: sync at the next watch.
                state.synced = None;
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match forget_ended(&mut state.active, &event) {
            ChildEnd::NotAChild => {}
            ChildEnd::Stopped => state.report_count(),
            ChildEnd::Failed(e) => {
                state.report_count();
                // The next watch restarts it, from the rows.
                tracing::warn!(error = %e, "a ticket actor failed");
                state.synced = None;
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.args.outbox.clear_ticket_hook();
        Ok(())
    }
}
