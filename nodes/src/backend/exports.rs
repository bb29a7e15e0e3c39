//! Exports: the node that takes the request writes each camera's MP4 under
//! `<data>/exports/<export>/<camera>.mp4` ([`vms_actors::write_export`]: two passes over the
//! segments, hashing as it writes), then signs the manifest with the cluster's export key and
//! records both. At most `exports.concurrency` files are written at once.

use super::NodeBackend;
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;
use vms_api::{ApiError, ExportService, Page, SegmentSource};
use vms_messages::{
    CameraId, Export, ExportCreate, ExportKey, ExportManifest, ExportPage, ExportState,
    MANIFEST_FORMAT, ManifestFile, ManifestSegment, Segment, SegmentContainer, SignedManifest,
    TenantScope,
};
use vms_store::NewExport;

/// How often a node looks for files of exports deleted through another node.
const EXPORT_SWEEP: std::time::Duration = std::time::Duration::from_secs(300);

impl NodeBackend {
    fn export_signer(&self) -> vms_actors::ExportSigner {
        vms_actors::ExportSigner::from_cookie(self.cluster_auth.cookie())
    }

    fn exports_dir(&self) -> PathBuf {
        self.ctx.config.data_dir.join("exports")
    }

    /// Where `camera`'s MP4 of export `id` is written on this node.
    fn export_path(&self, id: Uuid, camera: CameraId) -> PathBuf {
        self.exports_dir()
            .join(id.to_string())
            .join(format!("{camera}.mp4"))
    }

    /// Writes every file of `export`, one after the other.
    async fn run_export(self, export: Export) {
        for file in &export.files {
            let camera = file.camera_id;
            let permit = Arc::clone(&self.export_slots).acquire_owned().await;
            let written = self.write_export_file(&export, camera).await;
            drop(permit);
            if let Err(why) = written {
                tracing::warn!(export = %export.id, camera = %camera, why, "export file failed");
                // What a failed file wrote is no evidence: it goes now, not with the export.
                let partial = self.export_path(export.id, camera);
                if let Err(e) = tokio::fs::remove_file(&partial).await
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(path = %partial.display(), error = %e, "cannot remove a failed export file");
                }
                let id = export.id;
                if let Err(e) = self.ctx.store.export_failed(id, camera, &why).await {
                    tracing::error!(export = %id, error = %e, "cannot record a failed export");
                }
            }
        }
    }

    /// Writes one camera's MP4 and its signed manifest; the error says why not, for the user.
    async fn write_export_file(&self, export: &Export, camera: CameraId) -> Result<(), String> {
        let store = &self.ctx.store;
        let scope = TenantScope::Tenant(export.tenant_id);
        let db = |e: vms_store::StoreError| {
            tracing::warn!(error = %e, "export: database");
            "the database cannot be reached".to_string()
        };
        let cam = store.camera(scope, camera).await.map_err(db)?;
        let files: Vec<vms_store::SegmentFile> = store
            .playback_segments(scope, camera, export.from, export.to)
            .await
            .map_err(db)?
            .into_iter()
            .filter(|f| f.segment.media.container == SegmentContainer::Fmp4)
            .collect();
        // The rows in hand are what both passes read from (no second lookup per segment).
        let by_id: HashMap<i64, &vms_store::SegmentFile> =
            files.iter().map(|f| (f.segment.id, f)).collect();
        let segments: Vec<&Segment> = files.iter().map(|f| &f.segment).collect();
        if segments.is_empty() {
            return Err("no recorded fragmented-MP4 footage in the range".into());
        }
        let total = u32::try_from(segments.len() * 2).unwrap_or(u32::MAX);
        let progress = |done: usize| async move {
            let done = u32::try_from(done).unwrap_or(u32::MAX);
            if let Err(e) = store.export_progress(export.id, camera, done, total).await {
                tracing::warn!(error = %e, "export progress not recorded");
            }
        };
        progress(0).await;
        let path = self.export_path(export.id, camera);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("cannot create the export folder: {e}"))?;
        }
        let name = format!("{camera}.mp4");
        let inputs: Vec<vms_actors::ExportInput> = segments
            .iter()
            .map(|s| vms_actors::ExportInput {
                id: s.id,
                start_micros: s.start.timestamp_micros(),
            })
            .collect();
        let read = |id: i64| self.export_read(by_id.get(&id).copied());
        let range = (export.from.timestamp_micros(), export.to.timestamp_micros());
        let vms_actors::WrittenExport {
            bytes: written,
            sha256,
        } = vms_actors::write_export(&inputs, Some(range), read, progress, &path).await?;
        let manifest = ExportManifest {
            format: MANIFEST_FORMAT.into(),
            export_id: export.id,
            tenant_id: export.tenant_id,
            camera_id: camera,
            camera_name: cam.name,
            from: export.from,
            to: export.to,
            file: ManifestFile {
                name,
                bytes: written,
                sha256: sha256.clone(),
            },
            segments: segments
                .iter()
                .map(|s| ManifestSegment {
                    id: s.id,
                    seq: s.seq,
                    start: s.start,
                    end: s.end,
                    bytes: u64::try_from(s.bytes).unwrap_or(0),
                    node: s.node.clone(),
                })
                .collect(),
            exported_by: export.created_by.clone(),
            exported_at: chrono::Utc::now(),
            reason: export.reason.clone(),
        };
        let signed =
            serde_json::to_value(self.export_signer().sign(manifest)).map_err(|e| e.to_string())?;
        store
            .export_written(
                export.id,
                camera,
                &path.to_string_lossy(),
                written,
                &sha256,
                &signed,
            )
            .await
            .map_err(db)?;
        tracing::info!(export = %export.id, camera = %camera, bytes = written, segments = segments.len(), "export written");
        Ok(())
    }

    async fn export_read(
        &self,
        file: Option<&vms_store::SegmentFile>,
    ) -> Result<bytes::Bytes, String> {
        let file = file.ok_or("a segment left the export's list")?;
        self.segment_bytes(file).await.map_err(|e| {
            format!(
                "segment {} cannot be read: {}",
                file.segment.id, e.body.error.message
            )
        })
    }

    /// Every few minutes, removes this node's export folders whose export was deleted (through
    /// another node, which could not reach these files). Runs until the node stops.
    pub async fn sweep_export_files(self) {
        let mut every = tokio::time::interval(EXPORT_SWEEP);
        loop {
            every.tick().await;
            let Ok(mut dirs) = tokio::fs::read_dir(self.exports_dir()).await else {
                continue;
            };
            let mut found = Vec::new();
            while let Ok(Some(entry)) = dirs.next_entry().await {
                if let Some(id) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<Uuid>().ok())
                {
                    found.push(id);
                }
            }
            if found.is_empty() {
                continue;
            }
            let existing = match self.ctx.store.existing_exports(&found).await {
                Ok(existing) => existing,
                Err(e) => {
                    tracing::warn!(error = %e, "export sweep: database");
                    continue;
                }
            };
            for id in found.into_iter().filter(|id| !existing.contains(id)) {
                let dir = self.exports_dir().join(id.to_string());
                match tokio::fs::remove_dir_all(&dir).await {
                    Ok(()) => tracing::info!(export = %id, "files of a deleted export removed"),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a deleted export's files")
                    }
                }
            }
        }
    }

    /// Removes the files of `export` this node wrote.
    async fn remove_export_files(&self, export: &Export) {
        if export.node != self.ctx.node_id() {
            return;
        }
        let dir = self.exports_dir().join(export.id.to_string());
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove an export's files");
        }
    }
}

#[async_trait]
impl ExportService for NodeBackend {
    async fn create_export(
        &self,
        scope: TenantScope,
        req: ExportCreate,
        created_by: String,
    ) -> Result<Export, ApiError> {
        let max_hours = i64::from(self.ctx.config.exports.max_hours);
        let cameras = req.validate(max_hours)?;
        let new = NewExport {
            id: Uuid::now_v7(),
            cameras,
            from: req.from,
            to: req.to,
            reason: req.reason.unwrap_or_else(|| "export".into()),
            node: self.ctx.node_id().to_string(),
            created_by,
        };
        let export = self
            .db(move |s| async move { s.create_export(scope, &new).await })
            .await?;
        let job = self.clone();
        let started = export.clone();
        self.runtime.spawn(job.run_export(started));
        Ok(export)
    }

    async fn list_exports(&self, scope: TenantScope, page: Page) -> Result<ExportPage, ApiError> {
        self.db(move |s| async move {
            let (items, next_cursor) = s.exports(scope, page.cursor.as_deref(), page.limit).await?;
            Ok(ExportPage { items, next_cursor })
        })
        .await
    }

    async fn get_export(&self, scope: TenantScope, id: Uuid) -> Result<Export, ApiError> {
        self.db(move |s| async move { s.export(scope, id).await })
            .await
    }

    async fn delete_export(&self, scope: TenantScope, id: Uuid) -> Result<Export, ApiError> {
        let export = self
            .db(move |s| async move { s.delete_export(scope, id).await })
            .await?;
        self.remove_export_files(&export).await;
        Ok(export)
    }

    async fn export_file(
        &self,
        scope: TenantScope,
        id: Uuid,
        camera: CameraId,
    ) -> Result<SegmentSource, ApiError> {
        let row = self
            .db(move |s| async move { s.export_file(scope, id, camera).await })
            .await?;
        if row.state != ExportState::Done {
            return Err(ApiError::conflict(
                "id",
                format!("this export file is {}, not done", row.state.as_str()),
            ));
        }
        if row.node != self.ctx.node_id() {
            // Written by another node: read from its disk over the cluster link.
            if !vms_actors::linked(&row.node) {
                return Err(ApiError::unavailable(format!(
                    "this export's file is on node {}, which is unreachable now",
                    row.node
                )));
            }
            return Ok(SegmentSource::Remote {
                len: row.bytes.unwrap_or(0),
                container: SegmentContainer::Fmp4,
                reader: Arc::new(super::cameras::LinkRange {
                    node: row.node,
                    object: vms_actors::LinkObject::Export(id, camera),
                    runtime: self.runtime.clone(),
                }),
            });
        }
        let path = row.path.ok_or_else(|| ApiError::not_found("export file"))?;
        if !vms_actors::is_within(&path, &self.exports_dir()) {
            tracing::error!(path = %path.display(), "export path outside the exports folder refused");
            return Err(ApiError::not_found("export file"));
        }
        Ok(SegmentSource::File(path))
    }

    async fn export_manifest(
        &self,
        scope: TenantScope,
        id: Uuid,
        camera: CameraId,
    ) -> Result<SignedManifest, ApiError> {
        let row = self
            .db(move |s| async move { s.export_file(scope, id, camera).await })
            .await?;
        let manifest = row.manifest.ok_or_else(|| {
            ApiError::conflict(
                "id",
                format!("this export file is {}, not done", row.state.as_str()),
            )
        })?;
        serde_json::from_value(manifest).map_err(|e| {
            tracing::error!(export = %id, error = %e, "stored manifest does not parse");
            ApiError::internal()
        })
    }

    fn export_key(&self) -> ExportKey {
        ExportKey {
            algorithm: "ed25519".into(),
            public_key: self.export_signer().public_key(),
        }
    }
}
