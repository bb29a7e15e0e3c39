//! The escalation of a ticket nobody acknowledged within its tenant's `ack_sla_seconds`: one
//! `escalation` event (through the outbox, so it is stored once, published on JetStream once and
//! notified to the channels that want `escalation`), then the ticket marked escalated with a line in
//! its history. [`TicketActor`](super::ticket_actor::TicketActor) calls it when its timer fires.
//!
//! It is safe to repeat and to race: the event's id is derived from the ticket (stored once however
//! often it is queued), the store refuses an escalation event for a ticket no longer open (an
//! acknowledgement that came first wins), and the ticket is marked only while open and unescalated.

use crate::analytics::outbox::Outbox;
use crate::metrics;
use chrono::{DateTime, Utc};
use vms_messages::Event;
use vms_messages::Ticket;
use vms_messages::{ESCALATION_KIND, escalation_event_id};
use vms_store::{Store, StoreError};

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

/// Why an escalation could not be done (it is tried again).
#[derive(Debug, thiserror::Error)]
pub enum EscalateError {
    /// The event could not be written to the outbox.
    #[error("cannot queue the escalation event: {0}")]
    Queue(#[from] std::io::Error),
    /// PostgreSQL refused or was away.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Escalates `ticket` (limit `sla` seconds) at `now`, raising the event as `node`; `true` when this
/// call marked it escalated (`false`: already escalated, or no longer open).
pub async fn escalate(
    store: &Store,
    outbox: &Outbox,
    ticket: &Ticket,
    sla: u32,
    node: &str,
    now: DateTime<Utc>,
) -> Result<bool, EscalateError> {
    let event = escalation_event(ticket, sla, node, now);
    // Queue first: a crash between the two steps raises the same event again, which is
    // deduplicated; the other order could mark a ticket escalated that no one hears about.
    outbox.push(&event, &[], None, None).await?;
    let marked = store.mark_escalated(ticket.id, event.id, sla).await?;
    if marked {
        metrics::TICKETS_ESCALATED.inc();
        tracing::info!(ticket_id = %ticket.id, camera_id = %ticket.camera_id, sla_seconds = sla, "ticket escalated");
    }
    Ok(marked)
}
