//! The node's implementation of the API's [`Backend`]: the store for configuration and the index, the
//! actors for live status and for starting, changing and stopping cameras. Work runs on the node's
//! runtime (where the actors and the database pool live), not on the HTTP workers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ractor::ActorRef;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::runtime::Handle;
use vms_actors::camera::{CameraMsg, camera_actor_name};
use vms_actors::supervisor::NodeMsg;
use vms_actors::{NodeContext, StoreError};
use vms_api::{ApiError, Backend, CameraPage, TenantPage};
use vms_messages::{
    Camera, CameraCreate, CameraId, CameraState, CameraStatus, CameraUpdate, CameraView, Segment,
    SegmentPage, Tenant, TenantCreate, TenantId, TenantUpdate,
};

/// How long the API waits for a camera actor's status.
const STATUS_TIMEOUT_MS: u64 = 1000;

/// The node as the API sees it.
#[derive(Clone)]
pub struct NodeBackend {
    ctx: Arc<NodeContext>,
    supervisor: ActorRef<NodeMsg>,
    runtime: Handle,
}

impl NodeBackend {
    /// A backend over the node's context and supervisor, running its work on `runtime`.
    pub fn new(ctx: Arc<NodeContext>, supervisor: ActorRef<NodeMsg>, runtime: Handle) -> Self {
        Self {
            ctx,
            supervisor,
            runtime,
        }
    }

    async fn on_runtime<T, F>(&self, work: impl FnOnce(Self) -> F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        match self.runtime.spawn(work(self.clone())).await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "api task failed");
                Err(ApiError::internal())
            }
        }
    }

    async fn status(&self, camera: &Camera) -> CameraStatus {
        if let Some(cell) = ractor::registry::where_is(camera_actor_name(camera.id)) {
            let actor: ActorRef<CameraMsg> = cell.into();
            if let Ok(status) = ractor::call_t!(actor, CameraMsg::GetStatus, STATUS_TIMEOUT_MS) {
                return status;
            }
        }
        let mut status = CameraStatus::unknown();
        if !camera.enabled {
            status.state = CameraState::Disabled;
            status.reason = Some("camera is disabled".into());
        }
        status
    }

    async fn view(&self, camera: Camera) -> CameraView {
        let status = self.status(&camera).await;
        CameraView { camera, status }
    }
}

/// Maps a store failure to the API's answer; server faults are logged here and not shown to clients.
pub fn api_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) => ApiError::not_found(what),
        StoreError::Conflict { field, message } => ApiError::conflict(field, message),
        StoreError::QuotaExceeded { limit, message } => ApiError::quota(limit, message),
        StoreError::UnknownReference { field, message } => ApiError::invalid(field, message),
        StoreError::InvalidCursor => ApiError::invalid(
            "cursor",
            "invalid cursor; pass next_cursor from the previous page",
        ),
        e if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::unavailable("database unavailable; retry shortly")
        }
        e => {
            tracing::error!(error = ?e, "store failure");
            ApiError::internal()
        }
    }
}

#[async_trait]
impl Backend for NodeBackend {
    async fn ready(&self) -> Result<(), String> {
        self.on_runtime(|b| async move {
            b.ctx
                .store
                .ping()
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))
        })
        .await
        .map_err(|e| format!("database unavailable: {}", e.body.error.message))
    }

    async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError> {
        self.on_runtime(|b| async move {
            let tenant = b.ctx.store.create_tenant(&req).await.map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::TenantUpserted(tenant.clone()));
            Ok(tenant)
        })
        .await
    }

    async fn list_tenants(
        &self,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<TenantPage, ApiError> {
        self.on_runtime(|b| async move {
            let (items, next_cursor) = b
                .ctx
                .store
                .tenants(cursor.as_deref(), limit)
                .await
                .map_err(api_error)?;
            Ok(TenantPage { items, next_cursor })
        })
        .await
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Tenant, ApiError> {
        self.on_runtime(|b| async move { b.ctx.store.tenant(id).await.map_err(api_error) })
            .await
    }

    async fn update_tenant(&self, id: TenantId, req: TenantUpdate) -> Result<Tenant, ApiError> {
        self.on_runtime(|b| async move {
            let tenant = b
                .ctx
                .store
                .update_tenant(id, &req)
                .await
                .map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::TenantUpserted(tenant.clone()));
            Ok(tenant)
        })
        .await
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError> {
        self.on_runtime(|b| async move {
            b.ctx.store.delete_tenant(id).await.map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::TenantRemoved(id));
            Ok(())
        })
        .await
    }

    async fn create_camera(&self, req: CameraCreate) -> Result<CameraView, ApiError> {
        self.on_runtime(|b| async move {
            let camera = b.ctx.store.create_camera(&req).await.map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::CameraUpserted(camera.clone()));
            let mut status = CameraStatus::unknown();
            status.state = if camera.enabled {
                CameraState::Connecting
            } else {
                CameraState::Disabled
            };
            status.reason = None;
            status.node = Some(b.ctx.node_id().to_string());
            Ok(CameraView { camera, status })
        })
        .await
    }

    async fn list_cameras(
        &self,
        tenant: Option<TenantId>,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<CameraPage, ApiError> {
        self.on_runtime(|b| async move {
            let (cameras, next_cursor) = b
                .ctx
                .store
                .cameras(tenant, cursor.as_deref(), limit)
                .await
                .map_err(api_error)?;
            let mut items = Vec::with_capacity(cameras.len());
            for camera in cameras {
                items.push(b.view(camera).await);
            }
            Ok(CameraPage { items, next_cursor })
        })
        .await
    }

    async fn get_camera(&self, id: CameraId) -> Result<CameraView, ApiError> {
        self.on_runtime(|b| async move {
            let camera = b.ctx.store.camera(id).await.map_err(api_error)?;
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn update_camera(&self, id: CameraId, req: CameraUpdate) -> Result<CameraView, ApiError> {
        self.on_runtime(|b| async move {
            let camera = b
                .ctx
                .store
                .update_camera(id, &req)
                .await
                .map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::CameraUpserted(camera.clone()));
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn delete_camera(&self, id: CameraId) -> Result<(), ApiError> {
        self.on_runtime(|b| async move {
            let camera = b.ctx.store.delete_camera(id).await.map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::CameraRemoved {
                camera: camera.id,
                tenant: camera.tenant_id,
            });
            Ok(())
        })
        .await
    }

    async fn list_segments(
        &self,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<SegmentPage, ApiError> {
        self.on_runtime(|b| async move {
            // 404 for an unknown camera rather than an empty list.
            b.ctx.store.camera(camera).await.map_err(api_error)?;
            let (items, next_cursor) = b
                .ctx
                .store
                .segments(camera, from, to, cursor.as_deref(), limit)
                .await
                .map_err(api_error)?;
            Ok(SegmentPage { items, next_cursor })
        })
        .await
    }

    async fn get_segment(&self, id: i64) -> Result<Segment, ApiError> {
        self.on_runtime(
            |b| async move { Ok(b.ctx.store.segment(id).await.map_err(api_error)?.segment) },
        )
        .await
    }

    async fn segment_file(&self, id: i64) -> Result<PathBuf, ApiError> {
        self.on_runtime(|b| async move {
            let file = b.ctx.store.segment(id).await.map_err(api_error)?;
            // Only files under this node's segment folder are served.
            if !file.path.starts_with(b.ctx.config.segments_dir()) {
                return Err(ApiError::not_found("segment file"));
            }
            Ok(file.path)
        })
        .await
    }
}
