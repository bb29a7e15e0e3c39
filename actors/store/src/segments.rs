//! The segment index: numbering, fenced inserts, listing, and what retention deletes.

use super::*;
use crate::holds::not_held;
use crate::placement::HANDOVER_LIMIT;
use std::collections::{HashMap, HashSet};
use tokio_postgres::error::SqlState;
use vms_messages::{SegmentContainer, SegmentCopies, SegmentMedia, SegmentOrigin};

/// SQL: the days segment rows `s` of camera `c` of tenant `t` are kept (the camera's retention,
/// capped by the tenant's licence).
const KEPT_DAYS: &str = "least(coalesce(c.retention_days, t.retention_days), t.retention_days)";

/// A file's end may pass the move that ended its epoch by this much and still count as recorded
/// within it (the owner stops recording as the move lands).
pub const RECOVERED_SLACK: std::time::Duration = std::time::Duration::from_secs(1);

/// Segment numbers of each ownership epoch start at `epoch * SEQ_BLOCK`, so two nodes recording a
/// camera during a handover never number a segment alike.
pub const SEQ_BLOCK: i64 = 1_000_000_000;

/// Who indexes a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Indexing {
    /// Its owner, as it records: fenced on the camera's current epoch.
    Live,
    /// Its node, later, from a file left without a row: checked against the epochs it was given.
    Recovered,
    /// The camera's standby, from its copy of a file the owner left without a row: checked against
    /// the epochs the writer (the owner, `$17`) was given; the row names the standby, which holds
    /// the copy.
    Mirrored,
}

/// SQL condition: node `node` was once given camera `camera` at epoch `epoch` (always when the
/// epoch is null).
fn given_epoch(camera: &str, node: &str, epoch: &str) -> String {
    format!(
        "({epoch}::bigint IS NULL OR EXISTS (
            SELECT 1 FROM placement_moves m
            WHERE m.camera_id = {camera} AND m.generation = {epoch} AND m.to_node = {node}))"
    )
}

/// SQL expression: the origin of a recovered file of `camera` ending at `end`, recorded by `node`
/// at `epoch`: `fenced` when it ends past the move that ended the epoch (plus the slack, or the
/// handover's time when `node` handed the camera over), else `recovered`.
fn recovered_origin(camera: &str, end: &str, node: &str, epoch: &str) -> String {
    format!(
        "CASE WHEN EXISTS (
            SELECT 1 FROM placement_moves m
            WHERE m.camera_id = {camera} AND m.generation > {epoch}::bigint
              AND {end} > m.at + make_interval(secs => CASE
                    WHEN m.reason IN ('rebalance', 'drain') AND m.from_node = {node} THEN {handover}
                    ELSE {slack} END))
         THEN 'fenced' ELSE 'recovered' END",
        handover = HANDOVER_LIMIT.as_secs_f64(),
        slack = RECOVERED_SLACK.as_secs_f64(),
    )
}

impl Store {
    /// Highest sequence number indexed for a camera (0 when none).
    pub async fn last_seq(&self, camera: CameraId) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT coalesce(max(seq), 0) FROM segments WHERE camera_id = $1",
                &[&camera.0],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Indexes a segment; idempotent on (camera, seq). Returns the row and whether it was new.
    ///
    /// With `epoch` (cameras placed across nodes), the write is fenced: it is refused with
    /// [`StoreError::Fenced`] unless `node` still owns the camera at that epoch (or hands it over from
    /// it). A row another node indexed under the same seq is never overwritten: without an epoch,
    /// the segment is indexed under the next free number instead (the returned row has it).
    pub async fn insert_segment(
        &self,
        seg: &NewSegment,
        node: &str,
        epoch: Option<i64>,
    ) -> Result<(Segment, bool), StoreError> {
        self.index_segment(seg, node, epoch, Indexing::Live).await
    }

    /// Indexes a file `node` left without a row (a crash, a cut-off) at the ownership epoch it was
    /// recorded under; idempotent on the file. The row is marked [`SegmentOrigin::Recovered`] when the
    /// file ends before that epoch passed on (within [`RECOVERED_SLACK`], or the handover's time when
    /// `node` handed the camera over), [`SegmentOrigin::Fenced`] when it runs past it. Refused with
    /// [`StoreError::Fenced`] unless `node` was given that epoch; without an epoch it is numbered as
    /// [`Store::insert_segment`] numbers.
    pub async fn insert_recovered_segment(
        &self,
        seg: &NewSegment,
        node: &str,
        epoch: Option<i64>,
    ) -> Result<(Segment, bool), StoreError> {
        self.index_segment(seg, node, epoch, Indexing::Recovered)
            .await
    }

    /// Indexes the copy `holder` keeps, as a camera's standby, of a segment its owner recorded at
    /// `epoch` and left without a row (it died). The writer is the node placement gave that epoch
    /// to, and the row is judged by its epochs as [`Store::insert_recovered_segment`] judges a
    /// node's own file; the row names `holder`, where the copy is. Refused with
    /// [`StoreError::Fenced`] when no node was given that epoch, and with [`StoreError::Conflict`]
    /// while the writer still owns the camera at it (its own row comes).
    pub async fn insert_mirrored_segment(
        &self,
        seg: &NewSegment,
        holder: &str,
        epoch: i64,
    ) -> Result<(Segment, bool), StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT m.to_node, p.generation FROM placement_moves m
                 LEFT JOIN placement p ON p.camera_id = m.camera_id
                 WHERE m.camera_id = $1 AND m.generation = $2 ORDER BY m.at LIMIT 1",
                &[&seg.camera_id.0, &epoch],
            )
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Fenced {
                camera: seg.camera_id,
                epoch,
            });
        };
        let (writer, current): (String, Option<i64>) = (row.get(0), row.get(1));
        if current == Some(epoch) {
            return Err(StoreError::Conflict {
                field: "epoch",
                message: format!(
                    "{writer} still records camera {} at epoch {epoch}",
                    seg.camera_id
                ),
            });
        }
        match self
            .try_insert_segment(seg, holder, Some(epoch), Indexing::Mirrored, &writer)
            .await?
        {
            Some(indexed) => Ok(indexed),
            None => Err(StoreError::Fenced {
                camera: seg.camera_id,
                epoch,
            }),
        }
    }

    /// [`Store::insert_segment`] or [`Store::insert_recovered_segment`].
    async fn index_segment(
        &self,
        seg: &NewSegment,
        node: &str,
        epoch: Option<i64>,
        how: Indexing,
    ) -> Result<(Segment, bool), StoreError> {
        let mut seg = std::borrow::Cow::Borrowed(seg);
        // With placement off, nodes recording one camera number its segments alike; a number another
        // node indexed first is not this file's, so the file takes the next free one (a few tries,
        // for nodes racing for it too) instead of being lost.
        for _ in 0..MAX_RENUMBERING {
            match self
                .try_insert_segment(&seg, node, epoch, how, node)
                .await?
            {
                Some(indexed) => return Ok(indexed),
                None if epoch.is_some() => {
                    return Err(StoreError::Fenced {
                        camera: seg.camera_id,
                        epoch: epoch.unwrap_or_default(),
                    });
                }
                None => {
                    let client = self.pool.get().await?;
                    let next: Option<i64> = client
                        .query_one(
                            "SELECT CASE WHEN EXISTS (SELECT 1 FROM cameras WHERE id = $1)
                                    THEN coalesce(max(seq), 0) + 1 END
                             FROM segments WHERE camera_id = $1",
                            &[&seg.camera_id.0],
                        )
                        .await?
                        .get(0);
                    let Some(next) = next else {
                        return Err(StoreError::NotFound("camera"));
                    };
                    tracing::warn!(camera_id = %seg.camera_id, seq = seg.seq, next, "segment number taken by another node; indexed under the next one");
                    seg.to_mut().seq = next;
                }
            }
        }
        Err(StoreError::Conflict {
            field: "seq",
            message: format!(
                "no free segment number for camera {} after {MAX_RENUMBERING} tries",
                seg.camera_id
            ),
        })
    }

    /// One attempt of [`Store::insert_segment`]: `None` when the fence refused it or another node
    /// holds its number.
    async fn try_insert_segment(
        &self,
        seg: &NewSegment,
        node: &str,
        epoch: Option<i64>,
        how: Indexing,
        writer: &str,
    ) -> Result<Option<(Segment, bool)>, StoreError> {
        let client = self.pool.get().await?;
        let path = seg.path.to_string_lossy().into_owned();
        let m = &seg.media;
        let fragments = serde_json::to_value(&m.fragments).unwrap_or_default();
        let (allowed, origin, update) = match how {
            Indexing::Live => (
                owner_at_epoch("$1", "$8", "$9"),
                "'live'".to_string(),
                "end_ts = EXCLUDED.end_ts, bytes = EXCLUDED.bytes, fragments = EXCLUDED.fragments, indexed_at = now()",
            ),
            Indexing::Recovered => (
                given_epoch("$1", "$8", "$9"),
                recovered_origin("$1", "$5", "$8", "$9"),
                // Already indexed: the row as it is.
                "indexed_at = segments.indexed_at",
            ),
            Indexing::Mirrored => (
                given_epoch("$1", "$17", "$9"),
                recovered_origin("$1", "$5", "$17", "$9"),
                "indexed_at = segments.indexed_at",
            ),
        };
        let row = client
            .query_opt(
                &format!(
                    "INSERT INTO segments (camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node, epoch, origin,
                                           container, video_codec, width, height, audio_codec, init_len, fragments,
                                           recorded_by)
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, {origin}, $10, $11, $12, $13, $14, $15, $16,
                            NULLIF($17::text, $8)
                     WHERE {allowed}
                     ON CONFLICT (camera_id, seq) DO UPDATE SET {update}
                       WHERE segments.node = EXCLUDED.node AND segments.path = EXCLUDED.path
                     RETURNING {SEGMENT_COLS}, (xmax = 0) AS inserted"
                ),
                &[
                    &seg.camera_id.0, &seg.tenant_id.0, &seg.seq, &seg.start, &seg.end, &seg.bytes, &path, &node, &epoch,
                    &m.container.as_str(), &m.codec, &m.width.map(to_i32), &m.height.map(to_i32), &m.audio,
                    &m.init_len.map(|l| i64::try_from(l).unwrap_or(i64::MAX)), &fragments, &writer,
                ],
            )
            .await;
        match row {
            Ok(Some(row)) => {
                let inserted: bool = row.get("inserted");
                Ok(Some((segment_from_row(&row).segment, inserted)))
            }
            Ok(None) => Ok(None),
            // The camera was deleted while this segment was being written.
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                Err(StoreError::NotFound("camera"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A page of a camera's segments overlapping `[from, to)`, oldest first, within `scope`.
    pub async fn segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Segment>, Option<String>), StoreError> {
        let after = decode_segment_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let (after_ts, after_id) = after.map_or((None, None), |(t, i)| (Some(t), Some(i)));
        self.keyset_page(
            &format!(
                "SELECT {SEGMENT_COLS} FROM segments
                 WHERE camera_id = $1
                   AND ($2::timestamptz IS NULL OR end_ts > $2)
                   AND ($3::timestamptz IS NULL OR start_ts < $3)
                   AND ($4::timestamptz IS NULL OR (start_ts, id) > ($4, $5::bigint))
                   AND ($7::uuid IS NULL OR tenant_id = $7)
                 ORDER BY start_ts, id LIMIT $6"
            ),
            &[
                &camera.0,
                &from,
                &to,
                &after_ts,
                &after_id,
                &(limit + 1),
                &scope_param(scope),
            ],
            limit,
            |r| segment_from_row(r).segment,
            segment_cursor,
        )
        .await
    }

    /// One segment with its file path, if within `scope`.
    pub async fn segment(&self, scope: TenantScope, id: i64) -> Result<SegmentFile, StoreError> {
        self.one(
            &format!(
                "SELECT {SEGMENT_COLS} FROM segments WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id, &scope_param(scope)],
            "segment",
            segment_from_row,
        )
        .await
    }

    /// Segments recorded by `node` older than their camera's retention (capped by the tenant licence).
    pub async fn expired_segments(
        &self,
        node: &str,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.segment_files(
            &format!(
                "SELECT s.*
                 FROM segments s JOIN cameras c ON c.id = s.camera_id JOIN tenants t ON t.id = s.tenant_id
                 WHERE s.node = $1 AND s.end_ts < now() - make_interval(days => {KEPT_DAYS})
                   AND {not_held}
                 ORDER BY s.start_ts LIMIT $2",
                not_held = not_held()
            ),
            &[&node, &limit],
        )
        .await
    }

    /// The oldest segments recorded by `node` that no hold keeps (disk pressure).
    pub async fn oldest_segments(
        &self,
        node: &str,
        limit: i64,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.segment_files(
            &format!(
                "SELECT {SEGMENT_COLS} FROM segments s WHERE node = $1 AND {not_held}
                 ORDER BY start_ts LIMIT $2",
                not_held = not_held()
            ),
            &[&node, &limit],
        )
        .await
    }

    /// Removes index rows (after their files are scheduled for deletion).
    pub async fn delete_segments(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .execute("DELETE FROM segments WHERE id = ANY($1)", &[&ids])
            .await?)
    }

    /// Which of `paths` (files of `camera` whose segments start between `from` and `to`) `node` has
    /// indexed.
    pub async fn indexed_paths(
        &self,
        camera: CameraId,
        node: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        paths: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let client = self.pool.get().await?;
        let mut found = HashSet::new();
        for chunk in paths.chunks(1000) {
            let rows = client
                .query(
                    "SELECT path FROM segments
                     WHERE camera_id = $1 AND start_ts >= $2 AND start_ts < $3 AND node = $4
                       AND path = ANY($5)",
                    &[&camera.0, &from, &to, &node, &chunk],
                )
                .await?;
            found.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        }
        Ok(found)
    }

    /// Which of `seqs` have a row of `camera`, whichever node indexed them.
    pub async fn indexed_seqs(
        &self,
        camera: CameraId,
        seqs: &[i64],
    ) -> Result<HashSet<i64>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT seq FROM segments WHERE camera_id = $1 AND seq = ANY($2)",
                &[&camera.0, &seqs],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Days each of `cameras` is kept (its own retention, capped by its tenant's licence); cameras
    /// the database does not know are left out.
    pub async fn retention_days(
        &self,
        cameras: &[CameraId],
    ) -> Result<HashMap<CameraId, i32>, StoreError> {
        let client = self.pool.get().await?;
        let ids: Vec<Uuid> = cameras.iter().map(|c| c.0).collect();
        let rows = client
            .query(
                &format!(
                    "SELECT c.id, {KEPT_DAYS} FROM cameras c JOIN tenants t ON t.id = c.tenant_id
                     WHERE c.id = ANY($1)"
                ),
                &[&ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (CameraId(r.get(0)), r.get(1)))
            .collect())
    }

    /// The longest retention any tenant's licence allows (days); `None` without tenants.
    pub async fn longest_retention_days(&self) -> Result<Option<i32>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_one("SELECT max(retention_days) FROM tenants", &[])
            .await?
            .get(0))
    }

    /// Deletes up to `limit` rows of segments recorded by removed nodes and past their retention
    /// (their files went with their machine); the object key of each row deleted (the object store
    /// copies are the caller's to delete).
    pub async fn delete_expired_segments_of_removed_nodes(
        &self,
        limit: i64,
    ) -> Result<Vec<Option<String>>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                &format!(
                    "DELETE FROM segments WHERE id IN (
                       SELECT s.id FROM segments s
                       JOIN cluster_nodes n ON n.node_id = s.node AND n.removed_at IS NOT NULL
                       JOIN cameras c ON c.id = s.camera_id JOIN tenants t ON t.id = s.tenant_id
                       WHERE s.end_ts < now() - make_interval(days => {KEPT_DAYS}) AND {not_held}
                       LIMIT $1)
                     RETURNING object_key",
                    not_held = not_held()
                ),
                &[&limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
}

impl Store {
    /// The segment rows a query of [`SEGMENT_COLS`] (or `s.*`) returns.
    pub(crate) async fn segment_files(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<SegmentFile>, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(sql, params)
            .await?
            .iter()
            .map(segment_from_row)
            .collect())
    }
}

pub(crate) const SEGMENT_COLS: &str =
    "id, camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node, origin,
     container, video_codec, width, height, audio_codec, init_len, fragments, object_key, on_disk,
     mirrored_to, mirrored_bytes";

/// The media columns of a segment row; a fragment index that does not parse reads as none.
fn media_from_row(row: &Row) -> SegmentMedia {
    let size = |col: &str| row.get::<_, Option<i32>>(col).map(to_u32);
    SegmentMedia {
        container: SegmentContainer::from_name(row.get("container")),
        codec: row.get("video_codec"),
        width: size("width"),
        height: size("height"),
        audio: row.get("audio_codec"),
        init_len: row
            .get::<_, Option<i64>>("init_len")
            .map(|l| u64::try_from(l).unwrap_or(0)),
        fragments: serde_json::from_value(row.get("fragments")).unwrap_or_default(),
    }
}

pub(crate) fn segment_from_row(row: &Row) -> SegmentFile {
    let id: i64 = row.get("id");
    let start: DateTime<Utc> = row.get("start_ts");
    let end: DateTime<Utc> = row.get("end_ts");
    let mut file = SegmentFile {
        segment: Segment {
            id,
            camera_id: CameraId(row.get("camera_id")),
            tenant_id: TenantId(row.get("tenant_id")),
            seq: row.get("seq"),
            start,
            end,
            duration_ms: (end - start).num_milliseconds(),
            bytes: row.get("bytes"),
            node: row.get("node"),
            media_url: String::new(),
            origin: SegmentOrigin::from_name(row.get("origin")),
            media: media_from_row(row),
            copies: SegmentCopies::default(),
        },
        path: PathBuf::from(row.get::<_, String>("path")),
        object_key: row.get("object_key"),
        on_disk: row.get("on_disk"),
    };
    let copies = SegmentCopies {
        on_disk: file.on_disk,
        standby_node: row.get("mirrored_to"),
        standby_bytes: u64::try_from(row.get::<_, i64>("mirrored_bytes")).unwrap_or(0),
        object_store: file.object_key.is_some(),
    };
    for f in &mut file.segment.media.fragments {
        f.copies = copies.holding(f.offset, f.len);
    }
    file.segment.copies = copies;
    file
}
