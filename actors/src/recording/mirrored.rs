//! The copies this node keeps as cameras' standby (`<data>/mirror/<tenant>/<camera>/`, written by
//! `cluster::mirror`), indexed when their owner could not index them: it died with the segment
//! open, or before its segmenter indexed it. The retention sweep looks at each mirrored camera's
//! two newest day folders; a copy untouched for [`ORPHAN_AGE`] whose number has no row is read back
//! like an orphan (cut at its last whole fragment) and indexed as this node's, judged by the
//! epochs its writer was given ([`vms_store::Store::insert_mirrored_segment`]). A copy whose writer
//! still owns the camera is left for the writer's own row. Copies go with the camera's retention:
//! a day folder past it loses the copies no row of this node holds (indexed ones go with their
//! rows), as the orphan sweep treats a node's own files.

use crate::context::NodeContext;
use crate::recording::orphans::{
    ORPHAN_AGE, camera_folders, day_expired, day_folders, delete_unindexed, recovered_row,
    segment_files,
};
use std::collections::HashSet;
use std::time::SystemTime;
use vms_store::{SEQ_BLOCK, StoreError};

/// Deletes this node's standby copies of whole days that ended before `before` and that the object
/// store holds entirely (no segment of the day waits for upload, and no row of this node reads a
/// file there); how many day folders went. Whole folders, so nothing is listed file by file.
pub async fn drop_uploaded_days(
    ctx: &NodeContext,
    before: chrono::DateTime<chrono::Utc>,
) -> Result<u64, StoreError> {
    let root = ctx.config.data_dir.join("mirror");
    let cameras = tokio::task::spawn_blocking(move || camera_folders(&root))
        .await
        .unwrap_or_default();
    let mut dropped = 0;
    for folder in cameras {
        let path = folder.path.clone();
        let days = tokio::task::spawn_blocking(move || day_folders(&path))
            .await
            .unwrap_or_default();
        for (day, dir) in days {
            let ended = day.and_time(chrono::NaiveTime::MIN).and_utc() + chrono::Duration::days(1);
            if ended >= before
                || !ctx
                    .store
                    .day_uploaded(folder.camera, day, ctx.node_id())
                    .await?
            {
                continue;
            }
            if tokio::fs::remove_dir_all(&dir).await.is_ok() {
                dropped += 1;
                tracing::info!(camera_id = %folder.camera, %day, "standby copies of an uploaded day dropped");
            }
        }
    }
    Ok(dropped)
}

/// Indexes the settled copies without a row, as of `now`, and deletes the unindexed ones past
/// their camera's retention; how many it indexed.
pub async fn index_mirrored(ctx: &NodeContext, now: SystemTime) -> Result<u64, StoreError> {
    let root = ctx.config.data_dir.join("mirror");
    let cameras = tokio::task::spawn_blocking(move || camera_folders(&root))
        .await
        .unwrap_or_default();
    if cameras.is_empty() {
        return Ok(0);
    }
    let ids: Vec<_> = cameras.iter().map(|c| c.camera).collect();
    let retention = ctx.store.retention_days(&ids).await?;
    let longest = ctx.store.longest_retention_days().await?;
    let settled = now - ORPHAN_AGE;
    let mut indexed = 0;
    for folder in cameras {
        let path = folder.path.clone();
        let days = tokio::task::spawn_blocking(move || day_folders(&path))
            .await
            .unwrap_or_default();
        // A camera the database does not know keeps its copies for the longest retention.
        if let Some(keep) = retention.get(&folder.camera).copied().or(longest) {
            for (day, dir) in &days {
                if day_expired(*day, keep, now.into()) {
                    delete_unindexed(ctx, &folder, *day, dir).await?;
                }
            }
        }
        let files: Vec<_> = tokio::task::spawn_blocking(move || {
            days.iter()
                .rev()
                .take(2)
                .flat_map(|(_, dir)| segment_files(dir))
                .filter(|(seq, _, modified)| *seq >= SEQ_BLOCK && *modified < settled)
                .collect()
        })
        .await
        .unwrap_or_default();
        if files.is_empty() {
            continue;
        }
        let seqs: Vec<i64> = files.iter().map(|(seq, _, _)| *seq).collect();
        let rows: HashSet<i64> = ctx.store.indexed_seqs(folder.camera, &seqs).await?;
        for (seq, path, modified) in files.into_iter().filter(|(s, _, _)| !rows.contains(s)) {
            let Some(seg) = recovered_row(&folder, seq, &path, modified).await else {
                continue;
            };
            match ctx
                .store
                .insert_mirrored_segment(&seg, ctx.node_id(), seq / SEQ_BLOCK)
                .await
            {
                Ok((segment, _)) => {
                    indexed += 1;
                    tracing::info!(camera_id = %folder.camera, seq, origin = segment.origin.as_str(), path = %path.display(), "standby copy of a segment its owner left unindexed indexed");
                }
                Err(e) if e.is_unavailable() => return Err(e),
                // Its writer still records it (its own row comes), or was never given its epoch.
                Err(e) => {
                    tracing::debug!(camera_id = %folder.camera, seq, error = %e, "standby copy not indexed");
                }
            }
        }
    }
    Ok(indexed)
}
