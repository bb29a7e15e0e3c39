//! Prometheus metrics of the node, registered in the default registry that `/metrics` renders.

use prometheus::{
    GaugeVec, Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, register_gauge_vec,
    register_histogram, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};
use std::sync::LazyLock;

/// Frames per second received, per camera.
pub static CAMERA_FPS: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!("vms_camera_fps", "frames per second received", &["camera"])
        .expect("metric registers")
});
/// Bits per second received, per camera.
pub static CAMERA_BITRATE: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "vms_camera_bitrate_bps",
        "bits per second received",
        &["camera"]
    )
    .expect("metric registers")
});
/// Video bytes received, per camera.
pub static CAMERA_BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_camera_bytes_total",
        "video bytes received",
        &["camera"]
    )
    .expect("metric registers")
});
/// Frames received, per camera.
pub static CAMERA_FRAMES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("vms_camera_frames_total", "frames received", &["camera"])
        .expect("metric registers")
});
/// Events a rule raised (a retry of the same event counts again), per camera.
pub static EVENTS_RAISED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_events_raised_total",
        "events raised by rules, retries included",
        &["camera"]
    )
    .expect("metric registers")
});
/// Events stored for the first time, per camera.
pub static EVENTS_STORED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_events_stored_total",
        "events stored for the first time",
        &["camera"]
    )
    .expect("metric registers")
});
/// Events waiting in the outbox for PostgreSQL or JetStream.
pub static OUTBOX_PENDING: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "vms_events_outbox_pending",
        "events waiting in the outbox for PostgreSQL or JetStream"
    )
    .expect("metric registers")
});
/// Live camera statuses fetched from the node recording the camera, by the way they came
/// (`link`: the ractor_cluster link; `nats`: the NATS request fallback).
pub static REMOTE_STATUS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_remote_status_total",
        "camera statuses fetched from the recording node, by way (link, nats)",
        &["via"]
    )
    .expect("metric registers")
});
/// Events stored but not yet published to JetStream.
pub static OUTBOX_UNPUBLISHED: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "vms_events_outbox_unpublished",
        "events stored in PostgreSQL and waiting for JetStream"
    )
    .expect("metric registers")
});
/// Events that can never be stored, kept in `outbox/dead/`, by reason.
pub static EVENTS_DEAD_LETTERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_events_dead_letters_total",
        "events that can never be stored, kept as dead letters, by reason",
        &["reason"]
    )
    .expect("metric registers")
});
/// Frames the analytics sampler decoded, per camera.
pub static FRAMES_DECODED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_frames_decoded_total",
        "frames decoded for analytics",
        &["camera"]
    )
    .expect("metric registers")
});
/// Decoded frames handed to the detectors (a camera with enabled rules), per camera.
pub static FRAMES_SAMPLED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_frames_sampled_total",
        "frames handed to the detectors of a camera's rules",
        &["camera"]
    )
    .expect("metric registers")
});
/// Sampled frames every detector answered, per camera.
pub static FRAMES_DETECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_frames_detected_total",
        "frames every detector of the camera's rules answered",
        &["camera"]
    )
    .expect("metric registers")
});
/// Frames dropped before detection, per camera and stage: `handoff` (the camera's rule task was still
/// busy with earlier frames) or `detector_queue` (the model worker's queue was full and dropped its
/// oldest frame).
pub static FRAMES_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_frames_dropped_total",
        "frames dropped before detection, by stage (handoff, detector_queue)",
        &["camera", "stage"]
    )
    .expect("metric registers")
});
/// Segments indexed, per camera.
pub static CAMERA_SEGMENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("vms_camera_segments_total", "segments indexed", &["camera"])
        .expect("metric registers")
});
/// Seconds between a segment's end and its index row, per camera (last segment).
pub static CAMERA_SEGMENT_LAG: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "vms_camera_segment_lag_seconds",
        "seconds from segment end to index row",
        &["camera"]
    )
    .expect("metric registers")
});
/// Reconnections, per camera.
pub static CAMERA_RECONNECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!("vms_camera_reconnects_total", "reconnections", &["camera"])
        .expect("metric registers")
});
/// 1 for the state each camera is in, per camera and state.
pub static CAMERA_STATE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "vms_camera_state",
        "1 for the current state of the camera",
        &["camera", "state"]
    )
    .expect("metric registers")
});
/// Segments waiting to be indexed (the database was unavailable), per camera.
pub static SEGMENTS_PENDING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "vms_segments_pending_index",
        "segments waiting for the database",
        &["camera"]
    )
    .expect("metric registers")
});
/// Segments deleted by retention.
pub static RETENTION_DELETED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "vms_retention_deleted_segments_total",
        "segments deleted by retention"
    )
    .expect("metric registers")
});

/// Creates every per-camera series at zero, so a camera's metrics exist before anything happens to it.
pub fn register_camera(camera: &str) {
    for g in [&*CAMERA_FPS, &*CAMERA_BITRATE, &*CAMERA_SEGMENT_LAG] {
        g.with_label_values(&[camera]);
    }
    for c in [
        &*CAMERA_BYTES,
        &*CAMERA_FRAMES,
        &*CAMERA_SEGMENTS,
        &*CAMERA_RECONNECTS,
    ] {
        c.with_label_values(&[camera]);
    }
    SEGMENTS_PENDING.with_label_values(&[camera]);
}

/// Removes every per-camera series of a camera that left this node.
pub fn forget_camera(camera: &str) {
    for g in [&*CAMERA_FPS, &*CAMERA_BITRATE, &*CAMERA_SEGMENT_LAG] {
        let _ = g.remove_label_values(&[camera]);
    }
    for c in [
        &*CAMERA_BYTES,
        &*CAMERA_FRAMES,
        &*CAMERA_SEGMENTS,
        &*CAMERA_RECONNECTS,
        &*FRAMES_DECODED,
        &*FRAMES_SAMPLED,
        &*FRAMES_DETECTED,
    ] {
        let _ = c.remove_label_values(&[camera]);
    }
    for stage in ["handoff", "detector_queue"] {
        let _ = FRAMES_DROPPED.remove_label_values(&[camera, stage]);
    }
    let _ = SEGMENTS_PENDING.remove_label_values(&[camera]);
    for state in [
        "disabled",
        "connecting",
        "streaming",
        "backoff",
        "failed",
        "unknown",
    ] {
        let _ = CAMERA_STATE.remove_label_values(&[camera, state]);
    }
}

/// Notification attempts, by channel kind and outcome (`delivered`, `retry`, `dead`).
pub static NOTIFICATION_ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_notification_attempts_total",
        "notification delivery attempts by channel kind and outcome",
        &["kind", "outcome"]
    )
    .expect("metric registers")
});
/// Tickets escalated for missing their tenant's acknowledgement limit.
pub static TICKETS_ESCALATED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "vms_tickets_escalated_total",
        "tickets escalated for missing the acknowledgement limit"
    )
    .expect("metric registers")
});
/// Nodes of the cluster as this node sees them, by state (`up`, `down`, `left`).
pub static CLUSTER_NODES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "vms_cluster_nodes",
        "nodes of the cluster as this node sees them, by state",
        &["state"]
    )
    .expect("metric registers")
});
/// Writes refused because they carried a stale ownership epoch, by kind (`segment`, `event`).
pub static FENCED_WRITES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_fenced_writes_total",
        "writes refused because this node no longer owned the camera at their epoch",
        &["kind"]
    )
    .expect("metric registers")
});
/// Times this node stopped its cameras because it could not reach NATS (so the others took them).
pub static SELF_FENCES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "vms_self_fences_total",
        "times this node stopped all its cameras itself after losing its heartbeat"
    )
    .expect("metric registers")
});
/// ractor_cluster sessions this node has with other nodes.
pub static CLUSTER_LINKS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "vms_cluster_links",
        "ractor_cluster sessions with other nodes"
    )
    .expect("metric registers")
});
/// 1 while this node holds the placement lease.
pub static PLACEMENT_LEADER: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "vms_placement_leader",
        "1 while this node is the placement leader"
    )
    .expect("metric registers")
});
/// Epoch of the placement lease as this node last saw it held by itself.
pub static PLACEMENT_EPOCH: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "vms_placement_epoch",
        "epoch of the placement lease while this node holds it"
    )
    .expect("metric registers")
});
/// Seconds from a camera being placed on this node to its first segment indexed here.
pub static TAKEOVER_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    register_histogram!(
        "vms_camera_takeover_seconds",
        "seconds from a camera being placed on this node to its first segment indexed here",
        vec![0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0]
    )
    .expect("metric registers")
});
/// Cameras the placement leader moved (or placed for the first time).
pub static PLACEMENT_MOVES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "vms_placement_moves_total",
        "cameras placed or moved by the placement leader"
    )
    .expect("metric registers")
});
