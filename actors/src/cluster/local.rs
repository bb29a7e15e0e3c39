//! What the cluster modules ask of this node's own actors, as a trait: the node supervisor
//! implements it, and placement, self-fencing and cluster changes get it in their arguments, so the
//! cluster layer never names the supervisor.

use crate::context::NodeContext;
use vms_messages::{Camera, CameraId, Tenant, TenantId};

/// This node's actors, as placement and the other nodes' changes drive them.
pub trait LocalActors: Send + Sync {
    /// A tenant was created or changed.
    fn upsert_tenant(&self, tenant: Tenant);
    /// A tenant is gone from the store.
    fn remove_tenant(&self, tenant: TenantId);
    /// A camera was placed here, created or changed: (re)start it with these settings.
    fn upsert_camera(&self, camera: Camera);
    /// A camera is gone from the store.
    fn remove_camera(&self, camera: CameraId, tenant: TenantId);
    /// A camera records on another node now: stop it here (its files stay).
    fn release(&self, camera: CameraId);
    /// A camera's rules changed: its actor, if it runs here, re-reads them.
    fn rules_changed(&self, camera: CameraId);
    /// A tenant keeps more footage than its storage quota (PostgreSQL confirmed it): retention
    /// deletes what this node holds over it now.
    fn storage_over_quota(&self, tenant: TenantId);
}

/// Stops recording `lost` here (nothing is deleted).
pub(crate) fn release(ctx: &NodeContext, actors: &dyn LocalActors, lost: &[CameraId]) {
    if ctx.config.cluster.fake_cameras {
        return;
    }
    for id in lost {
        tracing::info!(camera_id = %id, "camera placed elsewhere; stopping it here");
        actors.release(*id);
    }
}
