//! Leases with fencing epochs, and the camera → node placement the leader writes.

use super::{Store, StoreError};
use std::collections::HashMap;
use std::time::Duration;
use vms_messages::CameraId;

impl Store {
    /// Takes or renews lease `name` for `holder` for `ttl`; its epoch when held (unchanged while the
    /// same holder renews in time, one higher on every change of holder), `None` when another holds it.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.pool.get().await?;
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX) as f64;
        let row = client
            .query_opt(
                "INSERT INTO cluster_leases (name, holder, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3::float8 / 1000))
                 ON CONFLICT (name) DO UPDATE SET
                   epoch = CASE WHEN cluster_leases.holder = EXCLUDED.holder AND cluster_leases.expires_at > now()
                                THEN cluster_leases.epoch ELSE cluster_leases.epoch + 1 END,
                   holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                 WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at <= now()
                 RETURNING epoch",
                &[&name, &holder, &ms],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Every camera with the node it is placed on, if any.
    pub async fn placements(&self) -> Result<HashMap<CameraId, Option<String>>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT c.id, p.node_id FROM cameras c LEFT JOIN placement p ON p.camera_id = c.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (CameraId(r.get(0)), r.get(1)))
            .collect())
    }

    /// Places `camera` on `node` at the leader's `epoch`; refused (false) when a newer epoch wrote it.
    pub async fn assign(
        &self,
        camera: CameraId,
        node: &str,
        epoch: i64,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "INSERT INTO placement (camera_id, node_id, epoch) VALUES ($1, $2, $3)
                 ON CONFLICT (camera_id) DO UPDATE SET node_id = EXCLUDED.node_id, epoch = EXCLUDED.epoch,
                   assigned_at = now()
                 WHERE placement.epoch <= EXCLUDED.epoch AND placement.node_id <> EXCLUDED.node_id",
                &[&camera.0, &node, &epoch],
            )
            .await?;
        Ok(n == 1)
    }

    /// The cameras placed on `node`.
    pub async fn assigned_to(&self, node: &str) -> Result<Vec<CameraId>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT camera_id FROM placement WHERE node_id = $1",
                &[&node],
            )
            .await?;
        Ok(rows.iter().map(|r| CameraId(r.get(0))).collect())
    }
}
