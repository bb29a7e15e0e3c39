//! How much of each segment its standby holds, as acknowledged: what the owner's mirror records
//! after each acknowledgement and reads to resend what its standby lacks.

use crate::{Store, StoreError};
use std::path::PathBuf;
use vms_messages::CameraId;

/// A recent segment whose standby copy is not whole, or is on another node than the standby now.
#[derive(Clone, Debug, PartialEq)]
pub struct UnmirroredSegment {
    /// Its number.
    pub seq: i64,
    /// Its file on the recording node.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// The node that holds the acknowledged copy, if any.
    pub mirrored_to: Option<String>,
    /// Bytes from the start of the file that node acknowledged.
    pub mirrored_bytes: u64,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Up to `limit` segments of `camera` recorded by `node` that are still on its disk, not in
    /// the object store, and whose copy on `standby` is not whole, newest first.
    pub async fn unmirrored_segments(
        &self,
        camera: CameraId,
        node: &str,
        standby: &str,
        limit: i64,
    ) -> Result<Vec<UnmirroredSegment>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT seq, path, bytes, mirrored_to, mirrored_bytes FROM segments
                 WHERE camera_id = $1 AND node = $2 AND object_key IS NULL AND on_disk
                   AND (mirrored_to IS DISTINCT FROM $3 OR mirrored_bytes < bytes)
                 ORDER BY end_ts DESC LIMIT $4",
                &[&camera.0, &node, &standby, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| UnmirroredSegment {
                seq: r.get("seq"),
                path: PathBuf::from(r.get::<_, String>("path")),
                bytes: to_u64(r.get("bytes")),
                mirrored_to: r.get("mirrored_to"),
                mirrored_bytes: to_u64(r.get("mirrored_bytes")),
            })
            .collect())
    }

    /// Records that `standby` acknowledged the first `bytes` of segment `seq` of `camera` recorded
    /// by `node` (never fewer than it recorded before for the same standby); whether the row is
    /// indexed yet, and then whether the standby holds it whole.
    pub async fn mark_mirrored(
        &self,
        camera: CameraId,
        seq: i64,
        node: &str,
        standby: &str,
        bytes: u64,
    ) -> Result<Option<bool>, StoreError> {
        let client = self.pool.get().await?;
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        Ok(client
            .query_opt(
                "UPDATE segments SET mirrored_to = $4, mirrored_bytes = CASE
                   WHEN mirrored_to IS NOT DISTINCT FROM $4 THEN greatest(mirrored_bytes, least($5, bytes))
                   ELSE least($5, bytes) END
                 WHERE camera_id = $1 AND seq = $2 AND node = $3
                 RETURNING mirrored_bytes = bytes",
                &[&camera.0, &seq, &node, &standby, &bytes],
            )
            .await?
            .map(|r| r.get(0)))
    }
}
