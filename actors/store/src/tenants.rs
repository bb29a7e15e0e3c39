//! Tenants and their licences.

use crate::{
    MAX_PAGE, Store, StoreError, decode_id_cursor, scope_param, to_i32, to_u32, unique_as_conflict,
};
use chrono::Utc;
use tokio_postgres::Row;
use vms_messages::{Tenant, TenantCreate, TenantId, TenantScope, TenantUpdate};

pub(crate) const TENANT_COLS: &str = "id, name, max_cameras, retention_days, allowed_detectors, expires_at, ack_sla_seconds, storage_quota_bytes, inference_share, created_at";

pub(crate) fn tenant_from_row(row: &Row) -> Tenant {
    Tenant {
        id: TenantId(row.get("id")),
        name: row.get("name"),
        max_cameras: to_u32(row.get("max_cameras")),
        retention_days: to_u32(row.get("retention_days")),
        allowed_detectors: row.get("allowed_detectors"),
        expires_at: row.get("expires_at"),
        ack_sla_seconds: row.get::<_, Option<i32>>("ack_sla_seconds").map(to_u32),
        storage_quota_bytes: row
            .get::<_, Option<i64>>("storage_quota_bytes")
            .map(|b| u64::try_from(b).unwrap_or(0)),
        inference_share: to_u32(row.get("inference_share")),
        created_at: row.get("created_at"),
    }
}

impl Store {
    /// Creates a tenant with licence defaults for absent limits.
    pub async fn create_tenant(&self, req: &TenantCreate) -> Result<Tenant, StoreError> {
        let client = self.pool.get().await?;
        let max = to_i32(req.max_cameras.unwrap_or(vms_messages::DEFAULT_MAX_CAMERAS));
        let days = to_i32(
            req.retention_days
                .unwrap_or(vms_messages::DEFAULT_RETENTION_DAYS),
        );
        let sql = format!(
            "INSERT INTO tenants (id, name, max_cameras, retention_days, allowed_detectors, expires_at, ack_sla_seconds, storage_quota_bytes, inference_share)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TENANT_COLS}"
        );
        let row = unique_as_conflict(
            client
                .query_one(
                    &sql,
                    &[
                        &TenantId::new().0,
                        &req.name,
                        &max,
                        &days,
                        &req.allowed_detectors,
                        &req.expires_at,
                        &req.ack_sla_seconds.map(to_i32),
                        &req.storage_quota_bytes.map(quota_param),
                        &to_i32(
                            req.inference_share
                                .unwrap_or(vms_messages::DEFAULT_INFERENCE_SHARE),
                        ),
                    ],
                )
                .await,
            "name",
            || format!("a tenant named {:?} exists", req.name),
        )?;
        Ok(tenant_from_row(&row))
    }

    /// One tenant, if within `scope`.
    pub async fn tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, StoreError> {
        self.one(
            &format!(
                "SELECT {TENANT_COLS} FROM tenants WHERE id = $1 AND ($2::uuid IS NULL OR id = $2)"
            ),
            &[&id.0, &scope_param(scope)],
            "tenant",
            tenant_from_row,
        )
        .await
    }

    /// A page of the tenants within `scope`, ordered by id, after `cursor`.
    pub async fn tenants(
        &self,
        scope: TenantScope,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Tenant>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {TENANT_COLS} FROM tenants WHERE id > $1 AND ($3::uuid IS NULL OR id = $3)
                 ORDER BY id LIMIT $2"
            ),
            &[&after, &(limit + 1), &scope_param(scope)],
            limit,
            tenant_from_row,
            |t| t.id.to_string(),
        )
        .await
    }

    /// Every tenant (node start).
    pub async fn all_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    /// Changes a tenant; a camera limit below its current camera count is refused.
    pub async fn update_tenant(
        &self,
        id: TenantId,
        req: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1 FOR UPDATE"),
                &[&id.0],
            )
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        let current = tenant_from_row(&row);
        if let Some(max) = req.max_cameras {
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                    &[&id.0],
                )
                .await?
                .get(0);
            if i64::from(max) < count {
                return Err(StoreError::Conflict {
                    field: "max_cameras",
                    message: format!(
                        "tenant has {count} cameras; remove some before lowering max_cameras to {max}"
                    ),
                });
            }
        }
        let name = req.name.clone().unwrap_or(current.name);
        let max = to_i32(req.max_cameras.unwrap_or(current.max_cameras));
        let days = to_i32(req.retention_days.unwrap_or(current.retention_days));
        let detectors = req
            .allowed_detectors
            .clone()
            .unwrap_or(current.allowed_detectors);
        let expires_at = req.expires_at.unwrap_or(current.expires_at);
        let sla = req
            .ack_sla_seconds
            .unwrap_or(current.ack_sla_seconds)
            .map(to_i32);
        let quota = req
            .storage_quota_bytes
            .unwrap_or(current.storage_quota_bytes)
            .map(quota_param);
        let share = to_i32(req.inference_share.unwrap_or(current.inference_share));
        let result = tx
            .query_one(
                &format!(
                    "UPDATE tenants SET name = $2, max_cameras = $3, retention_days = $4,
                     allowed_detectors = $5, expires_at = $6, ack_sla_seconds = $7, storage_quota_bytes = $8,
                     inference_share = $9
                     WHERE id = $1 RETURNING {TENANT_COLS}"
                ),
                &[&id.0, &name, &max, &days, &detectors, &expires_at, &sla, &quota, &share],
            )
            .await;
        let row = unique_as_conflict(result, "name", || format!("a tenant named {name:?} exists"))?;
        tx.commit().await?;
        Ok(tenant_from_row(&row))
    }

    /// Deletes a tenant that has no cameras.
    pub async fn delete_tenant(&self, id: TenantId) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let exists = tx
            .query_opt("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", &[&id.0])
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("tenant"));
        }
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                &[&id.0],
            )
            .await?
            .get(0);
        if count > 0 {
            return Err(StoreError::Conflict {
                field: "id",
                message: format!("tenant still has {count} cameras; delete them first"),
            });
        }
        tx.execute("DELETE FROM tenants WHERE id = $1", &[&id.0])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A quota as its column holds it (validated quotas fit; larger ones saturate).
fn quota_param(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Refuses writes for a tenant whose licence has ended.
pub(crate) fn check_licence_current(tenant: &Tenant) -> Result<(), StoreError> {
    match tenant.expires_at {
        Some(at) if at <= Utc::now() => Err(StoreError::LicenceExpired {
            message: format!(
                "tenant licence expired at {} (expires_at); recordings are kept, renew the licence to change cameras",
                at.to_rfc3339()
            ),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn check_retention(tenant: &Tenant, days: Option<u32>) -> Result<(), StoreError> {
    match days {
        Some(d) if d > tenant.retention_days => Err(StoreError::QuotaExceeded {
            limit: "retention_days",
            message: format!(
                "tenant licence allows at most {} retention days (retention_days)",
                tenant.retention_days
            ),
        }),
        _ => Ok(()),
    }
}
