//! Live view's metrics: viewers, GOPs dropped for slow viewers, and bytes sent, per camera and
//! transport (`mse`, `webrtc`).

use prometheus::{IntCounterVec, IntGaugeVec};
use prometheus::{register_int_counter_vec, register_int_gauge_vec};
use std::sync::LazyLock;
use vms_messages::CameraId;

/// `vms_live_viewers{camera, transport}`: viewers watching now.
pub(crate) static VIEWERS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "vms_live_viewers",
        "Live viewers watching now, per camera and transport",
        &["camera", "transport"]
    )
    .expect("metric registers")
});

/// `vms_live_dropped_gops_total{camera, transport}`: times a viewer fell behind and skipped to
/// the next keyframe.
pub(crate) static DROPPED_GOPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_live_dropped_gops_total",
        "Times a live viewer fell behind and skipped to the next keyframe",
        &["camera", "transport"]
    )
    .expect("metric registers")
});

/// `vms_live_bytes_total{camera, transport}`: media bytes sent to live viewers.
pub(crate) static BYTES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_live_bytes_total",
        "Media bytes sent to live viewers",
        &["camera", "transport"]
    )
    .expect("metric registers")
});

/// A viewer's labels.
#[derive(Clone, Debug)]
pub(crate) struct Labels {
    camera: String,
    transport: &'static str,
}

impl Labels {
    /// Labels of a viewer of `camera` over `transport`.
    pub(crate) fn new(camera: CameraId, transport: &'static str) -> Self {
        Self {
            camera: camera.to_string(),
            transport,
        }
    }

    /// As prometheus takes them.
    pub(crate) fn as_slice(&self) -> [&str; 2] {
        [&self.camera, self.transport]
    }

    /// Counts `n` bytes sent.
    pub(crate) fn sent(&self, n: usize) {
        BYTES
            .with_label_values(&self.as_slice())
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }
}
