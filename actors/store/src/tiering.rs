//! The object-storage tier's index: the segments waiting for upload, the local copies that may go
//! once uploaded, and where each camera's footage is kept.

use super::*;
use crate::segments::SEGMENT_COLS;
use vms_messages::CameraStorage;

impl Store {
    /// Segments `node` holds on its disk and has not uploaded, ended before `before`; oldest first.
    pub async fn segments_to_upload(
        &self,
        node: &str,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.node_segments(
            "object_key IS NULL AND on_disk AND end_ts < $2",
            node,
            before,
            limit,
        )
        .await
    }

    /// Segments `node` keeps on its disk that the object store holds too, ended before `before`;
    /// oldest first (their local copies may go).
    pub async fn uploaded_local_copies(
        &self,
        node: &str,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.node_segments(
            "object_key IS NOT NULL AND on_disk AND end_ts < $2",
            node,
            before,
            limit,
        )
        .await
    }

    async fn node_segments(
        &self,
        condition: &str,
        node: &str,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.segment_files(
            &format!(
                "SELECT {SEGMENT_COLS} FROM segments WHERE node = $1 AND {condition}
                 ORDER BY end_ts LIMIT $3"
            ),
            &[&node, &before, &limit],
        )
        .await
    }

    /// Records that segment `id` is in the object store under `key`; false when its row is gone
    /// (retention deleted it while it was uploading: the object is then the caller's to delete).
    pub async fn mark_uploaded(&self, id: i64, key: &str) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE segments SET object_key = $2 WHERE id = $1",
                &[&id, &key],
            )
            .await?
            == 1)
    }

    /// Records that the local copies of `ids` are gone (only those the object store holds).
    pub async fn mark_local_dropped(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE segments SET on_disk = false WHERE id = ANY($1) AND object_key IS NOT NULL",
                &[&ids],
            )
            .await?)
    }

    /// Records that segment `id`'s file is gone from its holder's disk though nothing dropped it
    /// (a lost disk, a hand-deleted file): its row stays, naming no copy, and no round looks for it
    /// again.
    pub async fn mark_file_missing(&self, id: i64) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute("UPDATE segments SET on_disk = false WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }

    /// Whether every segment of `camera` that started on `day` (UTC) is in the object store and no
    /// row of `node` reads its file from `node`'s disk: then `node`'s standby copies of that day
    /// may go.
    pub async fn day_uploaded(
        &self,
        camera: CameraId,
        day: chrono::NaiveDate,
        node: &str,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let from = day.and_time(chrono::NaiveTime::MIN).and_utc();
        let to = from + chrono::Duration::days(1);
        let pending: i64 = client
            .query_one(
                "SELECT count(*) FROM segments
                 WHERE camera_id = $1 AND start_ts >= $2 AND start_ts < $3
                   AND (object_key IS NULL OR (node = $4 AND on_disk))",
                &[&camera.0, &from, &to, &node],
            )
            .await?
            .get(0);
        Ok(pending == 0)
    }

    /// Where camera `camera`'s footage is kept, within `scope`.
    pub async fn camera_storage(
        &self,
        scope: TenantScope,
        camera: CameraId,
    ) -> Result<CameraStorage, StoreError> {
        self.one(
            "SELECT c.id,
                    count(s.id),
                    coalesce(sum(s.bytes), 0)::bigint,
                    coalesce(sum(s.bytes) FILTER (WHERE s.on_disk), 0)::bigint,
                    coalesce(sum(s.bytes) FILTER (WHERE s.object_key IS NOT NULL), 0)::bigint,
                    coalesce(sum(s.bytes) FILTER (WHERE s.object_key IS NULL), 0)::bigint,
                    min(s.start_ts),
                    min(s.start_ts) FILTER (WHERE s.on_disk),
                    min(p.node_id), min(p.standby_node)
             FROM cameras c
             LEFT JOIN segments s ON s.camera_id = c.id
             LEFT JOIN placement p ON p.camera_id = c.id
             WHERE c.id = $1 AND ($2::uuid IS NULL OR c.tenant_id = $2)
             GROUP BY c.id",
            &[&camera.0, &scope_param(scope)],
            "camera",
            |r| CameraStorage {
                camera_id: CameraId(r.get(0)),
                segments: r.get(1),
                bytes: r.get(2),
                local_bytes: r.get(3),
                object_bytes: r.get(4),
                pending_upload_bytes: r.get(5),
                oldest: r.get(6),
                oldest_local: r.get(7),
                owner_node: r.get(8),
                standby_node: r.get(9),
            },
        )
        .await
    }
}
