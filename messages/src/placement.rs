//! The placement map as the API shows it (`GET /api/v1/placement`): which node records each camera,
//! at which ownership epoch, and the leader that placed them.

use crate::{CameraId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where one camera is placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlacementEntry {
    /// The camera.
    #[schema(value_type = String, format = Uuid)]
    pub camera_id: CameraId,
    /// Its tenant.
    #[schema(value_type = String, format = Uuid)]
    pub tenant_id: TenantId,
    /// The camera's name.
    pub camera_name: String,
    /// The node that records it; none while no node can (see `unplaced_reason`) or before the
    /// leader's first round.
    pub node_id: Option<String>,
    /// Ownership epoch: one higher on every move. Writes carrying an older one are refused.
    pub epoch: i64,
    /// The node handing the camera over (make-before-break), while it still records.
    pub previous_node: Option<String>,
    /// Why no node can take the camera (labels, capacity, drains).
    pub unplaced_reason: Option<String>,
    /// When it was placed where it is.
    pub assigned_at: Option<DateTime<Utc>>,
    /// The node chosen to hold a copy of its footage and take it over when its node dies: the
    /// rendezvous runner-up, in another `zone` when nodes are labelled with one. None while no other
    /// node can.
    pub standby_node: Option<String>,
}

/// A page of the placement map, with the leader that wrote it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlacementView {
    /// The node holding the placement lease, if any holds it now.
    pub leader: Option<String>,
    /// The lease's epoch (one higher on every change of leader).
    pub leader_epoch: Option<i64>,
    /// Moves the leaders made so far (first placements included).
    pub moves: i64,
    /// Cameras no node can take.
    pub unplaced: i64,
    /// Cameras handed over right now (both nodes record).
    pub handovers: i64,
    /// The page, by camera id.
    pub items: Vec<PlacementEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
    /// Where each pooled model's worker replicas run, by model (from the nodes' heartbeats).
    #[serde(default)]
    pub models: Vec<ModelPlacement>,
    /// Where each tenant's leased `TenantActor` runs, by tenant (tenants whose lease no node holds
    /// right now are absent).
    #[serde(default)]
    pub tenants: Vec<TenantPlacement>,
}

/// The node holding one tenant's lease: its `TenantActor` runs there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantPlacement {
    /// The tenant.
    pub tenant_id: crate::TenantId,
    /// The node.
    pub node_id: String,
    /// The lease's epoch: one higher on every change of node.
    pub epoch: i64,
}

/// The replicas of one model across the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelPlacement {
    /// The model.
    pub model: String,
    /// Replicas, by node id.
    pub replicas: Vec<ReplicaPlacement>,
}

/// One replica of a model: the node running it and its load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReplicaPlacement {
    /// The node (`inference` role).
    pub node_id: String,
    /// Frames waiting in its queues.
    pub queued: u32,
    /// Detector sessions serving them.
    pub sessions: u32,
    /// Recent time per frame in microseconds.
    pub service_us: u64,
}
