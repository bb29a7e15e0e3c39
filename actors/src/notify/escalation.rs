//! `EscalationActor`: the SLA timer of tickets. Every second it looks for open tickets that nobody
//! acknowledged within their tenant's `ack_sla_seconds`, raises one `escalation` event per ticket
//! (through the outbox, so it is stored once, published on JetStream once and notified to the
//! channels that want `escalation`), then marks the ticket escalated with a line in its history.
//!
//! The timers live in PostgreSQL (the ticket's `opened_at` and the tenant's limit), not in memory, so
//! a restarted node, or another node, picks up exactly where this one stopped; the escalation event's
//! id is derived from the ticket, so two nodes that both see a ticket raise the same event.

use crate::analytics::outbox::Outbox;
use crate::clock::Clock;
use crate::context::NodeContext;
use crate::metrics;
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::Duration;
use vms_messages::Event;
use vms_messages::Ticket;
use vms_messages::{ESCALATION_KIND, escalation_event_id};
use vms_store::{Store, StoreError};

/// Name of the node's escalation actor (in logs and its supervisor's events).
pub const ESCALATION_ACTOR: &str = "ticket-escalation";
/// How often overdue tickets are looked for.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Tickets escalated per check.
const BATCH: i64 = 100;

/// Messages of [`EscalationActor`].
pub enum EscalationMsg {
    /// Look for overdue tickets now.
    Check,
}

impl ractor::Message for EscalationMsg {}

/// Escalates unacknowledged tickets; see the module docs.
pub struct EscalationActor;

/// The event that escalates `ticket`, raised on `node` at `at`.
pub fn escalation_event(ticket: &Ticket, sla: u32, node: &str, at: DateTime<Utc>) -> Event {
    Event {
        id: escalation_event_id(ticket.id),
        tenant_id: ticket.tenant_id,
        camera_id: ticket.camera_id,
        kind: ESCALATION_KIND.into(),
        rule: ticket.rule.clone(),
        rule_id: None,
        label: format!("{} not acknowledged within {sla} s", ticket.kind),
        score: 1.0,
        bbox: Vec::new(),
        at,
        node: node.to_string(),
        has_snapshot: false,
        ticket_id: Some(ticket.id),
    }
}

/// Arguments (and state) of [`EscalationActor`].
pub struct EscalationArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// Where escalation events are queued, as detections are.
    pub outbox: Arc<Outbox>,
    /// Where the SLA timers read time.
    pub clock: Arc<dyn Clock>,
}

/// Escalates the tickets overdue at `clock`'s time, raising each escalation event as `node`;
/// returns how many this call marked escalated.
pub async fn escalate_overdue(
    store: &Store,
    outbox: &Outbox,
    clock: &dyn Clock,
    node: &str,
) -> Result<usize, StoreError> {
    let now = clock.now();
    let mut escalated = 0;
    for (ticket, sla) in store.overdue_tickets(now, BATCH).await? {
        let event = escalation_event(&ticket, sla, node, now);
        // Queue first: a crash between the two steps raises the same event again, which is
        // deduplicated; the other order could mark a ticket escalated that no one hears about.
        if let Err(e) = outbox.push(&event, &[], None, None).await {
            tracing::error!(ticket_id = %ticket.id, error = %e, "cannot queue escalation event");
            continue;
        }
        match store.mark_escalated(ticket.id, event.id, sla).await {
            Ok(true) => {
                escalated += 1;
                metrics::TICKETS_ESCALATED.inc();
                tracing::info!(ticket_id = %ticket.id, camera_id = %ticket.camera_id, sla_seconds = sla, "ticket escalated");
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(ticket_id = %ticket.id, error = %e, "cannot mark ticket escalated; will retry")
            }
        }
    }
    Ok(escalated)
}

impl Actor for EscalationActor {
    type Msg = EscalationMsg;
    type State = EscalationArgs;
    type Arguments = EscalationArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(CHECK_EVERY, || EscalationMsg::Check);
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        EscalationMsg::Check: Self::Msg,
        EscalationArgs { ctx, outbox, clock }: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Err(e) = escalate_overdue(&ctx.store, outbox, clock.as_ref(), ctx.node_id()).await {
            tracing::debug!(error = %e, "cannot look for overdue tickets yet");
        }
        Ok(())
    }
}
