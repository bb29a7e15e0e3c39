//! Notification channels and their delivery log. Deliveries are queued in the transaction that stores
//! their event (so a stored event never misses its notifications), claimed by a notifier with
//! `FOR UPDATE SKIP LOCKED` (so two nodes never send the same attempt), and kept after the last
//! attempt as dead letters.

use super::{
    MAX_PAGE, Store, StoreError, decode_id_cursor, decode_time_id_cursor, scope_param,
    time_id_cursor, to_u32, unique_as_conflict,
};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::delivery_id;
use vms_messages::{
    Channel, ChannelCreate, ChannelKind, ChannelUpdate, Delivery, DeliveryState, Event, TenantId,
    TenantScope,
};

const CHANNEL_COLS: &str = "id, tenant_id, name, kind, url, recipients, kinds, enabled, created_at";
const DELIVERY_COLS: &str = "id, tenant_id, channel_id, event_id, kind, state, attempts, last_error, next_attempt_at, created_at, delivered_at";

fn channel_from_row(row: &Row) -> Channel {
    Channel {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        name: row.get("name"),
        kind: ChannelKind::parse(&row.get::<_, String>("kind")).unwrap_or(ChannelKind::Webhook),
        url: row.get("url"),
        to: row.get("recipients"),
        kinds: row.get("kinds"),
        enabled: row.get("enabled"),
        created_at: row.get("created_at"),
    }
}

fn delivery_from_row(row: &Row) -> Delivery {
    let state = DeliveryState::parse(&row.get::<_, String>("state")).unwrap_or(DeliveryState::Dead);
    Delivery {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        channel_id: row.get("channel_id"),
        event_id: row.get("event_id"),
        kind: row.get("kind"),
        state,
        attempts: to_u32(row.get("attempts")),
        last_error: row.get("last_error"),
        next_attempt_at: (state == DeliveryState::Pending).then(|| row.get("next_attempt_at")),
        created_at: row.get("created_at"),
        delivered_at: row.get("delivered_at"),
    }
}

/// A delivery claimed for an attempt, with what sending it needs.
#[derive(Clone, Debug)]
pub struct DueDelivery {
    /// The delivery (its `attempts` counts those made before this one).
    pub delivery: Delivery,
    /// Its channel.
    pub channel: Channel,
    /// The channel's webhook signing secret.
    pub secret: Option<String>,
    /// The event, as JSON.
    pub event: serde_json::Value,
}

/// How an attempt ended.
#[derive(Clone, Debug)]
pub enum AttemptOutcome {
    /// The receiver took it.
    Delivered,
    /// It failed; try again at the given time.
    Retry(String, DateTime<Utc>),
    /// It failed for the last time.
    Dead(String),
}

/// Queues a delivery of a just-stored event to every enabled channel of its tenant that wants its kind.
pub(super) async fn queue_deliveries(
    client: &tokio_postgres::Transaction<'_>,
    e: &Event,
) -> Result<u64, StoreError> {
    let channels = client
        .query(
            "SELECT id FROM notification_channels WHERE tenant_id = $1 AND enabled
             AND (cardinality(kinds) = 0 OR $2 = ANY(kinds))",
            &[&e.tenant_id.0, &e.kind],
        )
        .await?;
    let payload = serde_json::to_value(e).unwrap_or_default();
    let mut queued = 0;
    for row in channels {
        let channel: Uuid = row.get(0);
        queued += client
            .execute(
                "INSERT INTO notification_deliveries (id, tenant_id, channel_id, event_id, kind, payload)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &delivery_id(channel, e.id),
                    &e.tenant_id.0,
                    &channel,
                    &e.id,
                    &e.kind,
                    &payload,
                ],
            )
            .await?;
    }
    Ok(queued)
}

impl Store {
    /// Adds a channel to `tenant` (within `scope`); `secret` signs a webhook's deliveries.
    pub async fn create_channel(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: &ChannelCreate,
        secret: Option<&str>,
    ) -> Result<Channel, StoreError> {
        self.tenant(scope, tenant).await.map_err(|e| match e {
            StoreError::NotFound(_) => StoreError::UnknownReference {
                field: "tenant_id",
                message: "unknown tenant".into(),
            },
            e => e,
        })?;
        let client = self.pool.get().await?;
        let result = client
            .query_one(
                &format!(
                    "INSERT INTO notification_channels (id, tenant_id, name, kind, url, secret, recipients, kinds, enabled)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {CHANNEL_COLS}"
                ),
                &[
                    &Uuid::now_v7(),
                    &tenant.0,
                    &req.name,
                    &req.kind.as_str(),
                    &req.url,
                    &secret,
                    &req.to,
                    &req.kinds,
                    &req.enabled.unwrap_or(true),
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("this tenant has a channel named {:?}", req.name)
        })?;
        Ok(channel_from_row(&row))
    }

    /// One channel within `scope`.
    pub async fn channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, StoreError> {
        self.one(
            &format!("SELECT {CHANNEL_COLS} FROM notification_channels WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"),
            &[&id, &scope_param(scope)],
            "channel",
            channel_from_row,
        )
        .await
    }

    /// A page of channels within `scope`, by id.
    pub async fn channels(
        &self,
        scope: TenantScope,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Channel>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {CHANNEL_COLS} FROM notification_channels WHERE id > $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 ORDER BY id LIMIT $3"
            ),
            &[&after, &scope_param(scope), &(limit + 1)],
            limit,
            channel_from_row,
            |c| c.id.to_string(),
        )
        .await
    }

    /// Changes a channel within `scope` (the caller has checked the fields fit its kind).
    pub async fn update_channel(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: &ChannelUpdate,
    ) -> Result<Channel, StoreError> {
        self.one(
            &format!(
                "UPDATE notification_channels SET url = coalesce($3, url), recipients = coalesce($4, recipients),
                 kinds = coalesce($5, kinds), enabled = coalesce($6, enabled)
                 WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {CHANNEL_COLS}"
            ),
            &[&id, &scope_param(scope), &req.url, &req.to, &req.kinds, &req.enabled],
            "channel",
            channel_from_row,
        )
        .await
    }

    /// Deletes a channel within `scope`, with its delivery log.
    pub async fn delete_channel(
        &self,
        scope: TenantScope,
        id: Uuid,
    ) -> Result<Channel, StoreError> {
        self.one(
            &format!("DELETE FROM notification_channels WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {CHANNEL_COLS}"),
            &[&id, &scope_param(scope)],
            "channel",
            channel_from_row,
        )
        .await
    }

    /// A page of a channel's deliveries within `scope`, newest first, optionally in one state.
    pub async fn deliveries(
        &self,
        scope: TenantScope,
        channel: Uuid,
        state: Option<DeliveryState>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Delivery>, Option<String>), StoreError> {
        self.channel(scope, channel).await?;
        let before = decode_time_id_cursor(cursor)?;
        let (before_at, before_id) = before.map_or((None, None), |(a, i)| (Some(a), Some(i)));
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {DELIVERY_COLS} FROM notification_deliveries
                 WHERE channel_id = $1 AND ($2::text IS NULL OR state = $2)
                   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
                 ORDER BY created_at DESC, id DESC LIMIT $5"
            ),
            &[
                &channel,
                &state.map(DeliveryState::as_str),
                &before_at,
                &before_id,
                &(limit + 1),
            ],
            limit,
            delivery_from_row,
            |d| time_id_cursor(d.created_at, d.id),
        )
        .await
    }

    /// One delivery within `scope`.
    pub async fn delivery(&self, scope: TenantScope, id: Uuid) -> Result<Delivery, StoreError> {
        self.one(
            &format!("SELECT {DELIVERY_COLS} FROM notification_deliveries WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"),
            &[&id, &scope_param(scope)],
            "delivery",
            delivery_from_row,
        )
        .await
    }

    /// Queues a dead letter within `scope` again, with a fresh set of attempts; any other state is a
    /// conflict naming it.
    pub async fn retry_delivery(
        &self,
        scope: TenantScope,
        id: Uuid,
    ) -> Result<Delivery, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE notification_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now()
                     WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND state = 'dead' RETURNING {DELIVERY_COLS}"
                ),
                &[&id, &scope_param(scope)],
            )
            .await?;
        match row {
            Some(row) => Ok(delivery_from_row(&row)),
            None => {
                let current = self.delivery(scope, id).await?;
                Err(StoreError::Conflict {
                    field: "state",
                    message: format!(
                        "only dead deliveries can be retried; this one is {}",
                        current.state.as_str()
                    ),
                })
            }
        }
    }

    /// Claims up to `limit` due deliveries for one attempt each: they are hidden from other claimers
    /// for `lease` (an attempt that never reports back is retried after it).
    pub async fn claim_deliveries(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let client = self.pool.get().await?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let rows = client
            .query(
                "WITH due AS (
                    SELECT id FROM notification_deliveries WHERE state = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                 UPDATE notification_deliveries d SET next_attempt_at = now() + make_interval(secs => $2::float8 / 1000)
                 FROM due, notification_channels c
                 WHERE d.id = due.id AND c.id = d.channel_id
                 RETURNING d.id, d.tenant_id, d.channel_id, d.event_id, d.kind, d.state, d.attempts, d.last_error,
                   d.next_attempt_at, d.created_at, d.delivered_at, d.payload,
                   c.name, c.kind AS channel_kind, c.url, c.secret, c.recipients, c.kinds, c.enabled, c.created_at AS channel_created_at",
                &[&limit, &(lease_ms as f64)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DueDelivery {
                delivery: delivery_from_row(r),
                channel: Channel {
                    id: r.get("channel_id"),
                    tenant_id: TenantId(r.get("tenant_id")),
                    name: r.get("name"),
                    kind: ChannelKind::parse(&r.get::<_, String>("channel_kind"))
                        .unwrap_or(ChannelKind::Webhook),
                    url: r.get("url"),
                    to: r.get("recipients"),
                    kinds: r.get("kinds"),
                    enabled: r.get("enabled"),
                    created_at: r.get("channel_created_at"),
                },
                secret: r.get("secret"),
                event: r.get("payload"),
            })
            .collect())
    }

    /// Records the outcome of one attempt of a claimed delivery.
    pub async fn finish_attempt(
        &self,
        id: Uuid,
        outcome: &AttemptOutcome,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        let (state, error, next): (&str, Option<&str>, Option<DateTime<Utc>>) = match outcome {
            AttemptOutcome::Delivered => ("delivered", None, None),
            AttemptOutcome::Retry(e, at) => ("pending", Some(e), Some(*at)),
            AttemptOutcome::Dead(e) => ("dead", Some(e), None),
        };
        client
            .execute(
                "UPDATE notification_deliveries SET state = $2, attempts = attempts + 1, last_error = $3,
                 next_attempt_at = coalesce($4, next_attempt_at),
                 delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &state, &error, &next],
            )
            .await?;
        Ok(())
    }
}
