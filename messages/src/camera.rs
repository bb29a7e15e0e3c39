//! Cameras: configuration, requests and live status.

use crate::error::FieldError;
use crate::ids::{CameraId, TenantId};
use crate::tenant::MAX_RETENTION_DAYS;
use crate::validate::{validate_labels, validate_name, validate_range, validate_rtsp_url};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A camera's stored configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Camera {
    /// Camera id.
    pub id: CameraId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Name, unique within the tenant.
    pub name: String,
    /// RTSP URL of the stream to record.
    pub url: String,
    /// Whether the camera records.
    pub enabled: bool,
    /// Retention in days; `null` means the tenant's licence retention.
    pub retention_days: Option<u32>,
    /// Free-form labels (`site`, `zone`, ...).
    pub labels: BTreeMap<String, String>,
    /// Analytics sampling: frames a second decoded for the detectors (decodes every frame, about
    /// 12-15 % of a core at 1080p); `null`: keyframes only (about 0.5 %).
    pub sample_fps: Option<u32>,
    /// When the camera was created.
    pub created_at: DateTime<Utc>,
    /// When the camera's configuration last changed.
    pub updated_at: DateTime<Utc>,
}

/// Request body to add a camera.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraCreate {
    /// Owning tenant; defaults to the caller's. Platform admins must give it.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    /// Name, unique within the tenant.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// RTSP URL (`rtsp://` or `rtsps://`).
    #[schema(
        max_length = 2048,
        pattern = "^[Rr][Tt][Ss][Pp][Ss]?://[A-Za-z0-9._:\\[\\]-]+([:/?#@][^\\s]*)?$"
    )]
    pub url: String,
    /// Whether to record (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Retention in days; absent means the tenant's.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<u32>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Analytics sampling in frames a second, 1-30 (default: keyframes only).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 30)]
    pub sample_fps: Option<u32>,
}

/// Most frames a second a camera may be sampled at.
pub const MAX_SAMPLE_FPS: u32 = 30;

fn default_true() -> bool {
    true
}

impl CameraCreate {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        validate_rtsp_url("url", &self.url)?;
        if let Some(d) = self.retention_days {
            validate_range("retention_days", d, 1, MAX_RETENTION_DAYS)?;
        }
        if let Some(f) = self.sample_fps {
            validate_range("sample_fps", f, 1, MAX_SAMPLE_FPS)?;
        }
        validate_labels("labels", &self.labels)
    }
}

/// Request body to change a camera; absent fields stay as they are. Takes effect live.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraUpdate {
    /// New name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    /// New RTSP URL; the camera reconnects.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^[Rr][Tt][Ss][Pp][Ss]?://[A-Za-z0-9._:\\[\\]-]+([:/?#@][^\\s]*)?$"
    )]
    pub url: Option<String>,
    /// Start or stop recording.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New retention in days.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<u32>,
    /// Replaces all labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    /// New analytics sampling in frames a second (1-30); `null`: keyframes only. The camera restarts.
    #[serde(default, deserialize_with = "crate::tenant::present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 30)]
    pub sample_fps: Option<Option<u32>>,
}

impl CameraUpdate {
    /// Checks every present field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(name) = &self.name {
            validate_name("name", name)?;
        }
        if let Some(url) = &self.url {
            validate_rtsp_url("url", url)?;
        }
        if let Some(d) = self.retention_days {
            validate_range("retention_days", d, 1, MAX_RETENTION_DAYS)?;
        }
        if let Some(labels) = &self.labels {
            validate_labels("labels", labels)?;
        }
        if let Some(Some(f)) = self.sample_fps {
            validate_range("sample_fps", f, 1, MAX_SAMPLE_FPS)?;
        }
        Ok(())
    }
}

/// Where a camera's recording stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Not recording because it is disabled.
    Disabled,
    /// Opening the RTSP session.
    Connecting,
    /// Receiving frames and recording.
    Streaming,
    /// Lost the stream; waiting to reconnect (see `reason`).
    Backoff,
    /// Cannot record until something changes (see `reason`); retried slowly.
    Failed,
    /// Recording stopped by the tenant's licence (expired); recordings are kept.
    Suspended,
    /// No node is running this camera at the moment.
    Unknown,
}

impl CameraState {
    /// The state as written in status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Connecting => "connecting",
            Self::Streaming => "streaming",
            Self::Backoff => "backoff",
            Self::Failed => "failed",
            Self::Suspended => "suspended",
            Self::Unknown => "unknown",
        }
    }
}

/// Live status of a camera, reported by the node that records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraStatus {
    /// Current state.
    pub state: CameraState,
    /// Why the camera is in `backoff` or `failed`, or what it last recovered from.
    pub reason: Option<String>,
    /// Frames per second over the last few seconds.
    pub fps: f64,
    /// Bits per second over the last few seconds.
    pub bitrate_bps: f64,
    /// Wall-clock time of the last frame received.
    pub last_frame_at: Option<DateTime<Utc>>,
    /// Node running the camera.
    pub node: Option<String>,
    /// Reconnections since the camera actor started.
    pub reconnects: u64,
    /// Segments written since the camera actor started.
    pub segments_written: u64,
    /// When the camera entered its current state.
    pub since: DateTime<Utc>,
}

impl CameraStatus {
    /// The status of a camera no node reports on.
    pub fn unknown() -> Self {
        Self {
            state: CameraState::Unknown,
            reason: Some("no node is running this camera".into()),
            fps: 0.0,
            bitrate_bps: 0.0,
            last_frame_at: None,
            node: None,
            reconnects: 0,
            segments_written: 0,
            since: Utc::now(),
        }
    }
}

/// A camera with its live status, as `GET /cameras/{id}` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraView {
    /// Stored configuration.
    #[serde(flatten)]
    pub camera: Camera,
    /// Live status.
    pub status: CameraStatus,
}
