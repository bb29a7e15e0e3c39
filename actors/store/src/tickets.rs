//! Tickets: opened or joined by new events, moved by operators; every change is in the history.

use super::{MAX_PAGE, Store, StoreError, decode_time_id_cursor, scope_param, time_id_cursor};
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::{
    CameraId, Event, TenantId, TenantScope, Ticket, TicketAction, TicketHistoryEntry, TicketState,
    TicketView, UserId,
};

const TICKET_COLS: &str = "id, tenant_id, camera_id, rule, kind, state, assignee, events, first_event, last_event, opened_at, updated_at, escalated_at";

fn state_of(row: &Row, col: &str) -> TicketState {
    TicketState::parse(&row.get::<_, String>(col)).unwrap_or(TicketState::Open)
}

fn ticket_from_row(row: &Row) -> Ticket {
    Ticket {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        camera_id: CameraId(row.get("camera_id")),
        rule: row.get("rule"),
        kind: row.get("kind"),
        state: state_of(row, "state"),
        assignee: row.get::<_, Option<Uuid>>("assignee").map(UserId),
        events: row.get("events"),
        first_event: row.get("first_event"),
        last_event: row.get("last_event"),
        opened_at: row.get("opened_at"),
        updated_at: row.get("updated_at"),
        escalated_at: row.get("escalated_at"),
    }
}

/// Opens a ticket for a new event, or adds the event to the unfinished ticket of its camera and rule,
/// within the caller's transaction. Returns the ticket and whether it was opened now.
pub(super) async fn ticket_for_event(
    tx: &tokio_postgres::Transaction<'_>,
    e: &Event,
) -> Result<(Ticket, bool), StoreError> {
    let joined = tx
        .query_opt(
            &format!(
                "UPDATE tickets SET events = events + 1, last_event = $3, updated_at = now()
                 WHERE camera_id = $1 AND state IN ('open', 'acknowledged')
                   AND (rule_id = $4 OR ($4::uuid IS NULL AND rule_id IS NULL AND rule = $2))
                 RETURNING {TICKET_COLS}"
            ),
            &[&e.camera_id.0, &e.rule, &e.id, &e.rule_id],
        )
        .await?;
    let (ticket, opened) = match joined {
        Some(row) => (ticket_from_row(&row), false),
        None => {
            let row = tx
                .query_one(
                    &format!(
                        "INSERT INTO tickets (id, tenant_id, camera_id, rule, rule_id, kind, state, first_event, last_event)
                         VALUES ($1, $2, $3, $4, $7, $5, 'open', $6, $6) RETURNING {TICKET_COLS}"
                    ),
                    &[&Uuid::now_v7(), &e.tenant_id.0, &e.camera_id.0, &e.rule, &e.kind, &e.id, &e.rule_id],
                )
                .await?;
            (ticket_from_row(&row), true)
        }
    };
    tx.execute(
        "INSERT INTO ticket_history (ticket_id, actor, action, state, comment) VALUES ($1, 'system', $2, $3, $4)",
        &[
            &ticket.id,
            &if opened { "open" } else { "event" },
            &ticket.state.as_str(),
            &Some(format!("event {} ({} {:.2})", e.id, e.label, e.score)),
        ],
    )
    .await?;
    Ok((ticket, opened))
}

impl Store {
    /// Open, unescalated tickets whose tenant sets an `ack_sla_seconds`, each with that limit: those
    /// of `cameras`, or of every camera when `None`. What a node's ticket actors time.
    pub async fn escalatable_tickets(
        &self,
        cameras: Option<&[CameraId]>,
    ) -> Result<Vec<(Ticket, u32)>, StoreError> {
        let ids: Option<Vec<Uuid>> = cameras.map(|c| c.iter().map(|c| c.0).collect());
        self.escalatable("($1::uuid[] IS NULL OR t.camera_id = ANY($1))", &ids)
            .await
    }

    /// One ticket with its tenant's `ack_sla_seconds`, if it is open, unescalated and has a limit.
    pub async fn escalatable_ticket(&self, id: Uuid) -> Result<Option<(Ticket, u32)>, StoreError> {
        Ok(self.escalatable("t.id = $1", &id).await?.pop())
    }

    async fn escalatable(
        &self,
        filter: &str,
        param: &(dyn tokio_postgres::types::ToSql + Sync),
    ) -> Result<Vec<(Ticket, u32)>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {TICKET_COLS}, sla FROM (
                        SELECT t.*, n.ack_sla_seconds AS sla FROM tickets t JOIN tenants n ON n.id = t.tenant_id
                        WHERE t.state = 'open' AND t.escalated_at IS NULL AND n.ack_sla_seconds IS NOT NULL
                          AND {filter}) due"
                ),
                &[param],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (ticket_from_row(r), super::to_u32(r.get("sla"))))
            .collect())
    }

    /// Marks an open ticket escalated by `event` and notes it in the history; `false` when it already
    /// was escalated or is no longer open (another node, or an operator, was first).
    pub async fn mark_escalated(
        &self,
        id: Uuid,
        event: Uuid,
        sla: u32,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE tickets SET escalated_at = now(), updated_at = now()
                 WHERE id = $1 AND state = 'open' AND escalated_at IS NULL",
                &[&id],
            )
            .await?;
        if n == 1 {
            tx.execute(
                "INSERT INTO ticket_history (ticket_id, actor, action, state, comment) VALUES ($1, 'system', 'escalate', 'open', $2)",
                &[&id, &format!("not acknowledged within {sla} s; escalation event {event}")],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    /// One ticket with its history, within `scope`.
    pub async fn ticket(&self, scope: TenantScope, id: Uuid) -> Result<TicketView, StoreError> {
        let ticket = self
            .one(
                &format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"),
                &[&id, &scope_param(scope)],
                "ticket",
                ticket_from_row,
            )
            .await?;
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT at, actor, action, state, comment FROM ticket_history WHERE ticket_id = $1 ORDER BY id",
                &[&id],
            )
            .await?;
        let history = rows
            .iter()
            .map(|r| TicketHistoryEntry {
                at: r.get("at"),
                actor: r.get("actor"),
                action: r.get("action"),
                state: state_of(r, "state"),
                comment: r.get("comment"),
            })
            .collect();
        Ok(TicketView { ticket, history })
    }

    /// A page of tickets within `scope`, newest first, optionally in one state.
    pub async fn tickets(
        &self,
        scope: TenantScope,
        state: Option<TicketState>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Ticket>, Option<String>), StoreError> {
        let before = decode_time_id_cursor(cursor)?;
        let (before_at, before_id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {TICKET_COLS} FROM tickets
                 WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR state = $2)
                   AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4::uuid))
                 ORDER BY opened_at DESC, id DESC LIMIT $5"
            ),
            &[
                &scope_param(scope),
                &state.map(TicketState::as_str),
                &before_at,
                &before_id,
                &(limit + 1),
            ],
            limit,
            ticket_from_row,
            |t| time_id_cursor(t.opened_at, t.id),
        )
        .await
    }

    /// Moves a ticket within `scope`; a move its state does not allow is a conflict naming the state.
    pub async fn move_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        action: TicketAction,
        actor: (&str, UserId),
        comment: Option<&str>,
    ) -> Result<TicketView, StoreError> {
        let (from, to) = TicketState::transition(action);
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {TICKET_COLS} FROM tickets WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) FOR UPDATE"),
                &[&id, &scope_param(scope)],
            )
            .await?
            .ok_or(StoreError::NotFound("ticket"))?;
        let current = ticket_from_row(&row);
        if !from.contains(&current.state) {
            return Err(StoreError::Conflict {
                field: "state",
                message: format!(
                    "cannot {} a ticket that is {}",
                    action.as_str(),
                    current.state.as_str()
                ),
            });
        }
        let assignee = (action == TicketAction::Acknowledge).then_some(actor.1.0);
        tx.execute(
            "UPDATE tickets SET state = $2, assignee = coalesce($3, assignee), updated_at = now() WHERE id = $1",
            &[&id, &to.as_str(), &assignee],
        )
        .await?;
        tx.execute(
            "INSERT INTO ticket_history (ticket_id, actor, action, state, comment) VALUES ($1, $2, $3, $4, $5)",
            &[&id, &actor.0, &action.as_str(), &to.as_str(), &comment],
        )
        .await?;
        tx.commit().await?;
        self.ticket(scope, id).await
    }

    /// Adds a comment to a ticket within `scope`.
    pub async fn comment_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        actor: &str,
        text: &str,
    ) -> Result<TicketView, StoreError> {
        let current = self.ticket(scope, id).await?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO ticket_history (ticket_id, actor, action, state, comment) VALUES ($1, $2, 'comment', $3, $4)",
                &[&id, &actor, &current.ticket.state.as_str(), &text],
            )
            .await?;
        self.ticket(scope, id).await
    }
}
