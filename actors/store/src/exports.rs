//! Export jobs: `exports` rows, one `export_files` row per camera with its progress, file and
//! signed manifest, and the evidence holds an export places on its footage (released with it).

use crate::{Store, StoreError, scope_param};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::{CameraId, Export, ExportFile, ExportState, TenantId, TenantScope};

const EXPORT_COLS: &str = "id, tenant_id, from_ts, to_ts, reason, node, created_by, created_at";
const FILE_COLS: &str =
    "export_id, camera_id, state, segments_done, segments_total, bytes, sha256, error";

/// What a new export is.
#[derive(Clone, Debug)]
pub struct NewExport {
    /// Its id.
    pub id: Uuid,
    /// Its cameras (distinct).
    pub cameras: Vec<CameraId>,
    /// Start of the footage.
    pub from: DateTime<Utc>,
    /// End of the footage.
    pub to: DateTime<Utc>,
    /// Why it is exported.
    pub reason: String,
    /// The node writing it.
    pub node: String,
    /// Who asked for it.
    pub created_by: String,
}

/// A written (or failed) export file as its node serves it.
#[derive(Clone, Debug)]
pub struct ExportFileRow {
    /// The export's node (it holds the file).
    pub node: String,
    /// Where it stands.
    pub state: ExportState,
    /// The file on that node's disk.
    pub path: Option<PathBuf>,
    /// Its size.
    pub bytes: Option<u64>,
    /// Its signed manifest.
    pub manifest: Option<serde_json::Value>,
}

fn file_from_row(row: &Row) -> ExportFile {
    let id: Uuid = row.get("export_id");
    let camera = CameraId(row.get("camera_id"));
    ExportFile {
        camera_id: camera,
        state: ExportState::from_name(row.get("state")),
        segments_done: u32::try_from(row.get::<_, i32>("segments_done")).unwrap_or(0),
        segments_total: u32::try_from(row.get::<_, i32>("segments_total")).unwrap_or(0),
        bytes: row
            .get::<_, Option<i64>>("bytes")
            .and_then(|b| u64::try_from(b).ok()),
        sha256: row.get("sha256"),
        error: row.get("error"),
        download_url: format!("/api/v1/exports/{id}/files/{camera}/media.mp4"),
        manifest_url: format!("/api/v1/exports/{id}/files/{camera}/manifest.json"),
    }
}

/// The export of `row` with `files`: its state from theirs, its progress from their segments.
fn export_from_row(row: &Row, files: Vec<ExportFile>) -> Export {
    let states: Vec<ExportState> = files.iter().map(|f| f.state).collect();
    let state = if states.contains(&ExportState::Failed) {
        ExportState::Failed
    } else if states.iter().all(|s| *s == ExportState::Done) {
        ExportState::Done
    } else if states.iter().any(|s| *s != ExportState::Queued) {
        ExportState::Running
    } else {
        ExportState::Queued
    };
    let done: u64 = files.iter().map(|f| u64::from(f.segments_done)).sum();
    let total: u64 = files.iter().map(|f| u64::from(f.segments_total)).sum();
    let progress = match state {
        ExportState::Done => 100,
        _ if total == 0 => 0,
        _ => u8::try_from((done * 100 / total).min(99)).unwrap_or(99),
    };
    Export {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        from: row.get("from_ts"),
        to: row.get("to_ts"),
        reason: row.get("reason"),
        state,
        progress_percent: progress,
        node: row.get("node"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        files,
    }
}

impl Store {
    /// Creates an export of cameras all within `scope` and of one tenant (NotFound, or Conflict
    /// on `camera_ids`), with a queued file and an evidence hold over the range per camera.
    pub async fn create_export(
        &self,
        scope: TenantScope,
        new: &NewExport,
    ) -> Result<Export, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let ids: Vec<Uuid> = new.cameras.iter().map(|c| c.0).collect();
        let tenants: Vec<Uuid> = tx
            .query(
                "SELECT DISTINCT tenant_id FROM cameras
                 WHERE id = ANY($1) AND ($2::uuid IS NULL OR tenant_id = $2)",
                &[&ids, &scope_param(scope)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let found: i64 = tx
            .query_one(
                "SELECT count(*) FROM cameras WHERE id = ANY($1) AND ($2::uuid IS NULL OR tenant_id = $2)",
                &[&ids, &scope_param(scope)],
            )
            .await?
            .get(0);
        if usize::try_from(found).unwrap_or(0) != ids.len() {
            return Err(StoreError::NotFound("camera"));
        }
        let [tenant] = tenants.as_slice() else {
            return Err(StoreError::Conflict {
                field: "camera_ids",
                message: "one export covers cameras of one tenant".into(),
            });
        };
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO exports (id, tenant_id, from_ts, to_ts, reason, node, created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {EXPORT_COLS}"
                ),
                &[
                    &new.id,
                    tenant,
                    &new.from,
                    &new.to,
                    &new.reason,
                    &new.node,
                    &new.created_by,
                ],
            )
            .await?;
        tx.execute(
            "INSERT INTO export_files (export_id, camera_id) SELECT $1, unnest($2::uuid[])",
            &[&new.id, &ids],
        )
        .await?;
        tx.execute(
            "INSERT INTO evidence_holds (id, tenant_id, camera_id, from_ts, to_ts, reason, created_by, export_id)
             SELECT gen_random_uuid(), $2, c, $3, $4, $5, $6, $1 FROM unnest($7::uuid[]) AS c",
            &[
                &new.id,
                tenant,
                &new.from,
                &new.to,
                &format!("export {}: {}", new.id, new.reason),
                &new.created_by,
                &ids,
            ],
        )
        .await?;
        let files = tx
            .query(
                &format!(
                    "SELECT {FILE_COLS} FROM export_files WHERE export_id = $1 ORDER BY camera_id"
                ),
                &[&new.id],
            )
            .await?
            .iter()
            .map(file_from_row)
            .collect();
        tx.commit().await?;
        Ok(export_from_row(&row, files))
    }

    /// One export within `scope`.
    pub async fn export(&self, scope: TenantScope, id: Uuid) -> Result<Export, StoreError> {
        let (mut items, _) = self.exports_where(scope, Some(id), None, 1).await?;
        items.pop().ok_or(StoreError::NotFound("export"))
    }

    /// A page of the exports within `scope`, newest first.
    pub async fn exports(
        &self,
        scope: TenantScope,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Export>, Option<String>), StoreError> {
        let before = match cursor {
            Some(c) => Some(crate::decode_id_cursor(Some(c))?),
            None => None,
        };
        self.exports_where(scope, None, before, limit.clamp(1, crate::MAX_PAGE))
            .await
    }

    async fn exports_where(
        &self,
        scope: TenantScope,
        id: Option<Uuid>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<Export>, Option<String>), StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {EXPORT_COLS} FROM exports
                     WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR id = $2)
                       AND ($3::uuid IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4"
                ),
                &[&scope_param(scope), &id, &before, &(limit + 1)],
            )
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
        let mut files: HashMap<Uuid, Vec<ExportFile>> = HashMap::new();
        for row in client
            .query(
                &format!(
                    "SELECT {FILE_COLS} FROM export_files WHERE export_id = ANY($1) ORDER BY camera_id"
                ),
                &[&ids],
            )
            .await?
        {
            files
                .entry(row.get("export_id"))
                .or_default()
                .push(file_from_row(&row));
        }
        let mut items: Vec<Export> = rows
            .iter()
            .map(|r| export_from_row(r, files.remove(&r.get("id")).unwrap_or_default()))
            .collect();
        let next = crate::page_cursor(&mut items, limit, |e| e.id.to_string());
        Ok((items, next))
    }

    /// Deletes an export within `scope` (its holds go with it); the export as it was.
    pub async fn delete_export(&self, scope: TenantScope, id: Uuid) -> Result<Export, StoreError> {
        let export = self.export(scope, id).await?;
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM exports WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)",
                &[&id, &scope_param(scope)],
            )
            .await?;
        Ok(export)
    }

    /// One camera's file of an export within `scope`.
    pub async fn export_file(
        &self,
        scope: TenantScope,
        id: Uuid,
        camera: CameraId,
    ) -> Result<ExportFileRow, StoreError> {
        self.one(
            "SELECT e.node, f.state, f.path, f.bytes, f.manifest FROM export_files f
             JOIN exports e ON e.id = f.export_id
             WHERE f.export_id = $1 AND f.camera_id = $2 AND ($3::uuid IS NULL OR e.tenant_id = $3)",
            &[&id, &camera.0, &scope_param(scope)],
            "export file",
            |r| ExportFileRow {
                node: r.get(0),
                state: ExportState::from_name(r.get(1)),
                path: r.get::<_, Option<String>>(2).map(PathBuf::from),
                bytes: r.get::<_, Option<i64>>(3).and_then(|b| u64::try_from(b).ok()),
                manifest: r.get(4),
            },
        )
        .await
    }

    /// Records a file's progress: `done` of `total` segments written.
    pub async fn export_progress(
        &self,
        id: Uuid,
        camera: CameraId,
        done: u32,
        total: u32,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE export_files SET state = 'running', segments_done = $3, segments_total = $4
                 WHERE export_id = $1 AND camera_id = $2",
                &[
                    &id,
                    &camera.0,
                    &i32::try_from(done).unwrap_or(i32::MAX),
                    &i32::try_from(total).unwrap_or(i32::MAX),
                ],
            )
            .await?;
        Ok(())
    }

    /// Records a written file with its digest and signed manifest.
    pub async fn export_written(
        &self,
        id: Uuid,
        camera: CameraId,
        path: &str,
        bytes: u64,
        sha256: &str,
        manifest: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE export_files SET state = 'done', segments_done = segments_total, path = $3,
                        bytes = $4, sha256 = $5, manifest = $6
                 WHERE export_id = $1 AND camera_id = $2",
                &[
                    &id,
                    &camera.0,
                    &path,
                    &i64::try_from(bytes).unwrap_or(i64::MAX),
                    &sha256,
                    manifest,
                ],
            )
            .await?;
        Ok(())
    }

    /// Records why a file could not be written.
    pub async fn export_failed(
        &self,
        id: Uuid,
        camera: CameraId,
        error: &str,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE export_files SET state = 'failed', error = $3
                 WHERE export_id = $1 AND camera_id = $2",
                &[&id, &camera.0, &error],
            )
            .await?;
        Ok(())
    }

    /// Which of `ids` are exports that still exist.
    pub async fn existing_exports(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query("SELECT id FROM exports WHERE id = ANY($1)", &[&ids])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Marks the unfinished files of `node`'s exports failed (it restarted while writing them);
    /// how many.
    pub async fn fail_unfinished_exports(&self, node: &str) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE export_files f SET state = 'failed', error = 'the node writing it restarted; export again'
                 FROM exports e WHERE e.id = f.export_id AND e.node = $1 AND f.state IN ('queued', 'running')",
                &[&node],
            )
            .await?)
    }
}
