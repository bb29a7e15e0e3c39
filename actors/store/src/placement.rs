//! Leases with fencing epochs, the camera → node placement the leader writes (with each camera's
//! ownership epoch), handovers, drained nodes and the history of moves.

use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use vms_messages::{CameraId, PlacementEntry, TenantId};

/// How long a node handing a camera over may go on writing it, at most.
pub const HANDOVER_LIMIT: Duration = Duration::from_secs(30);
/// How long the node handing over may still write once the new owner has indexed a segment (its
/// last, partly overlapping segment is indexed when it stops).
pub const HANDOVER_TAIL: Duration = Duration::from_secs(10);

/// A camera as the placement leader sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacedCamera {
    /// The camera.
    pub camera_id: CameraId,
    /// Its labels; `placement.<key> = <value>` ones require a node labelled `<key> = <value>`.
    pub labels: BTreeMap<String, String>,
    /// The node it is placed on.
    pub node_id: Option<String>,
    /// Why it is not placed, as last written.
    pub unplaced_reason: Option<String>,
    /// A handover from another node is under way.
    pub handing_over: bool,
    /// Its standby node, as last written.
    pub standby_node: Option<String>,
}

/// A camera's new standby node, as the leader writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct StandbyChange {
    /// The camera.
    pub camera_id: CameraId,
    /// Its standby; `None`: no other node can hold its copy.
    pub standby: Option<String>,
}

/// One change of the placement map the leader writes.
#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    /// The camera.
    pub camera_id: CameraId,
    /// Where it was.
    pub from: Option<String>,
    /// Where it goes; `None`: no node can take it (`reason` says why).
    pub to: Option<String>,
    /// Make-before-break: `from` records on until `to` has indexed a segment.
    pub handover: bool,
    /// Why (`placed`, `node down`, `rebalance`, `drain`, or why it cannot be placed).
    pub reason: String,
}

/// A camera this node may record, and the epoch it writes it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Ownership epoch to write with.
    pub epoch: i64,
    /// The node is the owner (`false`: it hands the camera over and records until the new one has).
    pub owner: bool,
}

/// The lease's holder.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseHolder {
    /// The node.
    pub holder: String,
    /// Its epoch.
    pub epoch: i64,
}

/// Counts over the whole placement map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlacementTotals {
    /// Moves ever made.
    pub moves: i64,
    /// Cameras no node can take.
    pub unplaced: i64,
    /// Handovers under way.
    pub handovers: i64,
}

/// How long the holder of a lease must have left it unrenewed before a node that sees the holder gone
/// may take it over ahead of its expiry (a live leader renews it every placement round, 250 ms).
pub const LEASE_TAKEOVER_SILENCE: Duration = Duration::from_secs(1);

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl Store {
    /// Takes or renews lease `name` for `holder` for `ttl`; its epoch when held (unchanged while the
    /// same holder renews in time, one higher on every change of holder), `None` when another holds it.
    /// A lease held by one of `gone` (nodes this node's membership view reports down or left) is
    /// taken over before it expires, but only once its holder has not renewed it for
    /// [`LEASE_TAKEOVER_SILENCE`]: one node's view (it may be the one cut off) cannot take the lease
    /// from a leader that is still renewing it. The old holder's writes are fenced by the epoch.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
        gone: &[String],
    ) -> Result<Option<i64>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "INSERT INTO cluster_leases (name, holder, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                 ON CONFLICT (name) DO UPDATE SET
                   epoch = CASE WHEN cluster_leases.holder = EXCLUDED.holder AND cluster_leases.expires_at > now()
                                THEN cluster_leases.epoch ELSE cluster_leases.epoch + 1 END,
                   holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
                 WHERE cluster_leases.holder = EXCLUDED.holder OR cluster_leases.expires_at <= now()
                    OR (cluster_leases.holder = ANY($4)
                        AND cluster_leases.expires_at <= now() + make_interval(secs => $5))
                 RETURNING epoch",
                &[&name, &holder, &secs(ttl), &gone, &secs(ttl.saturating_sub(LEASE_TAKEOVER_SILENCE))],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Who holds lease `name` now, if anyone.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT holder, epoch FROM cluster_leases WHERE name = $1 AND expires_at > now()",
                &[&name],
            )
            .await?;
        Ok(row.map(|r| LeaseHolder {
            holder: r.get(0),
            epoch: r.get(1),
        }))
    }

    /// Every camera with where it is placed.
    pub async fn placements(&self) -> Result<Vec<PlacedCamera>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT c.id, c.labels, p.node_id, p.unplaced_reason,
                        (p.previous_node IS NOT NULL AND NOT p.handed_over), p.standby_node
                 FROM cameras c LEFT JOIN placement p ON p.camera_id = c.id ORDER BY c.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PlacedCamera {
                camera_id: CameraId(r.get(0)),
                labels: serde_json::from_value(r.get(1)).unwrap_or_default(),
                node_id: r.get(2),
                unplaced_reason: r.get(3),
                handing_over: r.get::<_, Option<bool>>(4).unwrap_or(false),
                standby_node: r.get(5),
            })
            .collect())
    }

    /// Writes `moves` as the leader at lease `epoch` of lease `lease`; returns how many cameras moved.
    ///
    /// Nothing is written unless `lease` is still held at `epoch` (a leader that lost its lease is
    /// fenced), and a row a newer epoch wrote is never overwritten. Every change of node gives the
    /// camera a new ownership epoch (generation), so the node it left can no longer write it.
    pub async fn apply_moves(
        &self,
        lease: &str,
        epoch: i64,
        moves: &[Move],
    ) -> Result<u64, StoreError> {
        if moves.is_empty() {
            return Ok(0);
        }
        let cameras: Vec<uuid::Uuid> = moves.iter().map(|m| m.camera_id.0).collect();
        let from: Vec<Option<String>> = moves.iter().map(|m| m.from.clone()).collect();
        let to: Vec<Option<String>> = moves.iter().map(|m| m.to.clone()).collect();
        let handover: Vec<bool> = moves.iter().map(|m| m.handover).collect();
        let reason: Vec<String> = moves.iter().map(|m| m.reason.clone()).collect();
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "WITH m AS (
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::text[])
                     AS m(camera_id, from_node, to_node, handover, reason)
                 ), up AS (
                   INSERT INTO placement AS p (camera_id, node_id, epoch, generation, unplaced_reason, handover_until)
                   SELECT m.camera_id, m.to_node, $6, 1,
                          CASE WHEN m.to_node IS NULL THEN m.reason END,
                          CASE WHEN m.handover THEN now() + make_interval(secs => $8) END
                   FROM m JOIN cameras c ON c.id = m.camera_id
                   WHERE EXISTS (SELECT 1 FROM cluster_leases l
                                 WHERE l.name = $7 AND l.epoch = $6 AND l.expires_at > now())
                   ON CONFLICT (camera_id) DO UPDATE SET
                     node_id = EXCLUDED.node_id,
                     epoch = EXCLUDED.epoch,
                     generation = p.generation
                       + CASE WHEN p.node_id IS DISTINCT FROM EXCLUDED.node_id THEN 1 ELSE 0 END,
                     unplaced_reason = EXCLUDED.unplaced_reason,
                     previous_node = CASE WHEN EXCLUDED.handover_until IS NOT NULL THEN p.node_id END,
                     handover_until = EXCLUDED.handover_until,
                     handed_over = false,
                     assigned_at = now()
                   WHERE p.epoch <= EXCLUDED.epoch
                     AND (p.node_id IS DISTINCT FROM EXCLUDED.node_id
                          OR p.unplaced_reason IS DISTINCT FROM EXCLUDED.unplaced_reason)
                   RETURNING p.camera_id, p.node_id, p.generation
                 )
                 INSERT INTO placement_moves (camera_id, generation, from_node, to_node, reason, epoch)
                 SELECT up.camera_id, up.generation, m.from_node, up.node_id, m.reason, $6
                 FROM up JOIN m USING (camera_id) WHERE up.node_id IS NOT NULL",
                &[&cameras, &from, &to, &handover, &reason, &epoch, &lease, &secs(HANDOVER_LIMIT)],
            )
            .await?;
        Ok(n)
    }

    /// Writes the cameras' standby nodes as the leader at lease `epoch` of lease `lease`; returns
    /// how many changed. Fenced as [`Store::apply_moves`] is: nothing is written unless the lease
    /// is still held at `epoch`. Only placed cameras have a standby.
    pub async fn apply_standbys(
        &self,
        lease: &str,
        epoch: i64,
        changes: &[StandbyChange],
    ) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let cameras: Vec<uuid::Uuid> = changes.iter().map(|c| c.camera_id.0).collect();
        let standbys: Vec<Option<String>> = changes.iter().map(|c| c.standby.clone()).collect();
        let client = self.pool.get().await?;
        let n = client
            .execute(
                "UPDATE placement p SET standby_node = s.standby
                 FROM unnest($1::uuid[], $2::text[]) AS s(camera_id, standby)
                 WHERE p.camera_id = s.camera_id
                   AND p.epoch <= $3
                   AND p.standby_node IS DISTINCT FROM s.standby
                   AND EXISTS (SELECT 1 FROM cluster_leases l
                               WHERE l.name = $4 AND l.epoch = $3 AND l.expires_at > now())",
                &[&cameras, &standbys, &epoch, &lease],
            )
            .await?;
        Ok(n)
    }

    /// The standby node of `camera`, if it has one.
    pub async fn standby_of(&self, camera: CameraId) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT standby_node FROM placement WHERE camera_id = $1",
                &[&camera.0],
            )
            .await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    /// Ends handovers: one whose new owner has indexed a segment at its epoch is handed over (the
    /// previous owner stops, and may write for [`HANDOVER_TAIL`] more); one past its time is over.
    /// Returns how many were handed over now.
    pub async fn settle_handovers(&self) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        let done = client
            .execute(
                "UPDATE placement p SET handed_over = true,
                        handover_until = least(p.handover_until, now() + make_interval(secs => $1))
                 WHERE p.previous_node IS NOT NULL AND NOT p.handed_over AND EXISTS (
                   SELECT 1 FROM (SELECT node, epoch FROM segments s WHERE s.camera_id = p.camera_id
                                  ORDER BY seq DESC LIMIT 4) last
                   WHERE last.node = p.node_id AND last.epoch = p.generation)",
                &[&secs(HANDOVER_TAIL)],
            )
            .await?;
        client
            .execute(
                "UPDATE placement SET previous_node = NULL, handover_until = NULL, handed_over = false
                 WHERE previous_node IS NOT NULL AND handover_until <= now()",
                &[],
            )
            .await?;
        Ok(done)
    }

    /// The cameras `node` may record now, with the epoch to write each with: those placed on it, and
    /// those it hands over until the new owner has recorded.
    pub async fn grants(&self, node: &str) -> Result<HashMap<CameraId, Grant>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT camera_id, generation, true FROM placement WHERE node_id = $1
                 UNION ALL
                 SELECT camera_id, generation - 1, false FROM placement
                 WHERE previous_node = $1 AND NOT handed_over AND handover_until > now()",
                &[&node],
            )
            .await?;
        let mut grants = HashMap::new();
        for r in rows {
            let grant = Grant {
                epoch: r.get(1),
                owner: r.get(2),
            };
            // Owner wins over handing over (moved away and back).
            grants
                .entry(CameraId(r.get(0)))
                .and_modify(|g: &mut Grant| {
                    if grant.owner {
                        *g = grant;
                    }
                })
                .or_insert(grant);
        }
        Ok(grants)
    }

    /// Where `camera` is placed: (node, why it cannot be placed); `None` before its first placement.
    pub async fn placement_of(
        &self,
        camera: CameraId,
    ) -> Result<Option<(Option<String>, Option<String>)>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT node_id, unplaced_reason FROM placement WHERE camera_id = $1",
                &[&camera.0],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Cameras placed on each node (handovers counted on the new owner).
    pub async fn placed_per_node(&self) -> Result<HashMap<String, u64>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT node_id, count(*) FROM placement WHERE node_id IS NOT NULL GROUP BY node_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }

    /// Whether `node` still records anything: placed on it, or handing over from it.
    pub async fn node_holds_cameras(&self, node: &str) -> Result<i64, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM placement
                 WHERE node_id = $1 OR (previous_node = $1 AND NOT handed_over AND handover_until > now())",
                &[&node],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Marks `node` drained (no cameras are placed on it) or not.
    pub async fn set_drained(&self, node: &str, drained: bool) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO cluster_nodes (node_id, drained) VALUES ($1, $2)
                 ON CONFLICT (node_id) DO UPDATE SET drained = EXCLUDED.drained, changed_at = now()",
                &[&node, &drained],
            )
            .await?;
        Ok(())
    }

    /// The drained nodes.
    pub async fn drained_nodes(&self) -> Result<HashSet<String>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT node_id FROM cluster_nodes WHERE drained", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Marks `node` removed by an admin: its drain is forgotten, and its segment rows expire with
    /// their retention though no node is left to delete their files.
    pub async fn forget_node(&self, node: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO cluster_nodes (node_id, drained, removed_at) VALUES ($1, false, now())
                 ON CONFLICT (node_id) DO UPDATE SET drained = false, removed_at = now(), changed_at = now()",
                &[&node],
            )
            .await?;
        Ok(())
    }

    /// `node` started: a member again if it had been removed.
    pub async fn node_started(&self, node: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE cluster_nodes SET removed_at = NULL, changed_at = now()
                 WHERE node_id = $1 AND removed_at IS NOT NULL",
                &[&node],
            )
            .await?;
        Ok(())
    }

    /// A page of the placement map by camera id, after `after`, optionally only `node`'s cameras.
    pub async fn placement_page(
        &self,
        after: Option<CameraId>,
        node: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PlacementEntry>, StoreError> {
        let client = self.pool.get().await?;
        let after = after.map(|c| c.0);
        let rows = client
            .query(
                "SELECT c.id, c.tenant_id, c.name, p.node_id, coalesce(p.generation, 0),
                        CASE WHEN p.handed_over THEN NULL ELSE p.previous_node END,
                        p.unplaced_reason, p.assigned_at, p.standby_node
                 FROM cameras c LEFT JOIN placement p ON p.camera_id = c.id
                 WHERE ($1::uuid IS NULL OR c.id > $1) AND ($2::text IS NULL OR p.node_id = $2)
                 ORDER BY c.id LIMIT $3",
                &[&after, &node, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PlacementEntry {
                camera_id: CameraId(r.get(0)),
                tenant_id: TenantId(r.get(1)),
                camera_name: r.get(2),
                node_id: r.get(3),
                epoch: r.get(4),
                previous_node: r.get(5),
                unplaced_reason: r.get(6),
                assigned_at: r.get::<_, Option<DateTime<Utc>>>(7),
                standby_node: r.get(8),
            })
            .collect())
    }

    /// Moves made, cameras unplaced and handovers under way.
    pub async fn placement_totals(&self) -> Result<PlacementTotals, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM placement_moves),
                        (SELECT count(*) FROM placement WHERE node_id IS NULL),
                        (SELECT count(*) FROM placement WHERE previous_node IS NOT NULL AND NOT handed_over)",
                &[],
            )
            .await?;
        Ok(PlacementTotals {
            moves: row.get(0),
            unplaced: row.get(1),
            handovers: row.get(2),
        })
    }
}
