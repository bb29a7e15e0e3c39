//! Live view in the API facade: each viewer is an actix actor ([`mse::MseViewer`] over a
//! WebSocket, [`whep::WhepSession`] over WebRTC) fed by the camera's recorder through a bounded
//! broadcast ([`vms_messages::LiveFeed`]). A viewer that falls behind skips to the next keyframe
//! ([`gate::FrameGate`]) rather than buffering; [`ViewerLimits`] caps viewers per camera.

pub(crate) mod gate;
pub(crate) mod llhls;
pub(crate) mod llhls_playlist;
pub(crate) mod metrics;
pub(crate) mod mse;
pub(crate) mod rtp;
pub(crate) mod udp;
pub(crate) mod whep;

use crate::error::ApiError;
use actix_web::http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use vms_config::LiveConfig;
use vms_messages::CameraId;

/// Seconds a refused viewer is told to wait before trying again.
const RETRY_AFTER_SECONDS: u64 = 5;

/// Live view's shared state, app data of the handlers.
pub struct Live {
    /// The `[live]` settings.
    pub config: LiveConfig,
    limits: ViewerLimits,
    /// Open WebRTC sessions, for `DELETE` on their URL.
    pub(crate) whep: whep::WhepSessions,
    /// LL-HLS windows of the cameras being watched that way.
    pub(crate) llhls: llhls::LlHls,
}

impl Live {
    /// Live view under `config`.
    pub fn new(config: LiveConfig) -> Self {
        Self {
            limits: ViewerLimits {
                max: usize::try_from(config.max_viewers_per_camera).unwrap_or(usize::MAX),
                open: Arc::default(),
            },
            config,
            whep: whep::WhepSessions::default(),
            llhls: llhls::LlHls::default(),
        }
    }

    /// A place for one more viewer of `camera` over `transport`, or 429 with `Retry-After` when
    /// it has `live.max_viewers_per_camera`.
    pub(crate) fn viewer_slot(
        &self,
        camera: CameraId,
        transport: &'static str,
    ) -> Result<ViewerSlot, ApiError> {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(camera).or_insert(0);
        if *n >= self.limits.max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_viewers",
                format!(
                    "camera {camera} already has {} viewers on this node (live.max_viewers_per_camera); try again later",
                    self.limits.max
                ),
                None,
            )
            .with_retry_after(RETRY_AFTER_SECONDS));
        }
        *n += 1;
        let labels = metrics::Labels::new(camera, transport);
        metrics::VIEWERS.with_label_values(&labels.as_slice()).inc();
        Ok(ViewerSlot {
            camera,
            labels,
            open: Arc::clone(&self.limits.open),
        })
    }
}

struct ViewerLimits {
    max: usize,
    open: Arc<Mutex<HashMap<CameraId, usize>>>,
}

/// One viewer's place; dropping it (the viewer's actor stopped) frees it.
pub(crate) struct ViewerSlot {
    camera: CameraId,
    labels: metrics::Labels,
    open: Arc<Mutex<HashMap<CameraId, usize>>>,
}

impl ViewerSlot {
    /// The viewer's metric labels (camera, transport).
    pub(crate) fn labels(&self) -> &metrics::Labels {
        &self.labels
    }
}

impl Drop for ViewerSlot {
    fn drop(&mut self) {
        metrics::VIEWERS
            .with_label_values(&self.labels.as_slice())
            .dec();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.camera) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.camera);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_takes_no_more_viewers_than_its_limit() {
        let live = Live::new(LiveConfig {
            max_viewers_per_camera: 2,
            ..LiveConfig::default()
        });
        let camera = CameraId(uuid::Uuid::now_v7());
        let first = live.viewer_slot(camera, "mse").expect("first");
        let _second = live.viewer_slot(camera, "webrtc").expect("second");
        let refused = live
            .viewer_slot(camera, "mse")
            .err()
            .expect("third refused");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECONDS));
        assert!(
            live.viewer_slot(CameraId(uuid::Uuid::now_v7()), "mse")
                .is_ok(),
            "another camera has its own limit"
        );
        drop(first);
        assert!(live.viewer_slot(camera, "mse").is_ok(), "a place came free");
    }
}
