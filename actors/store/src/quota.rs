//! Storage quotas: a tenant's licence caps the bytes of footage it keeps (each segment counted
//! once, whichever tiers hold it). Beyond it the oldest segments not under a hold go first.

use crate::holds::not_held;
use crate::segments::SEGMENT_COLS;
use crate::{SegmentFile, Store, StoreError};
use vms_messages::TenantId;

impl Store {
    /// Up to `limit` segments recorded by `node` that its tenants' quotas no longer keep, oldest
    /// first: for each tenant over its quota, the oldest unheld segments (of every node) whose bytes
    /// bring it back within the quota, of which those `node` recorded. Segments of other nodes
    /// count toward the quota and are theirs to delete.
    pub async fn over_quota_segments(
        &self,
        node: &str,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.segment_files(
            &format!(
                "WITH over AS (
                   SELECT s.tenant_id, s.bytes - t.storage_quota_bytes AS excess
                   FROM tenant_storage s JOIN tenants t ON t.id = s.tenant_id
                   WHERE t.storage_quota_bytes IS NOT NULL AND s.bytes > t.storage_quota_bytes),
                 ranked AS (
                   SELECT s.id, o.excess,
                          sum(s.bytes) OVER (PARTITION BY s.tenant_id ORDER BY s.start_ts, s.id) - s.bytes AS older
                   FROM segments s JOIN over o ON o.tenant_id = s.tenant_id
                   WHERE {not_held})
                 SELECT {SEGMENT_COLS} FROM segments
                 WHERE node = $1 AND id IN (SELECT id FROM ranked WHERE older < excess)
                 ORDER BY start_ts LIMIT $2",
                not_held = not_held()
            ),
            &[&node, &limit],
        )
        .await
    }

    /// Bytes of footage `tenant` keeps over all tiers (each segment once), for its quota: the
    /// running total the triggers on `segments` keep.
    pub async fn tenant_stored_bytes(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let bytes: i64 = client
            .query_one(
                "SELECT coalesce(max(bytes), 0) FROM tenant_storage WHERE tenant_id = $1",
                &[&tenant.0],
            )
            .await?
            .get(0);
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}
