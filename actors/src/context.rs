//! What every actor of a node shares: configuration, the store and the NATS client.

use crate::store::Store;
use std::path::PathBuf;
use vms_config::NodeConfig;
use vms_messages::{CameraId, TenantId};

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
    /// Detection, when enabled and its model loaded.
    pub analytics: Option<std::sync::Arc<crate::analytics::Analytics>>,
}

impl NodeContext {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// `<data>/segments/<tenant>/<camera>`.
    pub fn camera_dir(&self, tenant: TenantId, camera: CameraId) -> PathBuf {
        self.config
            .segments_dir()
            .join(tenant.to_string())
            .join(camera.to_string())
    }
}
