//! What each tenant used, for billing: detector time (added by nodes by the hour), camera-hours
//! recorded and bytes stored (read from the segment index).

use crate::{Store, StoreError, scope_param};
use chrono::{DateTime, DurationRound, Utc};
use vms_messages::{TenantId, TenantScope, TenantUsage};

impl Store {
    /// Adds `detector_seconds` and `frames` to this hour's row of `tenant` on `node`.
    pub async fn add_usage(
        &self,
        tenant: TenantId,
        node: &str,
        at: DateTime<Utc>,
        detector_seconds: f64,
        frames: i64,
    ) -> Result<(), StoreError> {
        let hour = at.duration_trunc(chrono::Duration::hours(1)).unwrap_or(at);
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO tenant_usage (tenant_id, hour, node, detector_seconds, frames)
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1)
                 ON CONFLICT (tenant_id, hour, node) DO UPDATE
                 SET detector_seconds = tenant_usage.detector_seconds + EXCLUDED.detector_seconds,
                     frames = tenant_usage.frames + EXCLUDED.frames",
                &[&tenant.0, &hour, &node, &detector_seconds, &frames],
            )
            .await?;
        Ok(())
    }

    /// `tenant`'s usage from `from` to `to` (within `scope`: another tenant's is not found):
    /// detector time of the hours that start in the period, camera-hours of the segments that start
    /// in it, byte-hours of the storage samples of its hours, and the bytes of the footage stored now.
    pub async fn tenant_usage(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<TenantUsage, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT u.detector_seconds, u.frames,
                   (SELECT COALESCE(sum(extract(epoch FROM end_ts - start_ts)), 0)::float8 FROM segments
                     WHERE tenant_id = t.id AND start_ts >= $3 AND start_ts < $4) AS recorded_seconds,
                   (SELECT COALESCE(max(bytes), 0) FROM tenant_storage WHERE tenant_id = t.id) AS bytes,
                   (SELECT count(*)::int8 FROM cameras WHERE tenant_id = t.id) AS cameras,
                   (SELECT COALESCE(sum(bytes), 0)::float8 FROM tenant_storage_hours
                     WHERE tenant_id = t.id AND hour >= $3 AND hour < $4) AS byte_hours
                 FROM tenants t,
                   LATERAL (SELECT COALESCE(sum(detector_seconds), 0)::float8 AS detector_seconds,
                                   COALESCE(sum(frames), 0)::int8 AS frames
                            FROM tenant_usage
                            WHERE tenant_id = t.id AND hour >= $3 AND hour < $4) u
                 WHERE t.id = $1 AND ($2::uuid IS NULL OR t.id = $2)",
                &[&tenant.0, &scope_param(scope), &from, &to],
            )
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        let recorded: f64 = row.get("recorded_seconds");
        Ok(TenantUsage {
            tenant_id: tenant,
            from,
            to,
            camera_hours: recorded / 3600.0,
            detector_seconds: row.get("detector_seconds"),
            frames_detected: u64::try_from(row.get::<_, i64>("frames")).unwrap_or(0),
            bytes_stored: u64::try_from(row.get::<_, i64>("bytes")).unwrap_or(0),
            stored_byte_hours: row.get("byte_hours"),
            cameras: u32::try_from(row.get::<_, i64>("cameras")).unwrap_or(u32::MAX),
        })
    }
}
