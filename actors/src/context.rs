//! What every actor of a node shares: configuration, the store and the NATS client. Anything else
//! an actor needs (the node's grants, analytics, the outbox, the cluster's key) it gets in its own
//! arguments, so its wiring reads from its constructor.

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
    /// NATS client.
    pub nats: async_nats::Client,
}

impl NodeContext {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// `<data>/mirror/<tenant>/<camera>`: the copy of a camera's segments this node holds as its
    /// standby.
    pub fn mirror_dir(&self, tenant: TenantId, camera: CameraId) -> PathBuf {
        self.config
            .data_dir
            .join("mirror")
            .join(tenant.to_string())
            .join(camera.to_string())
    }

    /// `<data>/segments/<tenant>/<camera>`.
    pub fn camera_dir(&self, tenant: TenantId, camera: CameraId) -> PathBuf {
        self.config
            .segments_dir()
            .join(tenant.to_string())
            .join(camera.to_string())
    }
}
