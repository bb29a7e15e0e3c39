//! What every actor of a node shares: configuration, the store and the NATS client.

use std::path::PathBuf;
use vms_config::NodeConfig;
use vms_messages::{CameraId, TenantId};
use vms_store::Store;

/// Shared, read-only node context handed to actors in their arguments.
pub struct NodeContext {
    /// Validated node configuration.
    pub config: NodeConfig,
    /// PostgreSQL store.
    pub store: Store,
    /// NATS client (absent when NATS is not configured for this process, e.g. in unit tests).
    pub nats: Option<async_nats::Client>,
    /// Event outbox (absent in processes that raise no events, e.g. unit tests).
    pub outbox: Option<std::sync::Arc<crate::outbox::Outbox>>,
    /// The cameras this node records when cameras are placed across nodes (`None`: all of them).
    pub ownership: Option<std::sync::Arc<crate::placement::Ownership>>,
    /// Detection, when enabled and its model loaded.
    pub analytics: Option<std::sync::Arc<crate::analytics::Analytics>>,
    /// Signs what this node publishes to the others and checks what they publish.
    pub cluster_auth: std::sync::Arc<crate::cluster_auth::ClusterAuth>,
}

impl NodeContext {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// Whether this node records `camera` (never with `cluster.fake_cameras`).
    pub fn owns(&self, camera: CameraId) -> bool {
        !self.config.cluster.fake_cameras && self.ownership.as_ref().is_none_or(|o| o.owns(camera))
    }

    /// The ownership epoch a camera actor starting now writes `camera`'s segments and events with
    /// (0 when not granted here); `None` without placement (writes are not fenced).
    pub fn fencing_epoch(&self, camera: CameraId) -> Option<i64> {
        self.ownership.as_ref().map(|o| o.epoch(camera))
    }

    /// `<data>/segments/<tenant>/<camera>`.
    pub fn camera_dir(&self, tenant: TenantId, camera: CameraId) -> PathBuf {
        self.config
            .segments_dir()
            .join(tenant.to_string())
            .join(camera.to_string())
    }
}
