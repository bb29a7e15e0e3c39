//! PostgreSQL store through deadpool-postgres: the `Store` handle and its errors here; connecting and
//! migrations (`connect`), tenants, cameras, segments, events, rules, tickets, notifications,
//! security and placement each in their own module.
//! Every list uses keyset pagination; every write that enforces a licence does so in one transaction.

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use std::path::PathBuf;
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::{CameraId, Segment, TenantId, TenantScope};

mod cameras;
mod connect;
mod cursors;
mod error;
mod events;
mod exports;
mod fence;
mod holds;
mod mirroring;
mod notify;
mod placement;
mod playback;
mod quota;
mod rules;
mod scratch;
mod security;
mod segments;
mod tenancy;
mod tenants;
mod tickets;
mod tiering;
mod usage;

// The modules are private: what other crates use is re-exported here.
pub use connect::{
    IDLE_IN_TRANSACTION, SERVER_SILENCE, STATEMENT_TIMEOUT_MS, connection_config, create_database,
    drop_database, tls_client_config, with_database,
};
pub use cursors::segment_cursor;
pub(crate) use cursors::{
    decode_id_cursor, decode_segment_cursor, decode_time_id_cursor, time_id_cursor,
};
pub(crate) use error::unique_as_conflict;
pub use error::{StoreError, error_chain};
pub use events::{InsertedEvent, Purged};
pub use exports::{ExportFileRow, NewExport};
pub use fence::{FenceMode, set_test_mode as set_fence_test_mode};
pub use holds::set_holds_honoured;
pub use mirroring::UnmirroredSegment;
pub use notify::{AttemptOutcome, DueDelivery};
pub use placement::{
    Grant, HANDOVER_LIMIT, HANDOVER_TAIL, LEASE_TAKEOVER_SILENCE, LeaseHolder, Move, PlacedCamera,
    PlacementTotals, StandbyChange,
};
pub use playback::{MAX_PLAYBACK_SEGMENTS, Recorded, TimelineInput, one_line, timeline};
pub use rules::{DEFAULT_COOLDOWN, DEFAULT_DWELL, DEFAULT_MIN_COUNT, DEFAULT_MIN_SCORE};
pub use scratch::{ScratchDatabase, detection, ended_segment, tenant_with_camera, test_server};
pub use segments::{RECOVERED_SLACK, SEQ_BLOCK};
pub use tenancy::{MonthUsage, TenantLease, TenantStanding, set_tenant_lease_fence, tenant_lease};

pub(crate) use fence::owner_at_epoch;

/// Tries to find a free segment number when another node took a file's (placement off).
const MAX_RENUMBERING: usize = 5;

/// Most items one list call returns.
pub const MAX_PAGE: i64 = 1000;

/// A segment file closed by a camera, before it is indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSegment {
    /// Camera recorded.
    pub camera_id: CameraId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Per-camera sequence number.
    pub seq: i64,
    /// Wall-clock start.
    pub start: DateTime<Utc>,
    /// Wall-clock end.
    pub end: DateTime<Utc>,
    /// File size.
    pub bytes: i64,
    /// Absolute file path.
    pub path: PathBuf,
    /// What the file holds and its fragment index.
    pub media: vms_messages::SegmentMedia,
}

/// A segment row with its file path, for serving media and deleting.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentFile {
    /// Index entry.
    pub segment: Segment,
    /// Absolute file path.
    pub path: PathBuf,
    /// Its key in the object store, once uploaded.
    pub object_key: Option<String>,
    /// Whether its holder still keeps the file at `path`.
    pub on_disk: bool,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

pub(crate) fn to_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

pub(crate) fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The tenant filter of a scoped query: `NULL` matches every tenant.
fn scope_param(scope: TenantScope) -> Option<Uuid> {
    scope.tenant().map(|t| t.0)
}

impl Store {
    /// Runs a query for one row; `NotFound(what)` when there is none (or it is outside the scope).
    async fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        what: &'static str,
        from_row: impl Fn(&Row) -> T,
    ) -> Result<T, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(sql, params)
            .await?
            .ok_or(StoreError::NotFound(what))?;
        Ok(from_row(&row))
    }

    /// Runs a keyset-page query (its parameters ask for `limit + 1` rows, so a further page shows) and
    /// returns at most `limit` items with the cursor of the next page.
    async fn keyset_page<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        limit: i64,
        from_row: impl Fn(&Row) -> T,
        cursor_of: impl Fn(&T) -> String,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query(sql, params).await?;
        let mut items: Vec<T> = rows.iter().map(from_row).collect();
        let next = page_cursor(&mut items, limit, cursor_of);
        Ok((items, next))
    }
}

/// Trims a `limit + 1` result to `limit` and returns the cursor of the next page when there is one.
fn page_cursor<T>(
    items: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor_of)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cursor_trims() {
        let mut v = vec![1, 2, 3];
        assert_eq!(page_cursor(&mut v, 2, |x| x.to_string()), Some("2".into()));
        assert_eq!(v, vec![1, 2]);
        let mut v = vec![1];
        assert_eq!(page_cursor(&mut v, 2, |x| x.to_string()), None);
    }
}
