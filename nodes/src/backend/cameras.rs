//! Cameras with their live status, and their segments.

use super::*;

#[async_trait]
impl CameraService for NodeBackend {
    async fn create_camera(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: CameraCreate,
    ) -> Result<CameraView, ApiError> {
        let camera = self
            .db(move |s| async move { s.create_camera(scope, tenant, &req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::CameraUpserted(camera.clone()));
        self.broadcast(Change::Camera {
            camera_id: camera.id,
        });
        let mut status = CameraStatus::unknown();
        status.state = if camera.enabled {
            CameraState::Connecting
        } else {
            CameraState::Disabled
        };
        status.reason = None;
        status.node = Some(self.ctx.node_id().to_string());
        Ok(CameraView { camera, status })
    }

    async fn list_cameras(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<CameraPage, ApiError> {
        self.on_runtime(move |b| async move {
            let (cameras, next_cursor) = b
                .ctx
                .store
                .cameras(scope, tenant, page.cursor.as_deref(), page.limit)
                .await
                .map_err(api_error)?;
            // Statuses of cameras other nodes run are asked for at once.
            let items =
                futures_util::future::join_all(cameras.into_iter().map(|c| b.view(c))).await;
            Ok(CameraPage { items, next_cursor })
        })
        .await
    }

    async fn get_camera(&self, scope: TenantScope, id: CameraId) -> Result<CameraView, ApiError> {
        self.on_runtime(move |b| async move {
            let camera = b.ctx.store.camera(scope, id).await.map_err(api_error)?;
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn update_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
        req: CameraUpdate,
    ) -> Result<CameraView, ApiError> {
        self.on_runtime(move |b| async move {
            let camera = b
                .ctx
                .store
                .update_camera(scope, id, &req)
                .await
                .map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::CameraUpserted(camera.clone()));
            b.broadcast(Change::Camera {
                camera_id: camera.id,
            });
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn delete_camera(&self, scope: TenantScope, id: CameraId) -> Result<(), ApiError> {
        let camera = self
            .db(move |s| async move { s.delete_camera(scope, id).await })
            .await?;
        let _ = self.supervisor.cast(NodeMsg::CameraRemoved {
            camera: camera.id,
            tenant: camera.tenant_id,
        });
        self.broadcast(Change::CameraRemoved {
            camera_id: camera.id,
            tenant_id: camera.tenant_id,
        });
        Ok(())
    }

    async fn list_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<SegmentPage, ApiError> {
        self.db(move |s| async move {
            // 404 for an unknown (or another tenant's) camera rather than an empty list.
            s.camera(scope, camera).await?;
            let (items, next_cursor) = s
                .segments(scope, camera, from, to, page.cursor.as_deref(), page.limit)
                .await?;
            Ok(SegmentPage { items, next_cursor })
        })
        .await
    }

    async fn get_segment(&self, scope: TenantScope, id: i64) -> Result<Segment, ApiError> {
        self.db(move |s| async move { Ok(s.segment(scope, id).await?.segment) })
            .await
    }

    async fn segment_file(&self, scope: TenantScope, id: i64) -> Result<PathBuf, ApiError> {
        let file = self
            .db(move |s| async move { s.segment(scope, id).await })
            .await?;
        // Only files under this node's segment folder (or its standby copies) are served, whatever
        // the index says.
        let inside = file.path.starts_with(self.ctx.config.segments_dir())
            || file
                .path
                .starts_with(self.ctx.config.data_dir.join("mirror"));
        if !inside
            || file
                .path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            tracing::error!(path = %file.path.display(), "segment path outside the data folder refused");
            return Err(ApiError::not_found("segment file"));
        }
        Ok(file.path)
    }
}
