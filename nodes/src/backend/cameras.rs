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

    async fn segment_source(&self, scope: TenantScope, id: i64) -> Result<SegmentSource, ApiError> {
        let file = self
            .db(move |s| async move { s.segment(scope, id).await })
            .await?;
        self.source_of(file).await
    }

    async fn camera_storage(
        &self,
        scope: TenantScope,
        id: CameraId,
    ) -> Result<CameraStorage, ApiError> {
        self.db(move |s| async move { s.camera_storage(scope, id).await })
            .await
    }
}

impl NodeBackend {
    /// Where the segment of the index row `file` can be read from this node: its own file, its
    /// copy as the camera's standby, the object store, or the recording node over the link.
    pub(super) async fn source_of(
        &self,
        file: vms_store::SegmentFile,
    ) -> Result<SegmentSource, ApiError> {
        let id = file.segment.id;
        // This node's own file (another node's path means nothing on this machine).
        if file.segment.node == self.ctx.node_id()
            && file.on_disk
            && self.serves_path(&file.path)
            && tokio::fs::metadata(&file.path).await.is_ok()
        {
            return Ok(SegmentSource::File(file.path));
        }
        if let Some(copy) = self.standby_copy(&file).await {
            return Ok(SegmentSource::File(copy));
        }
        if let (Some(key), Some(tier)) = (&file.object_key, &self.tier) {
            return Ok(SegmentSource::Remote {
                len: u64::try_from(file.segment.bytes).unwrap_or(0),
                container: file.segment.media.container,
                reader: Arc::new(ObjectRange {
                    tier: Arc::clone(tier),
                    key: key.clone(),
                    runtime: self.runtime.clone(),
                }),
            });
        }
        // The only copy is on the recording node's disk: read it from there over the link.
        let holder = file.segment.node.clone();
        if file.on_disk && holder != self.ctx.node_id() {
            if !vms_actors::linked(&holder) {
                tracing::info!(segment = id, node = %holder, "the only copy of the segment is on a node this node cannot reach");
                return Err(ApiError::unavailable(format!(
                    "the only copy of this segment is on node {holder}, which is unreachable now"
                )));
            }
            return Ok(SegmentSource::Remote {
                len: u64::try_from(file.segment.bytes).unwrap_or(0),
                container: file.segment.media.container,
                reader: Arc::new(LinkRange {
                    node: holder,
                    object: vms_actors::LinkObject::Segment(id),
                    runtime: self.runtime.clone(),
                }),
            });
        }
        tracing::info!(segment = id, node = %holder, "no copy of the segment reachable from this node");
        Err(ApiError::not_found("segment file"))
    }

    /// Whether `path` is under this node's segment folder or its standby copies (only those are
    /// served, whatever the index says).
    fn serves_path(&self, path: &std::path::Path) -> bool {
        let config = &self.ctx.config;
        let inside = vms_actors::is_within(path, &config.segments_dir())
            || vms_actors::is_within(path, &config.data_dir.join("mirror"));
        if !inside {
            tracing::error!(path = %path.display(), "segment path outside the data folder refused");
            return false;
        }
        true
    }

    /// This node's copy of `file` as its camera's standby (`<data>/mirror/<tenant>/<camera>/<day>/
    /// <file>`), when it holds the whole segment: as long as the row says, with its `ftyp` and a
    /// `moof` at every fragment offset of the row's index. A copy begun after the segment (the
    /// standby was chosen late) or missing a fragment (its queue was full) has zeros there, and is
    /// not served. Only those box headers are read, not the file.
    async fn standby_copy(&self, file: &vms_store::SegmentFile) -> Option<PathBuf> {
        let mut tail = file.path.iter().rev();
        let (name, day) = (tail.next()?, tail.next()?);
        let s = &file.segment;
        let copy = self
            .ctx
            .mirror_dir(s.tenant_id, s.camera_id)
            .join(day)
            .join(name);
        if !self.serves_path(&copy) || s.media.fragments.is_empty() {
            return None;
        }
        let boxes: Vec<(u64, &'static [u8; 4])> = std::iter::once((0, b"ftyp"))
            .chain(s.media.fragments.iter().map(|f| (f.offset, b"moof")))
            .collect();
        let (path, bytes) = (copy.clone(), s.bytes);
        let whole = tokio::task::spawn_blocking(move || {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::open(&path).ok()?;
            let sized = i64::try_from(f.metadata().ok()?.len()).ok() == Some(bytes);
            let mut head = [0u8; 8];
            let boxed = boxes.iter().all(|(offset, kind)| {
                f.read_exact_at(&mut head, *offset).is_ok() && &head[4..] == kind.as_slice()
            });
            Some(sized && boxed)
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        whole.then_some(copy)
    }
}

/// Reads a segment's byte ranges from the object store, on the node's runtime (where its client's
/// connections live).
struct ObjectRange {
    tier: Arc<vms_actors::ObjectTier>,
    key: String,
    runtime: Handle,
}

#[async_trait]
impl vms_api::RangeReader for ObjectRange {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, ApiError> {
        let (tier, key) = (Arc::clone(&self.tier), self.key.clone());
        let read = self
            .runtime
            .spawn(async move { tier.get_range(&key, range).await });
        match read.await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(e)) => {
                tracing::warn!(key = %self.key, error = %e, "cannot read a segment from the object store");
                Err(ApiError::unavailable(
                    "the object store holding this segment cannot be read now",
                ))
            }
            Err(e) => {
                tracing::error!(error = %e, "object store read task failed");
                Err(ApiError::internal())
            }
        }
    }
}

/// A segment (or an export file) read over the cluster link from the node holding its only copy.
pub(super) struct LinkRange {
    pub(super) node: String,
    pub(super) object: vms_actors::LinkObject,
    pub(super) runtime: Handle,
}

#[async_trait]
impl vms_api::RangeReader for LinkRange {
    async fn read(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, ApiError> {
        let mut out = Vec::with_capacity(usize::try_from(range.end - range.start).unwrap_or(0));
        let mut at = range.start;
        while at < range.end {
            let end = range.end.min(at + vms_actors::MAX_LINK_READ);
            let (node, object) = (self.node.clone(), self.object);
            let read = self
                .runtime
                .spawn(async move { vms_actors::read_over_link(&node, object, at..end).await });
            match read.await {
                Ok(Ok(bytes)) => out.extend_from_slice(&bytes),
                Ok(Err(why)) => {
                    tracing::warn!(object = ?self.object, node = %self.node, why, "cannot read over the link");
                    return Err(ApiError::unavailable(format!(
                        "node {} holding this file cannot serve it now",
                        self.node
                    )));
                }
                Err(e) => {
                    tracing::error!(error = %e, "link read task failed");
                    return Err(ApiError::internal());
                }
            }
            at = end;
        }
        Ok(bytes::Bytes::from(out))
    }
}
