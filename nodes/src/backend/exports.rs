//! Exports: the node that takes the request writes each camera's MP4 under
//! `<data>/exports/<export>/<camera>.mp4` in two passes over the segments (sample tables, then
//! the bytes behind the header), hashing as it writes, then signs the manifest with the cluster's
//! export key and records both. At most `exports.concurrency` files are written at once.

use super::NodeBackend;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;
use vms_api::{ApiError, ExportService, Page, SegmentSource};
use vms_messages::{
    CameraId, Export, ExportCreate, ExportKey, ExportManifest, ExportPage, ExportState,
    MANIFEST_FORMAT, ManifestFile, ManifestSegment, SegmentContainer, SignedManifest, TenantScope,
};
use vms_store::NewExport;

/// Segments between two progress updates.
const PROGRESS_EVERY: usize = 10;

impl NodeBackend {
    fn export_signer(&self) -> vms_actors::ExportSigner {
        vms_actors::ExportSigner::from_cookie(self.cluster_auth.cookie())
    }

    fn exports_dir(&self) -> PathBuf {
        self.ctx.config.data_dir.join("exports")
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
        let segments: Vec<_> = store
            .playback_segments(scope, camera, export.from, export.to)
            .await
            .map_err(db)?
            .into_iter()
            .map(|f| f.segment)
            .filter(|s| s.media.container == SegmentContainer::Fmp4)
            .collect();
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
        // Pass 1: the sample tables.
        let mut builder = vms_actors::Mp4Builder::default();
        let mut runs = Vec::with_capacity(segments.len());
        for (i, s) in segments.iter().enumerate() {
            let bytes = self.export_read(scope, s.id).await?;
            let scanned = tokio::task::spawn_blocking(move || vms_actors::scan_segment(&bytes))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("segment {}: {e}", s.id))?;
            builder.push(&scanned, s.start.timestamp_micros());
            runs.push(scanned.runs);
            if i % PROGRESS_EVERY == 0 {
                progress(i).await;
            }
        }
        let header = builder.header().map_err(|e| e.to_string())?;
        // Pass 2: the header, then each segment's runs, hashed as they are written.
        let dir = self.exports_dir().join(export.id.to_string());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("cannot create the export folder: {e}"))?;
        let name = format!("{camera}.mp4");
        let path = dir.join(&name);
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| format!("cannot create the export file: {e}"))?;
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let mut write = async |chunk: &[u8]| -> Result<(), String> {
            hasher.update(chunk);
            written += u64::try_from(chunk.len()).unwrap_or(0);
            out.write_all(chunk)
                .await
                .map_err(|e| format!("cannot write the export file: {e}"))
        };
        write(&header).await?;
        for (i, (s, runs)) in segments.iter().zip(&runs).enumerate() {
            let bytes = self.export_read(scope, s.id).await?;
            for run in runs {
                let range = usize::try_from(run.offset).unwrap_or(usize::MAX)
                    ..usize::try_from(run.offset + run.len).unwrap_or(usize::MAX);
                let chunk = bytes
                    .get(range)
                    .ok_or_else(|| format!("segment {} changed while it was exported", s.id))?;
                write(chunk).await?;
            }
            if i % PROGRESS_EVERY == 0 {
                progress(segments.len() + i).await;
            }
        }
        out.sync_all()
            .await
            .map_err(|e| format!("cannot write the export file: {e}"))?;
        drop(out);
        let sha256 = vms_actors::hex(&hasher.finalize());
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

    async fn export_read(&self, scope: TenantScope, id: i64) -> Result<bytes::Bytes, String> {
        self.segment_bytes(scope, id)
            .await
            .map_err(|e| format!("segment {id} cannot be read: {}", e.body.error.message))
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
            return Err(ApiError::unavailable(format!(
                "this export's files are on node {}; download them through that node",
                row.node
            )));
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
