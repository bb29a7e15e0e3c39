//! [`TicketActor`]: one open ticket whose tenant sets an acknowledgement limit, keyed by the
//! ticket's id and run on the node that records the ticket's camera. It holds the ticket's SLA
//! timer: when the limit passes with the ticket still open it escalates it (once: see
//! [`escalate`]), and it passivates (stops) once the ticket is escalated, acknowledged or closed.
//!
//! Nothing lives only in the actor: the ticket, its history and its tenant's limit are rows, read
//! again whenever the timer fires or the keeper asks, so an actor activated on another node after
//! this one died picks up the same deadline.

use super::escalation::escalate;
use crate::analytics::outbox::Outbox;
use crate::clock::Clock;
use crate::context::NodeContext;
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vms_messages::Ticket;

/// How long a ticket actor waits before trying again when PostgreSQL or the outbox failed.
const RETRY: Duration = Duration::from_secs(1);

/// The registered name of the actor of ticket `id`.
pub fn ticket_actor_name(id: Uuid) -> String {
    format!("ticket-{id}")
}

/// How long until `ticket`, with an acknowledgement limit of `sla` seconds, is overdue at `now`
/// (zero once it is).
pub fn due_in(ticket: &Ticket, sla: u32, now: DateTime<Utc>) -> Duration {
    let due = ticket.opened_at + chrono::Duration::seconds(i64::from(sla));
    (due - now).to_std().unwrap_or(Duration::ZERO)
}

/// Messages of [`TicketActor`].
#[derive(Debug)]
pub enum TicketMsg {
    /// Read the ticket and its limit again and set the timer (the tenant's limit may have changed).
    Reload,
    /// The timer fired: escalate if it is still open and overdue.
    Fire,
}

impl ractor::Message for TicketMsg {}

/// Arguments of [`TicketActor`].
pub struct TicketArgs {
    /// The ticket.
    pub id: Uuid,
    /// Node context (store, node id).
    pub ctx: Arc<NodeContext>,
    /// Where escalation events are queued, as detections are.
    pub outbox: Arc<Outbox>,
    /// Where the SLA timer reads wall-clock time.
    pub clock: Arc<dyn Clock>,
}

/// State of [`TicketActor`]: its arguments and the pending timer.
pub struct TicketState {
    args: TicketArgs,
    timer: Option<JoinHandle<Result<(), ractor::MessagingErr<TicketMsg>>>>,
}

/// The SLA timer of one ticket; see the module docs.
pub struct TicketActor;

impl TicketState {
    fn arm(&mut self, myself: &ActorRef<TicketMsg>, after: Duration) {
        if let Some(old) = self.timer.take() {
            old.abort();
        }
        self.timer = Some(myself.send_after(after, || TicketMsg::Fire));
    }
}

impl Actor for TicketActor {
    type Msg = TicketMsg;
    type State = TicketState;
    type Arguments = TicketArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_message(TicketMsg::Reload)?;
        Ok(TicketState { args, timer: None })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        // Both messages do the same: read the ticket again and act on what it says now.
        _msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let TicketArgs {
            id,
            ctx,
            outbox,
            clock,
        } = &state.args;
        let id = *id;
        let current = match ctx.store.escalatable_ticket(id).await {
            Ok(current) => current,
            Err(e) => {
                tracing::debug!(ticket_id = %id, error = %e, "cannot read the ticket yet");
                state.arm(&myself, RETRY);
                return Ok(());
            }
        };
        let Some((ticket, sla)) = current else {
            // Escalated, acknowledged, closed, or its tenant dropped the limit: nothing to time.
            myself.stop(Some("passivated".into()));
            return Ok(());
        };
        let now = clock.now();
        let wait = due_in(&ticket, sla, now);
        if !wait.is_zero() {
            state.arm(&myself, wait);
            return Ok(());
        }
        match escalate(&ctx.store, outbox, &ticket, sla, ctx.node_id(), now).await {
            Ok(_) => myself.stop(Some("escalated".into())),
            Err(e) => {
                tracing::warn!(ticket_id = %id, error = %e, "cannot escalate the ticket yet; retrying");
                state.arm(&myself, RETRY);
            }
        }
        Ok(())
    }
}
