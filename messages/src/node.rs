//! Cluster membership as the API shows it: every node's heartbeat (over NATS) and the state the
//! answering node derives from when it last heard it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

// `NodeList` is answered by `GET /api/v1/nodes`.

/// What a node publishes about itself on every heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Node id (`node_id` in its config).
    pub node_id: String,
    /// The cluster it belongs to (`cluster.name`); nodes of other clusters on the same NATS are
    /// not members.
    #[serde(default)]
    pub cluster: String,
    /// This run of the process: a node restarted under the same id has a new one.
    pub instance: Uuid,
    /// Address its API listens on.
    pub api: String,
    /// Address of its ractor_cluster link server (`host:port`), if it runs one.
    #[serde(default)]
    pub link: Option<String>,
    /// Address of its mirror server (`host:port`), if it runs one: where owners send the footage
    /// of the cameras it stands by for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Build version.
    pub version: String,
    /// Roles it takes (`ingest`, `inference`, `control`, `api`).
    pub roles: Vec<String>,
    /// Labels placement may match (`gpu`, `site=…`).
    pub labels: BTreeMap<String, String>,
    /// Most cameras it takes (0: no limit).
    pub max_cameras: u32,
    /// Cameras it records now.
    pub cameras: u32,
    /// Cameras placement gave it (recorded, or being taken over).
    #[serde(default)]
    pub owned: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its wall clock when it sent this heartbeat.
    pub sent_at: DateTime<Utc>,
    /// Position in this run's sequence of heartbeats (from 1): a replayed one is refused.
    #[serde(default)]
    pub seq: u64,
    /// It is stopping (a graceful leave, not a failure).
    pub leaving: bool,
    /// The disk holding its data folder, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskUse>,
    /// The model worker replicas it runs, with their load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaLoad>,
    /// `sha256=<hex>` HMAC of this heartbeat (with `mac` empty) under the cluster cookie, keyed on
    /// `sent_at`: members ignore heartbeats that do not carry the cluster's cookie.
    #[serde(default)]
    pub mac: String,
}

/// Size and free space of the filesystem holding a node's data folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiskUse {
    /// Size in bytes.
    pub total_bytes: u64,
    /// Bytes free for the node (not counting the root-reserved blocks).
    pub free_bytes: u64,
}

/// A node's state as seen by the node that answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Heard from within `cluster.down_after_ms`.
    Up,
    /// Silent for longer: dead, frozen or cut off.
    Down,
    /// Said it was stopping.
    Left,
}

/// A node of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeView {
    /// Node id.
    pub id: String,
    /// Address of its API.
    pub api: String,
    /// Address of its ractor_cluster link server, if it runs one.
    #[serde(default)]
    pub link: Option<String>,
    /// Address of its mirror server (standby footage), if it runs one.
    #[serde(default)]
    pub mirror: Option<String>,
    /// Build version.
    pub version: String,
    /// Roles it takes.
    pub roles: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Most cameras it takes (0: no limit).
    pub max_cameras: u32,
    /// Cameras it records.
    pub cameras: u32,
    /// Cameras it says placement gave it (from its heartbeat).
    #[serde(default)]
    pub owned: u32,
    /// Cameras the placement map puts on it (with `cluster.placement`).
    #[serde(default)]
    pub placed: u64,
    /// An admin drained it: no cameras are placed on it.
    #[serde(default)]
    pub drained: bool,
    /// It holds the placement lease.
    #[serde(default)]
    pub leader: bool,
    /// Up, down or left.
    pub state: NodeState,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Milliseconds since the answering node last heard it (its own monotonic clock).
    pub last_seen_ms: u64,
    /// How far its wall clock was from the NATS server's when its last heartbeat was stored, in
    /// milliseconds (positive: it runs ahead); over 2000 is flagged in the logs.
    pub clock_skew_ms: i64,
    /// Its data folder's disk, from its last heartbeat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskUse>,
    /// The model worker replicas it runs, from its last heartbeat.
    #[serde(default)]
    pub replicas: Vec<ReplicaLoad>,
}

/// A model worker replica a node runs, and how loaded it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplicaLoad {
    /// The model (a zoo folder name, as rules name it).
    pub model: String,
    /// Frames waiting in its queues.
    pub queued: u32,
    /// Detector sessions (threads) serving them.
    pub sessions: u32,
    /// Recent time per frame in microseconds (0: none served yet).
    pub service_us: u64,
}

/// The nodes of the cluster, by id.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeList {
    /// Nodes, by id.
    pub items: Vec<NodeView>,
}

/// A change made through one node's API, published to every node of the cluster so that the node
/// recording the entity applies it (any node serves the API; an entity lives on its owner).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterChange {
    /// Wire version.
    pub v: u32,
    /// The node whose API made the change (it applied it already).
    pub origin: String,
    /// The origin's run of the process.
    #[serde(default)]
    pub incarnation: Uuid,
    /// Position in that run's sequence of changes (from 1): a receiver refuses one it has seen.
    #[serde(default)]
    pub seq: u64,
    /// The origin's wall clock when it published.
    pub sent_at: DateTime<Utc>,
    /// `sha256=<hex>` HMAC of this change (with `mac` empty) under the cluster cookie.
    #[serde(default)]
    pub mac: String,
    /// What changed.
    pub change: Change,
}

/// What changed; the receiver reads the entity from the store.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A tenant was created or changed.
    Tenant {
        /// The tenant.
        tenant_id: crate::TenantId,
    },
    /// A tenant was deleted.
    TenantRemoved {
        /// The tenant.
        tenant_id: crate::TenantId,
    },
    /// A camera was created or changed.
    Camera {
        /// The camera.
        camera_id: crate::CameraId,
    },
    /// A camera was deleted.
    CameraRemoved {
        /// The camera.
        camera_id: crate::CameraId,
        /// Its tenant.
        tenant_id: crate::TenantId,
    },
    /// A camera's rules changed.
    Rules {
        /// The camera.
        camera_id: crate::CameraId,
    },
    /// The tenant's `TenantActor` found it keeping more footage than its storage quota: each node
    /// checks that against PostgreSQL and, if so, deletes the footage over it now rather than at its
    /// next retention sweep.
    StorageOverQuota {
        /// The tenant.
        tenant_id: crate::TenantId,
    },
}
