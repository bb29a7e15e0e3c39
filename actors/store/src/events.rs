//! The event store: idempotent inserts (the id is deterministic), scoped reads, snapshots.

use super::{MAX_PAGE, Store, StoreError, decode_time_id_cursor, scope_param, time_id_cursor};
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::ESCALATION_KIND;
use vms_messages::{CameraId, Event, TenantId, TenantScope};

pub use vms_messages::EventFilter;

const EVENT_COLS: &str = "id, tenant_id, camera_id, kind, rule, rule_id, label, score, bbox, at, node, snapshot IS NOT NULL AS has_snapshot, ticket_id";

fn event_from_row(row: &Row) -> Event {
    Event {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        camera_id: CameraId(row.get("camera_id")),
        kind: row.get("kind"),
        rule: row.get("rule"),
        rule_id: row.get("rule_id"),
        label: row.get("label"),
        score: row.get("score"),
        bbox: row.get("bbox"),
        at: row.get("at"),
        node: row.get("node"),
        has_snapshot: row.get("has_snapshot"),
        ticket_id: row.get("ticket_id"),
    }
}

/// What storing an event did.
#[derive(Clone, Debug, PartialEq)]
pub struct InsertedEvent {
    /// Whether it was stored now (`false`: its id was stored before, a retry).
    pub new: bool,
    /// The ticket it opened or joined (or, for an escalation, the ticket escalated).
    pub ticket_id: Option<Uuid>,
    /// Whether it opened that ticket.
    pub opened_ticket: bool,
    /// Notifications queued for it.
    pub notifications: u64,
}

impl Store {
    /// Stores an event once. In the same transaction a new event opens a ticket or joins the unfinished
    /// one of its camera and rule (an escalation only points at its ticket), and its notifications are
    /// queued, so a stored event never lacks either.
    ///
    /// With `epoch` the write is fenced as segments are (see [`Store::insert_segment`]): an event of a
    /// camera this node no longer owns at that epoch is refused with [`StoreError::Fenced`].
    pub async fn insert_event(
        &self,
        e: &Event,
        snapshot: Option<&[u8]>,
        embedding: Option<&[f32]>,
        epoch: Option<i64>,
    ) -> Result<InsertedEvent, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let escalation_retried = e.kind == ESCALATION_KIND
            && tx
                .query_opt("SELECT 1 FROM events WHERE id = $1", &[&e.id])
                .await?
                .is_some();
        if e.kind == ESCALATION_KIND && !escalation_retried {
            // The escalation was queued when its ticket was overdue; an acknowledgement (or close)
            // may have come since. The ticket row is locked, so one in flight waits for this insert,
            // and an escalation is stored only for a ticket still open.
            let open = tx
                .query_opt(
                    "SELECT 1 FROM tickets WHERE id = $1 AND state = 'open' FOR UPDATE",
                    &[&e.ticket_id],
                )
                .await?;
            if open.is_none() {
                return Err(StoreError::Superseded(
                    "its ticket was acknowledged or closed before the escalation was stored",
                ));
            }
        }
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO events (id, tenant_id, camera_id, kind, rule, label, score, bbox, at, snapshot, node, ticket_id, embedding, epoch, rule_id)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
                     WHERE {} ON CONFLICT (id) DO NOTHING",
                    super::owner_at_epoch("$3", "$11", "$14")
                ),
                &[
                    &e.id,
                    &e.tenant_id.0,
                    &e.camera_id.0,
                    &e.kind,
                    &e.rule,
                    &e.label,
                    &e.score,
                    &e.bbox,
                    &e.at,
                    &snapshot,
                    &e.node,
                    &e.ticket_id,
                    &embedding,
                    &epoch,
                    &e.rule_id,
                ],
            )
            .await?;
        if n == 0 {
            let Some(existing) = tx
                .query_opt("SELECT ticket_id FROM events WHERE id = $1", &[&e.id])
                .await?
            else {
                return Err(match epoch {
                    Some(epoch) => StoreError::Fenced {
                        camera: e.camera_id,
                        epoch,
                    },
                    None => StoreError::NotFound("camera"),
                });
            };
            let ticket_id = existing.get(0);
            return Ok(InsertedEvent {
                new: false,
                ticket_id,
                opened_ticket: false,
                notifications: 0,
            });
        }
        let mut stored = e.clone();
        let mut opened_ticket = false;
        if e.kind != ESCALATION_KIND {
            let (ticket, opened) = super::tickets::ticket_for_event(&tx, e).await?;
            tx.execute(
                "UPDATE events SET ticket_id = $2 WHERE id = $1",
                &[&e.id, &ticket.id],
            )
            .await?;
            stored.ticket_id = Some(ticket.id);
            opened_ticket = opened;
        }
        let notifications = super::notify::queue_deliveries(&tx, &stored).await?;
        tx.commit().await?;
        Ok(InsertedEvent {
            new: true,
            ticket_id: stored.ticket_id,
            opened_ticket,
            notifications,
        })
    }

    /// Events within `scope` that look like event `id` (cosine similarity of their appearance
    /// embeddings, at least `min`), most alike first, without `id` itself. An event without an
    /// embedding is `NotFound("event embedding")`.
    pub async fn similar_events(
        &self,
        scope: TenantScope,
        id: Uuid,
        min: f32,
        limit: i64,
    ) -> Result<Vec<(Event, f32)>, StoreError> {
        let embedding: Vec<f32> = self
            .one(
                "SELECT embedding FROM events WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)",
                &[&id, &scope_param(scope)],
                "event",
                |r| r.get::<_, Option<Vec<f32>>>(0),
            )
            .await?
            .ok_or(StoreError::NotFound("event embedding"))?;
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT * FROM (
                        SELECT {EVENT_COLS},
                          (SELECT sum(a * b) FROM unnest(embedding, $3::real[]) AS t(a, b))::real AS similarity
                        FROM events
                        WHERE ($1::uuid IS NULL OR tenant_id = $1) AND id <> $2 AND embedding IS NOT NULL
                          AND cardinality(embedding) = cardinality($3::real[])) scored
                     WHERE similarity >= $4 ORDER BY similarity DESC, at DESC LIMIT $5"
                ),
                &[&scope_param(scope), &id, &embedding, &min, &limit.clamp(1, MAX_PAGE)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (event_from_row(r), r.get::<_, f32>("similarity")))
            .collect())
    }

    /// One event within `scope`.
    pub async fn event(&self, scope: TenantScope, id: Uuid) -> Result<Event, StoreError> {
        self.one(
            &format!(
                "SELECT {EVENT_COLS} FROM events WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id, &scope_param(scope)],
            "event",
            event_from_row,
        )
        .await
    }

    /// An event's JPEG snapshot within `scope`.
    pub async fn event_snapshot(
        &self,
        scope: TenantScope,
        id: Uuid,
    ) -> Result<Vec<u8>, StoreError> {
        self.one(
            "SELECT snapshot FROM events WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND snapshot IS NOT NULL",
            &[&id, &scope_param(scope)],
            "snapshot",
            |r| r.get::<_, Vec<u8>>(0),
        )
        .await
    }

    /// A page of events within `scope`, newest first.
    pub async fn events(
        &self,
        scope: TenantScope,
        filter: &EventFilter,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Event>, Option<String>), StoreError> {
        let before = decode_time_id_cursor(cursor)?;
        let (before_at, before_id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {EVENT_COLS} FROM events
                 WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR camera_id = $2)
                   AND ($3::text IS NULL OR kind = $3) AND ($4::timestamptz IS NULL OR at >= $4)
                   AND ($5::timestamptz IS NULL OR at < $5) AND ($6::real IS NULL OR score >= $6)
                   AND ($7::timestamptz IS NULL OR (at, id) < ($7, $8::uuid))
                 ORDER BY at DESC, id DESC LIMIT $9"
            ),
            &[
                &scope_param(scope),
                &filter.camera.map(|c| c.0),
                &filter.kind,
                &filter.from,
                &filter.to,
                &filter.min_score,
                &before_at,
                &before_id,
                &(limit + 1),
            ],
            limit,
            event_from_row,
            |e| time_id_cursor(e.at, e.id),
        )
        .await
    }
}

/// What one purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Events (with their snapshots, embeddings and notification deliveries).
    pub events: u64,
    /// Resolved or closed tickets (with their history).
    pub tickets: u64,
    /// Audit log rows.
    pub audit: u64,
}

impl Store {
    /// Deletes, at most `batch` rows of each kind, what the tenants' licences no longer keep:
    /// events older than the tenant's `retention_days` (but never those of a ticket still open or
    /// acknowledged, nor those under an evidence hold), resolved and closed tickets untouched for as long
    /// (but not those with a held event), and audit rows older than
    /// `audit_days` or the tenant's retention, whichever is longer (platform rows: `audit_days`).
    pub async fn purge_expired_records(
        &self,
        audit_days: u32,
        batch: i64,
    ) -> Result<Purged, StoreError> {
        let mut client = self.pool.get().await?;
        let audit_days = i32::try_from(audit_days).unwrap_or(i32::MAX);
        let events = client
            .execute(
                "DELETE FROM events WHERE id IN (
                   SELECT e.id FROM events e JOIN tenants t ON t.id = e.tenant_id
                   WHERE e.at < now() - make_interval(days => t.retention_days)
                     AND NOT EXISTS (SELECT 1 FROM tickets k WHERE k.id = e.ticket_id
                                     AND k.state IN ('open', 'acknowledged'))
                     AND NOT EXISTS (SELECT 1 FROM evidence_holds h WHERE h.event_id = e.id)
                   LIMIT $1)",
                &[&batch],
            )
            .await?;
        let tickets = client
            .execute(
                "DELETE FROM tickets WHERE id IN (
                   SELECT k.id FROM tickets k JOIN tenants t ON t.id = k.tenant_id
                   WHERE k.state IN ('resolved', 'closed')
                     AND k.updated_at < now() - make_interval(days => t.retention_days)
                     AND NOT EXISTS (SELECT 1 FROM events e JOIN evidence_holds h ON h.event_id = e.id
                                     WHERE e.ticket_id = k.id)
                   LIMIT $1)",
                &[&batch],
            )
            .await?;
        // The audit log is append-only but for this purge, which its trigger lets delete only rows
        // older than 30 days, in a transaction that says it is the purge.
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL vms.audit_purge = 'on'").await?;
        let audit = tx
            .execute(
                "DELETE FROM audit_log WHERE id IN (
                   SELECT a.id FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id
                   WHERE a.at < now() - make_interval(days => greatest($2, coalesce(t.retention_days, 0)))
                   LIMIT $1)",
                &[&batch, &audit_days],
            )
            .await?;
        tx.commit().await?;
        Ok(Purged {
            events,
            tickets,
            audit,
        })
    }
}
