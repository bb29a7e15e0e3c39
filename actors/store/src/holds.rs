//! Evidence holds: rows of `evidence_holds` that keep a camera's footage (and a marked event) from
//! every retention rule until they are deleted. [`HELD`] is the SQL every retention query of
//! segments excludes; [`set_holds_honoured`] switches that off, in tests only, to show the tests
//! can fail.

use crate::{MAX_PAGE, Store, StoreError, decode_id_cursor, scope_param};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::{CameraId, EVENT_HOLD_MARGIN_SECONDS, Hold, HoldCreate, TenantId, TenantScope};

const HOLD_COLS: &str =
    "id, tenant_id, camera_id, from_ts, to_ts, reason, event_id, export_id, created_by, created_at";

/// SQL: segment row `s` overlaps a hold of its camera.
const HELD: &str = "EXISTS (SELECT 1 FROM evidence_holds h
                     WHERE h.camera_id = s.camera_id AND h.from_ts < s.end_ts AND h.to_ts > s.start_ts)";

static HOLDS_HONOURED: AtomicBool = AtomicBool::new(true);

/// Test-only switch: with `false`, retention ignores holds (a test shows it then deletes held
/// footage, so the hold test can fail). Never call it outside tests.
pub fn set_holds_honoured(on: bool) {
    HOLDS_HONOURED.store(on, Ordering::SeqCst);
}

/// SQL condition for segment row `s`: not under a hold (always true with the test switch off).
pub(crate) fn not_held() -> String {
    if HOLDS_HONOURED.load(Ordering::SeqCst) {
        format!("NOT {HELD}")
    } else {
        "true".into()
    }
}

fn hold_from_row(row: &Row) -> Hold {
    Hold {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        camera_id: CameraId(row.get("camera_id")),
        from: row.get("from_ts"),
        to: row.get("to_ts"),
        reason: row.get("reason"),
        event_id: row.get("event_id"),
        export_id: row.get("export_id"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
    }
}

impl Store {
    /// Places a hold on a camera within `scope`.
    pub async fn create_hold(
        &self,
        scope: TenantScope,
        req: &HoldCreate,
        created_by: &str,
    ) -> Result<Hold, StoreError> {
        self.one(
            &format!(
                "INSERT INTO evidence_holds (id, tenant_id, camera_id, from_ts, to_ts, reason, created_by)
                 SELECT $1, c.tenant_id, c.id, $3, $4, $5, $6 FROM cameras c
                 WHERE c.id = $2 AND ($7::uuid IS NULL OR c.tenant_id = $7)
                 RETURNING {HOLD_COLS}"
            ),
            &[
                &Uuid::now_v7(),
                &req.camera_id.0,
                &req.from,
                &req.to,
                &req.reason,
                &created_by,
                &scope_param(scope),
            ],
            "camera",
            hold_from_row,
        )
        .await
    }

    /// Holds an event within `scope` and its camera's footage from
    /// [`EVENT_HOLD_MARGIN_SECONDS`] before it to as long after; the event's existing hold when it
    /// has one (`false`: nothing was created).
    pub async fn hold_event(
        &self,
        scope: TenantScope,
        event: Uuid,
        created_by: &str,
    ) -> Result<(Hold, bool), StoreError> {
        let client = self.pool.get().await?;
        let margin = f64::from(i32::try_from(EVENT_HOLD_MARGIN_SECONDS).unwrap_or(30));
        let created = client
            .query_opt(
                &format!(
                    "INSERT INTO evidence_holds (id, tenant_id, camera_id, from_ts, to_ts, reason, event_id, created_by)
                     SELECT $1, e.tenant_id, e.camera_id, e.at - make_interval(secs => $3),
                            e.at + make_interval(secs => $3), 'event ' || e.kind, e.id, $4
                     FROM events e WHERE e.id = $2 AND ($5::uuid IS NULL OR e.tenant_id = $5)
                     ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING
                     RETURNING {HOLD_COLS}"
                ),
                &[&Uuid::now_v7(), &event, &margin, &created_by, &scope_param(scope)],
            )
            .await?;
        if let Some(row) = created {
            return Ok((hold_from_row(&row), true));
        }
        let existing = self
            .one(
                &format!(
                    "SELECT {HOLD_COLS} FROM evidence_holds
                     WHERE event_id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
                ),
                &[&event, &scope_param(scope)],
                "event",
                hold_from_row,
            )
            .await?;
        Ok((existing, false))
    }

    /// One hold within `scope`.
    pub async fn hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, StoreError> {
        self.one(
            &format!(
                "SELECT {HOLD_COLS} FROM evidence_holds WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id, &scope_param(scope)],
            "hold",
            hold_from_row,
        )
        .await
    }

    /// A page of holds within `scope`, by id, optionally of one camera.
    pub async fn holds(
        &self,
        scope: TenantScope,
        camera: Option<CameraId>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Hold>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {HOLD_COLS} FROM evidence_holds
                 WHERE id > $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::uuid IS NULL OR camera_id = $3)
                 ORDER BY id LIMIT $4"
            ),
            &[&after, &scope_param(scope), &camera.map(|c| c.0), &(limit + 1)],
            limit,
            hold_from_row,
            |h| h.id.to_string(),
        )
        .await
    }

    /// Releases (deletes) a hold within `scope`: retention may delete its footage from then on.
    /// A hold an export placed is released only by deleting the export (Conflict).
    pub async fn release_hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, StoreError> {
        if let Some(export) = self.hold(scope, id).await?.export_id {
            return Err(StoreError::Conflict {
                field: "id",
                message: format!(
                    "this hold keeps the footage of export {export}; delete the export to release it"
                ),
            });
        }
        self.one(
            &format!(
                "DELETE FROM evidence_holds WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 RETURNING {HOLD_COLS}"
            ),
            &[&id, &scope_param(scope)],
            "hold",
            hold_from_row,
        )
        .await
    }
}
