//! NATS subject names. Every subject carries the tenant so a consumer can be given only its own.

use crate::ids::{CameraId, TenantId};

/// Subject of [`crate::SegmentReady`] for one camera.
pub fn segment_ready(tenant: TenantId, camera: CameraId) -> String {
    format!("vms.segments.{tenant}.{camera}")
}

/// Subject of [`crate::VideoJob`]s for one camera.
pub fn video_job(tenant: TenantId, camera: CameraId) -> String {
    format!("vms.jobs.{tenant}.{camera}")
}

/// Wildcard for every segment of one tenant.
pub fn tenant_segments(tenant: TenantId) -> String {
    format!("vms.segments.{tenant}.*")
}

/// JetStream stream holding every event.
pub const EVENTS_STREAM: &str = "VMS_EVENTS";

/// Subject of an event: `vms.events.<tenant>.<camera>.<kind>`.
pub fn event(tenant: TenantId, camera: CameraId, kind: &str) -> String {
    format!("vms.events.{tenant}.{camera}.{kind}")
}

/// Wildcard for every event of one tenant.
pub fn tenant_events(tenant: TenantId) -> String {
    format!("vms.events.{tenant}.>")
}

/// Changes made through one node's API that other nodes apply (`vms.cluster.<cluster>.changes`).
pub fn cluster_changes(cluster: &str) -> String {
    format!("vms.cluster.{cluster}.changes")
}

/// Requests for the live status of a camera a node records
/// (`vms.cluster.<cluster>.node.<node>.camera-status`).
pub fn camera_status(cluster: &str, node: &str) -> String {
    format!("vms.cluster.{cluster}.node.{node}.camera-status")
}

/// Announcements that the placement leader moved cameras (`vms.cluster.<cluster>.placement`): agents
/// read their grants at once.
pub fn placement_moved(cluster: &str) -> String {
    format!("vms.cluster.{cluster}.placement")
}

/// Frames for a model worker replica where no ractor_cluster link reaches it
/// (`vms.cluster.<cluster>.node.<node>.model.<model>`); the replica answers with its detections.
pub fn model_frames(cluster: &str, node: &str, model: &str) -> String {
    format!("vms.cluster.{cluster}.node.{node}.model.{model}")
}
