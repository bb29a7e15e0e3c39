//! What a tenant's leased `TenantActor` reads and writes: its lease's name, the tenant's standing
//! (licence and what it uses now, by the database's clock), the hourly storage sample it writes under
//! its lease, and the leases held, for the placement view.

use crate::tenants::{TENANT_COLS, tenant_from_row};
use crate::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};
use vms_messages::{Tenant, TenantId};

/// Prefix of the tenant leases' names in `cluster_leases`.
const LEASE_PREFIX: &str = "tenant:";

static LEASE_FENCE: AtomicBool = AtomicBool::new(true);

/// Test-only switch: with `false`, a storage sample is written whoever holds the tenant's lease (a
/// test shows a stale holder's write then lands, so the fence test can fail). Never call it outside
/// tests.
pub fn set_tenant_lease_fence(on: bool) {
    LEASE_FENCE.store(on, Ordering::SeqCst);
}

/// The name of `tenant`'s lease in `cluster_leases`.
pub fn tenant_lease(tenant: TenantId) -> String {
    format!("{LEASE_PREFIX}{tenant}")
}

/// A tenant's licence beside what it keeps now, as its `TenantActor` reads them each round (a
/// few rows, whatever its footage).
#[derive(Clone, Debug, PartialEq)]
pub struct TenantStanding {
    /// The tenant and its licence.
    pub tenant: Tenant,
    /// The licence has ended by the database's clock.
    pub expired: bool,
    /// Its cameras.
    pub cameras: u32,
    /// Bytes of its footage kept, over all tiers (each segment once).
    pub bytes_stored: u64,
}

/// What a tenant used this calendar month (UTC); a scan of the month's segments, so read less
/// often than the standing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MonthUsage {
    /// Hours of footage recorded.
    pub camera_hours: f64,
    /// Seconds detectors spent on its frames, on every node.
    pub detector_seconds: f64,
}

/// A tenant lease and its holder.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantLease {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The node that holds it.
    pub node: String,
    /// Its epoch: one higher on every change of holder.
    pub epoch: i64,
    /// When it ends unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Every tenant's id.
    pub async fn tenant_ids(&self) -> Result<Vec<TenantId>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query("SELECT id FROM tenants", &[]).await?;
        Ok(rows.iter().map(|r| TenantId(r.get(0))).collect())
    }

    /// `tenant`'s standing now; `None` when the tenant is gone.
    pub async fn tenant_standing(
        &self,
        tenant: TenantId,
    ) -> Result<Option<TenantStanding>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {TENANT_COLS},
                       (expires_at IS NOT NULL AND expires_at <= now()) AS expired,
                       (SELECT count(*) FROM cameras c WHERE c.tenant_id = t.id)::int8 AS camera_count,
                       (SELECT coalesce(max(bytes), 0) FROM tenant_storage s WHERE s.tenant_id = t.id) AS bytes_stored
                     FROM tenants t WHERE t.id = $1"
                ),
                &[&tenant.0],
            )
            .await?;
        Ok(row.map(|row| TenantStanding {
            tenant: tenant_from_row(&row),
            expired: row.get("expired"),
            cameras: u32::try_from(row.get::<_, i64>("camera_count")).unwrap_or(u32::MAX),
            bytes_stored: u64::try_from(row.get::<_, i64>("bytes_stored")).unwrap_or(0),
        }))
    }

    /// What `tenant` used this calendar month (UTC): camera-hours of the segments that start in
    /// it, and detector time of its hours.
    pub async fn month_usage(&self, tenant: TenantId) -> Result<MonthUsage, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "WITH month AS (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start)
                 SELECT
                   (SELECT coalesce(sum(extract(epoch FROM end_ts - start_ts)), 0)::float8 FROM segments s, month
                     WHERE s.tenant_id = $1 AND s.start_ts >= month.start) AS recorded_seconds,
                   (SELECT coalesce(sum(detector_seconds), 0)::float8 FROM tenant_usage u, month
                     WHERE u.tenant_id = $1 AND u.hour >= month.start) AS detector_seconds",
                &[&tenant.0],
            )
            .await?;
        Ok(MonthUsage {
            camera_hours: row.get::<_, f64>("recorded_seconds") / 3600.0,
            detector_seconds: row.get("detector_seconds"),
        })
    }

    /// Records that `tenant` keeps `bytes` now, in this hour's storage sample (the hour keeps the
    /// most it saw), as `node` holding the tenant's lease at `epoch`. `false`, and nothing written,
    /// when `node` no longer holds the lease at that epoch (another node took it over) or the
    /// tenant is gone.
    pub async fn record_storage_hour(
        &self,
        tenant: TenantId,
        bytes: u64,
        node: &str,
        epoch: i64,
    ) -> Result<bool, StoreError> {
        let fence = if LEASE_FENCE.load(Ordering::SeqCst) {
            "EXISTS (SELECT 1 FROM cluster_leases l
                     WHERE l.name = $5 AND l.holder = $3 AND l.epoch = $4 AND l.expires_at > now())"
        } else {
            "$5::text IS NOT NULL" // true, naming the lease still
        };
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let client = self.pool.get().await?;
        let written = client
            .execute(
                &format!(
                    "INSERT INTO tenant_storage_hours (tenant_id, hour, bytes, node, epoch)
                     SELECT $1, date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $2, $3, $4
                     WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $1) AND {fence}
                     ON CONFLICT (tenant_id, hour) DO UPDATE SET
                       bytes = GREATEST(tenant_storage_hours.bytes, EXCLUDED.bytes),
                       node = EXCLUDED.node, epoch = EXCLUDED.epoch"
                ),
                &[&tenant.0, &bytes, &node, &epoch, &tenant_lease(tenant)],
            )
            .await?;
        Ok(written > 0)
    }

    /// Renews, in one statement, those of leases `names` that `holder` holds and that have not
    /// expired, for `ttl` more; their names and epochs. A lease missing from the answer is no longer
    /// `holder`'s.
    pub async fn renew_leases(
        &self,
        names: &[String],
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "UPDATE cluster_leases SET expires_at = now() + make_interval(secs => $3)
                 WHERE name = ANY($1) AND holder = $2 AND expires_at > now()
                 RETURNING name, epoch",
                &[&names, &holder, &ttl.as_secs_f64()],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Gives up lease `name` if `holder` holds it, so the next holder need not wait for its expiry.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE cluster_leases SET expires_at = now() WHERE name = $1 AND holder = $2 AND expires_at > now()",
                &[&name, &holder],
            )
            .await?;
        Ok(())
    }

    /// The tenant leases held now, by tenant.
    pub async fn tenant_leases(&self) -> Result<Vec<TenantLease>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT name, holder, epoch, expires_at FROM cluster_leases
                 WHERE name LIKE 'tenant:%' AND expires_at > now() ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let name: String = r.get(0);
                let id = name.strip_prefix(LEASE_PREFIX)?.parse().ok()?;
                Some(TenantLease {
                    tenant_id: TenantId(id),
                    node: r.get(1),
                    epoch: r.get(2),
                    expires_at: r.get(3),
                })
            })
            .collect())
    }
}
