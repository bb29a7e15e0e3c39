//! Cameras: their settings and secret credentials, within their tenant's licence.

use crate::tenants::{TENANT_COLS, check_licence_current, check_retention, tenant_from_row};
use crate::{
    MAX_PAGE, Store, StoreError, decode_id_cursor, scope_param, to_i32, to_u32, unique_as_conflict,
};
use std::collections::BTreeMap;
use tokio_postgres::Row;
use vms_messages::{Camera, CameraCreate, CameraId, CameraUpdate, TenantId, TenantScope};
use vms_messages::{RtspCredentials, RtspTransport};

pub(crate) const CAMERA_COLS: &str = "id, tenant_id, name, url, rtsp_username, rtsp_password, enabled, retention_days, labels, sample_fps, rtsp_transport, created_at, updated_at";

pub(crate) fn camera_from_row(row: &Row) -> Camera {
    let labels: serde_json::Value = row.get("labels");
    let labels: BTreeMap<String, String> = serde_json::from_value(labels).unwrap_or_default();
    Camera {
        id: CameraId(row.get("id")),
        tenant_id: TenantId(row.get("tenant_id")),
        name: row.get("name"),
        url: row.get("url"),
        has_credentials: row.get::<_, Option<String>>("rtsp_username").is_some(),
        credentials: row
            .get::<_, Option<String>>("rtsp_username")
            .map(|username| RtspCredentials {
                username,
                password: row
                    .get::<_, Option<String>>("rtsp_password")
                    .unwrap_or_default(),
            }),
        enabled: row.get("enabled"),
        retention_days: row.get::<_, Option<i32>>("retention_days").map(to_u32),
        labels,
        sample_fps: row.get::<_, Option<i32>>("sample_fps").map(to_u32),
        transport: RtspTransport::from_name(row.get("rtsp_transport")),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

impl Store {
    /// Adds a camera to `tenant` (which must be within `scope`), enforcing the tenant's licence (expiry,
    /// camera count, retention) in the same transaction.
    pub async fn create_camera(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: &CameraCreate,
    ) -> Result<Camera, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let tenant = tx
            .query_opt(
                &format!(
                    "SELECT {TENANT_COLS} FROM tenants WHERE id = $1 AND ($2::uuid IS NULL OR id = $2) FOR UPDATE"
                ),
                &[&tenant.0, &scope_param(scope)],
            )
            .await?
            .map(|r| tenant_from_row(&r))
            .ok_or_else(|| StoreError::UnknownReference {
                field: "tenant_id",
                message: "unknown tenant".into(),
            })?;
        check_licence_current(&tenant)?;
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                &[&tenant.id.0],
            )
            .await?
            .get(0);
        if count >= i64::from(tenant.max_cameras) {
            return Err(StoreError::QuotaExceeded {
                limit: "max_cameras",
                message: format!(
                    "tenant licence allows at most {} cameras (max_cameras)",
                    tenant.max_cameras
                ),
            });
        }
        check_retention(&tenant, req.retention_days)?;
        let labels = serde_json::to_value(&req.labels).unwrap_or_default();
        let result = tx
            .query_one(
                &format!(
                    "INSERT INTO cameras (id, tenant_id, name, url, enabled, retention_days, labels, sample_fps,
                                          rtsp_username, rtsp_password, rtsp_transport)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {CAMERA_COLS}"
                ),
                &[
                    &CameraId::new().0,
                    &tenant.id.0,
                    &req.name,
                    &req.url,
                    &req.enabled,
                    &req.retention_days.map(to_i32),
                    &labels,
                    &req.sample_fps.map(to_i32),
                    &req.username.as_deref().filter(|u| !u.is_empty()),
                    &req.password,
                    &req.transport.as_str(),
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("a camera named {:?} exists in this tenant", req.name)
        })?;
        tx.commit().await?;
        Ok(camera_from_row(&row))
    }

    /// One camera, if within `scope`.
    pub async fn camera(&self, scope: TenantScope, id: CameraId) -> Result<Camera, StoreError> {
        self.one(
            &format!(
                "SELECT {CAMERA_COLS} FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id.0, &scope_param(scope)],
            "camera",
            camera_from_row,
        )
        .await
    }

    /// A page of the cameras within `scope` ordered by id, optionally of one tenant.
    pub async fn cameras(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Camera>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let tenant = tenant.map(|t| t.0);
        self.keyset_page(
            &format!(
                "SELECT {CAMERA_COLS} FROM cameras WHERE id > $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 AND ($4::uuid IS NULL OR tenant_id = $4) ORDER BY id LIMIT $3"
            ),
            &[&after, &tenant, &(limit + 1), &scope_param(scope)],
            limit,
            camera_from_row,
            |c| c.id.to_string(),
        )
        .await
    }

    /// Every camera of a tenant (tenant actor start).
    pub async fn tenant_cameras(&self, tenant: TenantId) -> Result<Vec<Camera>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {CAMERA_COLS} FROM cameras WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant.0],
            )
            .await?;
        Ok(rows.iter().map(camera_from_row).collect())
    }

    /// Changes a camera within `scope`; refused while the licence has ended, and retention is checked
    /// against the licence.
    pub async fn update_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
        req: &CameraUpdate,
    ) -> Result<Camera, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {CAMERA_COLS} FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                     FOR UPDATE"
                ),
                &[&id.0, &scope_param(scope)],
            )
            .await?
            .ok_or(StoreError::NotFound("camera"))?;
        let current = camera_from_row(&row);
        let tenant_row = tx
            .query_one(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"),
                &[&current.tenant_id.0],
            )
            .await?;
        let tenant = tenant_from_row(&tenant_row);
        check_licence_current(&tenant)?;
        check_retention(&tenant, req.retention_days)?;
        let name = req.name.clone().unwrap_or(current.name);
        let url = req.url.clone().unwrap_or(current.url);
        let enabled = req.enabled.unwrap_or(current.enabled);
        let retention = req.retention_days.or(current.retention_days).map(to_i32);
        let labels = serde_json::to_value(req.labels.as_ref().unwrap_or(&current.labels))
            .unwrap_or_default();
        let sample_fps = req.sample_fps.unwrap_or(current.sample_fps).map(to_i32);
        let transport = req.transport.unwrap_or(current.transport);
        // Credentials change only when given; an empty user name clears them.
        let (username, password) = match (&req.username, &req.password, current.credentials) {
            (None, None, kept) => (
                kept.as_ref().map(|c| c.username.clone()),
                kept.map(|c| c.password),
            ),
            (user, pass, kept) => (
                user.clone()
                    .or_else(|| kept.as_ref().map(|c| c.username.clone()))
                    .filter(|u| !u.is_empty()),
                pass.clone().or_else(|| kept.map(|c| c.password)),
            ),
        };
        let password = password.filter(|_| username.is_some());
        let result = tx
            .query_one(
                &format!(
                    "UPDATE cameras SET name = $2, url = $3, enabled = $4, retention_days = $5, labels = $6,
                     sample_fps = $7, rtsp_username = $8, rtsp_password = $9, rtsp_transport = $10,
                     updated_at = now()
                     WHERE id = $1 RETURNING {CAMERA_COLS}"
                ),
                &[
                    &id.0,
                    &name,
                    &url,
                    &enabled,
                    &retention,
                    &labels,
                    &sample_fps,
                    &username,
                    &password,
                    &transport.as_str(),
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("a camera named {name:?} exists in this tenant")
        })?;
        tx.commit().await?;
        Ok(camera_from_row(&row))
    }

    /// Deletes a camera within `scope` and its segment index (the node deletes the files).
    pub async fn delete_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
    ) -> Result<Camera, StoreError> {
        self.one(
            &format!(
                "DELETE FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 RETURNING {CAMERA_COLS}"
            ),
            &[&id.0, &scope_param(scope)],
            "camera",
            camera_from_row,
        )
        .await
    }
}
