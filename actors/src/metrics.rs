//! Prometheus metrics of the node, registered in the default registry that `/metrics` renders.

use prometheus::{
    CounterVec, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, register_counter_vec, register_gauge_vec, register_histogram,
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};
use std::sync::LazyLock;

/// Defines each metric as a `LazyLock` static registered in the default registry on first use.
macro_rules! metrics {
    ($($(#[$doc:meta])* $name:ident: $ty:ty = $register:ident!($($arg:tt)*);)*) => {
        $(
            $(#[$doc])*
            pub static $name: LazyLock<$ty> =
                LazyLock::new(|| $register!($($arg)*).expect("metric registers"));
        )*
    };
}

metrics! {
    /// Seconds detectors spent on a tenant's frames on this node (its usage, for billing).
    INFERENCE_BUSY_SECONDS: CounterVec = register_counter_vec!(
        "vms_inference_busy_seconds_total",
        "seconds detectors spent on the tenant's frames",
        &["tenant"],
    );
    /// Frames waiting for a model worker, per model, tenant and priority.
    INFERENCE_QUEUED: IntGaugeVec = register_int_gauge_vec!(
        "vms_inference_queued",
        "frames waiting for a model worker",
        &["model", "tenant", "priority"],
    );
    /// Frames a model worker dropped unrun, per model, tenant, priority and reason (`shed`: the
    /// queue was full and the tenant the most over its share; `expired`: past its deadline).
    INFERENCE_DROPPED: IntCounterVec = register_int_counter_vec!(
        "vms_inference_dropped_total",
        "frames dropped unrun by a model worker",
        &["model", "tenant", "priority", "reason"],
    );
    /// Frames a model worker took for detection, per model, tenant and priority.
    INFERENCE_SERVED: IntCounterVec = register_int_counter_vec!(
        "vms_inference_served_total",
        "frames taken for detection by a model worker",
        &["model", "tenant", "priority"],
    );
    /// Seconds frames waited in a model worker's queue, per model, tenant and priority.
    INFERENCE_WAIT: HistogramVec = register_histogram_vec!(
        "vms_inference_wait_seconds",
        "seconds a frame waited for a model worker",
        &["model", "tenant", "priority"],
        vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0],
    );
    /// Frames handed to a model's replica, by how they went: `local` (this node's), `link`
    /// (ractor_cluster) or `nats` (no link).
    INFERENCE_ROUTED: IntCounterVec = register_int_counter_vec!(
        "vms_inference_routed_total",
        "frames sent to a model worker replica, by path",
        &["model", "via"],
    );
    /// Frames sent again because their replica went away before answering.
    INFERENCE_RESENT: IntCounterVec = register_int_counter_vec!(
        "vms_inference_resent_total",
        "frames sent again to another replica after theirs went away",
        &["model"],
    );
    /// What crossing to another node's replica cost a frame: its round trip less its time there.
    INFERENCE_CROSSING: Histogram = register_histogram!(
        "vms_inference_crossing_seconds",
        "round trip of a frame to another node's replica, less its time there",
        vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    );
    /// Frames or answers over NATS refused because their seal did not verify.
    FRAMES_REFUSED: IntCounter = register_int_counter!(
        "vms_inference_frames_refused_total",
        "frames or answers over NATS without a valid cluster seal",
    );
    /// Model worker replicas this node runs (1 or 0 per model).
    MODEL_REPLICAS: IntGaugeVec = register_int_gauge_vec!(
        "vms_model_replicas",
        "model worker replicas running on this node",
        &["model"],
    );
    /// Tenant leases this node holds (its `TenantActor`s that lead).
    TENANT_LEASES: IntGauge = register_int_gauge!(
        "vms_tenant_leases",
        "tenant leases this node holds: its tenant actors that lead",
    );
    /// A tenant's licence and usage, exported by the node holding its lease only (so a sum over
    /// the nodes counts each tenant once).
    TENANT_USAGE: GaugeVec = register_gauge_vec!(
        "vms_tenant_usage",
        "a tenant's usage and licence limits, from the node that holds its lease: measure is cameras, max_cameras, bytes_stored, storage_quota_bytes, camera_hours_month, detector_seconds_month, inference_share, lease_epoch or licence_expired",
        &["tenant", "measure"],
    );
    /// Times a tenant actor told the cluster its tenant was over its storage quota.
    TENANT_OVER_QUOTA: IntCounterVec = register_int_counter_vec!(
        "vms_tenant_over_quota_total",
        "times a tenant's actor found it over its storage quota and told the nodes",
        &["tenant"],
    );
    /// Ticket actors (SLA timers) running on this node.
    TICKET_ACTORS: IntGauge = register_int_gauge!(
        "vms_ticket_actors",
        "ticket actors (SLA timers) running on this node",
    );
    /// Frames per second received, per camera.
    CAMERA_FPS: GaugeVec =
        register_gauge_vec!("vms_camera_fps", "frames per second received", &["camera"]);
    /// Bits per second received, per camera.
    CAMERA_BITRATE: GaugeVec =
        register_gauge_vec!("vms_camera_bitrate_bps", "bits per second received", &["camera"]);
    /// Video bytes received, per camera.
    CAMERA_BYTES: IntCounterVec =
        register_int_counter_vec!("vms_camera_bytes_total", "video bytes received", &["camera"]);
    /// Frames received, per camera.
    CAMERA_FRAMES: IntCounterVec =
        register_int_counter_vec!("vms_camera_frames_total", "frames received", &["camera"]);
    /// Events a rule raised (a retry of the same event counts again), per camera.
    EVENTS_RAISED: IntCounterVec = register_int_counter_vec!(
        "vms_events_raised_total",
        "events raised by rules, retries included",
        &["camera"],
    );
    /// Events stored for the first time, per camera.
    EVENTS_STORED: IntCounterVec = register_int_counter_vec!(
        "vms_events_stored_total",
        "events stored for the first time",
        &["camera"],
    );
    /// Events waiting in the outbox for PostgreSQL or JetStream.
    OUTBOX_PENDING: IntGauge = register_int_gauge!(
        "vms_events_outbox_pending",
        "events waiting in the outbox for PostgreSQL or JetStream",
    );
    /// Live camera statuses fetched from the node recording the camera, by the way they came
    /// (`link`: the ractor_cluster link; `nats`: the NATS request fallback).
    REMOTE_STATUS: IntCounterVec = register_int_counter_vec!(
        "vms_remote_status_total",
        "camera statuses fetched from the recording node, by way (link, nats)",
        &["via"],
    );
    /// Events stored but not yet published to JetStream.
    OUTBOX_UNPUBLISHED: IntGauge = register_int_gauge!(
        "vms_events_outbox_unpublished",
        "events stored in PostgreSQL and waiting for JetStream",
    );
    /// Events that can never be stored, kept in `outbox/dead/`, by reason.
    EVENTS_DEAD_LETTERS: IntCounterVec = register_int_counter_vec!(
        "vms_events_dead_letters_total",
        "events that can never be stored, kept as dead letters, by reason",
        &["reason"],
    );
    /// Frames the analytics sampler decoded, per camera.
    FRAMES_DECODED: IntCounterVec = register_int_counter_vec!(
        "vms_frames_decoded_total",
        "frames decoded for analytics",
        &["camera"],
    );
    /// Decoded frames handed to the detectors (a camera with enabled rules), per camera.
    FRAMES_SAMPLED: IntCounterVec = register_int_counter_vec!(
        "vms_frames_sampled_total",
        "frames handed to the detectors of a camera's rules",
        &["camera"],
    );
    /// Sampled frames every detector answered, per camera.
    FRAMES_DETECTED: IntCounterVec = register_int_counter_vec!(
        "vms_frames_detected_total",
        "frames every detector of the camera's rules answered",
        &["camera"],
    );
    /// Frames dropped before detection, per camera and stage: `handoff` (the camera's rule task was still
    /// busy with earlier frames) or `detector_queue` (the model worker's queue was full and dropped its
    /// oldest frame).
    FRAMES_DROPPED: IntCounterVec = register_int_counter_vec!(
        "vms_frames_dropped_total",
        "frames dropped before detection, by stage (handoff, detector_queue)",
        &["camera", "stage"],
    );
    /// Segments indexed, per camera.
    CAMERA_SEGMENTS: IntCounterVec =
        register_int_counter_vec!("vms_camera_segments_total", "segments indexed", &["camera"]);
    /// Seconds between a segment's end and its index row, per camera (last segment).
    CAMERA_SEGMENT_LAG: GaugeVec = register_gauge_vec!(
        "vms_camera_segment_lag_seconds",
        "seconds from segment end to index row",
        &["camera"],
    );
    /// Reconnections, per camera.
    CAMERA_RECONNECTS: IntCounterVec =
        register_int_counter_vec!("vms_camera_reconnects_total", "reconnections", &["camera"]);
    /// 1 for the state each camera is in, per camera and state.
    CAMERA_STATE: IntGaugeVec = register_int_gauge_vec!(
        "vms_camera_state",
        "1 for the current state of the camera",
        &["camera", "state"],
    );
    /// Segments waiting to be indexed (the database was unavailable), per camera.
    SEGMENTS_PENDING: IntGaugeVec = register_int_gauge_vec!(
        "vms_segments_pending_index",
        "segments waiting for the database",
        &["camera"],
    );
    /// Segments deleted by retention.
    RETENTION_DELETED: IntCounter = register_int_counter!(
        "vms_retention_deleted_segments_total",
        "segments deleted by retention",
    );
    /// Segments deleted because their tenant was over its storage quota (also in
    /// `vms_retention_deleted_segments_total`).
    RETENTION_QUOTA_DELETED: IntCounter = register_int_counter!(
        "vms_retention_quota_deleted_segments_total",
        "segments deleted because their tenant was over its storage quota",
    );
    /// Notification attempts, by channel kind and outcome (`delivered`, `retry`, `dead`).
    NOTIFICATION_ATTEMPTS: IntCounterVec = register_int_counter_vec!(
        "vms_notification_attempts_total",
        "notification delivery attempts by channel kind and outcome",
        &["kind", "outcome"],
    );
    /// Tickets escalated for missing their tenant's acknowledgement limit.
    TICKETS_ESCALATED: IntCounter = register_int_counter!(
        "vms_tickets_escalated_total",
        "tickets escalated for missing the acknowledgement limit",
    );
    /// Nodes of the cluster as this node sees them, by state (`up`, `down`, `left`).
    CLUSTER_NODES: IntGaugeVec = register_int_gauge_vec!(
        "vms_cluster_nodes",
        "nodes of the cluster as this node sees them, by state",
        &["state"],
    );
    /// Writes refused because they carried a stale ownership epoch, by kind (`segment`, `event`).
    FENCED_WRITES: IntCounterVec = register_int_counter_vec!(
        "vms_fenced_writes_total",
        "writes refused because this node no longer owned the camera at their epoch",
        &["kind"],
    );
    /// Times this node stopped its cameras because it could not reach NATS (so the others took them).
    SELF_FENCES: IntCounter = register_int_counter!(
        "vms_self_fences_total",
        "times this node stopped all its cameras itself after losing its heartbeat",
    );
    /// ractor_cluster sessions this node has with other nodes.
    CLUSTER_LINKS: IntGauge =
        register_int_gauge!("vms_cluster_links", "ractor_cluster sessions with other nodes");
    /// 1 while this node holds the placement lease.
    PLACEMENT_LEADER: IntGauge =
        register_int_gauge!("vms_placement_leader", "1 while this node is the placement leader");
    /// Epoch of the placement lease as this node last saw it held by itself.
    PLACEMENT_EPOCH: IntGauge = register_int_gauge!(
        "vms_placement_epoch",
        "epoch of the placement lease while this node holds it",
    );
    /// Seconds from a camera being placed on this node to its first segment indexed here.
    TAKEOVER_SECONDS: Histogram = register_histogram!(
        "vms_camera_takeover_seconds",
        "seconds from a camera being placed on this node to its first segment indexed here",
        vec![0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0],
    );
    /// Seconds from the capture (arrival) of a fragment's first frame to the fragment being durable
    /// on disk: about the fragment length (1 s) when the node keeps up.
    FRAGMENT_DURABLE_SECONDS: Histogram = register_histogram!(
        "vms_fragment_durable_seconds",
        "seconds from a fragment's first frame arriving to the fragment being on disk (fdatasync)",
        vec![0.5, 1.0, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0],
    );
    /// Seconds one fragment's write and fdatasync took.
    FRAGMENT_WRITE_SECONDS: Histogram = register_histogram!(
        "vms_fragment_write_seconds",
        "seconds one fragment's write and fdatasync took",
        vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    );
    /// Cameras the placement leader moved (or placed for the first time).
    PLACEMENT_MOVES: IntCounter = register_int_counter!(
        "vms_placement_moves_total",
        "cameras placed or moved by the placement leader",
    );
    /// Durable writes the standby's channel had no room for (the standby lags).
    MIRROR_CHUNKS_DROPPED: IntCounter = register_int_counter!(
        "vms_mirror_chunks_dropped_total",
        "fragments not mirrored because the camera's queue to its standby was full",
    );
    /// Fragments the standby made durable and acknowledged.
    MIRROR_ACKED: IntCounter = register_int_counter!(
        "vms_mirror_fragments_acked_total",
        "fragments a standby made durable and acknowledged",
    );
    /// Bytes the standbys acknowledged.
    MIRROR_ACKED_BYTES: IntCounter = register_int_counter!(
        "vms_mirror_bytes_acked_total",
        "bytes of fragments standbys acknowledged",
    );
    /// Fragments not mirrored: no standby, no link to it, or it refused or failed the write.
    MIRROR_FAILED: IntCounterVec = register_int_counter_vec!(
        "vms_mirror_fragments_failed_total",
        "fragments not mirrored, by why (no_standby, no_link, refused)",
        &["reason"],
    );
    /// Bytes of recent segments sent again to their standby: writes it missed, or whole segments
    /// for a new standby.
    MIRROR_RESENT_BYTES: IntCounter = register_int_counter!(
        "vms_mirror_resent_bytes_total",
        "bytes of recent segments resent to a standby that lacked them (missed writes, a new standby)",
    );
    /// Fragments this node wrote as a standby.
    MIRROR_RECEIVED: IntCounter = register_int_counter!(
        "vms_mirror_fragments_received_total",
        "fragments this node made durable as a camera's standby",
    );
    /// How each camera's standby keeps up: 0 in sync, 1 starting, 2 lagging, 3 missing.
    CAMERA_STANDBY_STATE: IntGaugeVec = register_int_gauge_vec!(
        "vms_camera_standby_state",
        "how a camera's standby copy keeps up: 0 in sync, 1 starting, 2 lagging, 3 missing (no standby)",
        &["camera"],
    );
    /// Segments uploaded to the object store.
    TIER_UPLOADED: IntCounter = register_int_counter!(
        "vms_tier_segments_uploaded_total",
        "segments uploaded to the object store",
    );
    /// Bytes uploaded to the object store.
    TIER_UPLOADED_BYTES: IntCounter = register_int_counter!(
        "vms_tier_bytes_uploaded_total",
        "bytes of segments uploaded to the object store",
    );
    /// Uploads that failed (they are retried on the next round).
    TIER_UPLOAD_FAILED: IntCounter = register_int_counter!(
        "vms_tier_upload_failures_total",
        "segment uploads to the object store that failed and wait for the next round",
    );
    /// How long after its end a segment was in the object store.
    TIER_UPLOAD_LAG_SECONDS: Histogram = register_histogram!(
        "vms_tier_upload_lag_seconds",
        "seconds from a segment's end to its upload, storage.tier_after_seconds included",
        vec![1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 330.0, 360.0, 600.0, 1800.0, 3600.0],
    );
    /// Segments waiting for upload, as of this node's last round.
    TIER_PENDING: IntGauge = register_int_gauge!(
        "vms_tier_segments_pending",
        "segments this node holds that are due for upload and not yet in the object store",
    );
    /// Local copies dropped because the object store holds the segment.
    TIER_LOCAL_DROPPED: IntCounter = register_int_counter!(
        "vms_tier_local_copies_dropped_total",
        "local segment files dropped because the object store holds them (age or disk pressure)",
    );
    /// Placed cameras with no standby node (no other node can hold their copy); set by the leader.
    CAMERAS_WITHOUT_STANDBY: IntGauge = register_int_gauge!(
        "vms_cameras_without_standby",
        "placed cameras without a standby node (set on the placement leader)",
    );
}

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
    for stage in [
        "handoff",
        "detector_queue",
        "detector_deadline",
        "no_replica",
    ] {
        let _ = FRAMES_DROPPED.remove_label_values(&[camera, stage]);
    }
    let _ = SEGMENTS_PENDING.remove_label_values(&[camera]);
    let _ = CAMERA_STANDBY_STATE.remove_label_values(&[camera]);
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
