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
    /// RTSP URL of the stream to record, never with credentials in it.
    pub url: String,
    /// Whether RTSP credentials are set (they are write-only and never shown).
    #[serde(default)]
    pub has_credentials: bool,
    /// RTSP credentials: never serialised, never logged (`Debug` hides the password).
    #[serde(skip)]
    #[schema(ignore)]
    pub credentials: Option<RtspCredentials>,
    /// Whether the camera records.
    pub enabled: bool,
    /// Retention in days; `null` means the tenant's licence retention.
    pub retention_days: Option<u32>,
    /// Free-form labels (`site`, `zone`, ...).
    pub labels: BTreeMap<String, String>,
    /// Analytics sampling: frames a second decoded for the detectors (decodes every frame, about
    /// 12-15 % of a core at 1080p); `null`: keyframes only (about 0.5 %).
    pub sample_fps: Option<u32>,
    /// How its RTP travels: interleaved on the RTSP connection (`tcp`, the default) or on UDP ports
    /// of its own (`udp`). `rtsps://` URLs always interleave.
    #[serde(default)]
    pub transport: RtspTransport,
    /// When the camera was created.
    pub created_at: DateTime<Utc>,
    /// When the camera's configuration last changed.
    pub updated_at: DateTime<Utc>,
}

/// How a camera's RTP reaches the recorder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    /// Interleaved on the RTSP TCP connection: works through NAT and firewalls.
    #[default]
    Tcp,
    /// RTP and RTCP on UDP ports of their own (LAN cameras that do not interleave well).
    Udp,
}

impl RtspTransport {
    /// The name stored in PostgreSQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }

    /// The transport named `name` (`tcp` for anything unknown).
    pub fn from_name(name: &str) -> Self {
        match name {
            "udp" => Self::Udp,
            _ => Self::Tcp,
        }
    }
}

/// A camera's RTSP user and password (basic or digest, as the camera asks).
#[derive(Clone, PartialEq, Eq)]
pub struct RtspCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for RtspCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Most characters of an RTSP user name or password.
pub const MAX_CREDENTIAL_CHARS: usize = 256;

/// Checks the RTSP `username` and `password` fields that are present.
fn validate_credentials(
    username: Option<&String>,
    password: Option<&String>,
) -> Result<(), FieldError> {
    for (field, value) in [("username", username), ("password", password)] {
        if let Some(v) = value
            && (v.chars().count() > MAX_CREDENTIAL_CHARS || v.chars().any(char::is_control))
        {
            return Err(FieldError::new(
                field,
                format!(
                    "must be at most {MAX_CREDENTIAL_CHARS} characters, none of them control characters"
                ),
            ));
        }
    }
    Ok(())
}

/// Moves `user:password@` out of `url` into `username`/`password` (unless those were given), so a
/// URL is stored and shown without credentials.
fn lift_userinfo(url: &mut String, username: &mut Option<String>, password: &mut Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return;
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some((userinfo, _)) = rest[..authority_end].rsplit_once('@') else {
        return;
    };
    let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    if username.is_none() && password.is_none() {
        *username = Some(user.to_string());
        *password = Some(pass.to_string());
    }
    *url = format!("{scheme}://{}", &rest[userinfo.len() + 1..]);
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
    /// RTSP user name (write-only: never returned). Credentials in `url` are moved here.
    #[serde(default)]
    #[schema(write_only, max_length = 256)]
    pub username: Option<String>,
    /// RTSP password (write-only: never returned).
    #[serde(default)]
    #[schema(write_only, max_length = 256)]
    pub password: Option<String>,
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
    /// RTP transport (default `tcp`).
    #[serde(default)]
    pub transport: RtspTransport,
}

impl CameraCreate {
    /// A camera of `tenant` named `name` recording `url`, enabled, with every other setting at its
    /// default (no credentials, the tenant's retention, no labels, keyframe sampling).
    pub fn new(tenant: TenantId, name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            tenant_id: Some(tenant),
            name: name.into(),
            url: url.into(),
            username: None,
            password: None,
            enabled: true,
            retention_days: None,
            labels: BTreeMap::new(),
            sample_fps: None,
            transport: RtspTransport::Tcp,
        }
    }
}

/// Most frames a second a camera may be sampled at.
pub const MAX_SAMPLE_FPS: u32 = 30;

fn default_true() -> bool {
    true
}

impl CameraCreate {
    /// Checks every field, naming the first one at fault, and moves credentials out of the URL.
    pub fn validate(&mut self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        validate_rtsp_url("url", &self.url)?;
        lift_userinfo(&mut self.url, &mut self.username, &mut self.password);
        validate_credentials(self.username.as_ref(), self.password.as_ref())?;
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
    /// New RTSP user name (write-only); with `password`. Empty strings for both clear them.
    #[serde(default)]
    #[schema(write_only, max_length = 256)]
    pub username: Option<String>,
    /// New RTSP password (write-only).
    #[serde(default)]
    #[schema(write_only, max_length = 256)]
    pub password: Option<String>,
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
    /// New RTP transport. The camera reconnects.
    #[serde(default)]
    pub transport: Option<RtspTransport>,
    /// New analytics sampling in frames a second (1-30); `null`: keyframes only. The camera restarts.
    #[serde(default, deserialize_with = "crate::tenant::present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 30)]
    pub sample_fps: Option<Option<u32>>,
}

impl CameraUpdate {
    /// Checks every present field, naming the first one at fault, and moves credentials out of the
    /// URL.
    pub fn validate(&mut self) -> Result<(), FieldError> {
        if let Some(name) = &self.name {
            validate_name("name", name)?;
        }
        if let Some(url) = &mut self.url {
            validate_rtsp_url("url", url)?;
            lift_userinfo(url, &mut self.username, &mut self.password);
        }
        validate_credentials(self.username.as_ref(), self.password.as_ref())?;
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
    /// How the copy of its footage on its standby node keeps up (with placement; absent without).
    #[serde(default)]
    pub standby: Option<StandbyStatus>,
}

/// Whether a camera's standby holds its footage as it is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StandbySync {
    /// Nothing sent yet (the camera just started here).
    Starting,
    /// The standby acknowledged the latest fragment.
    InSync,
    /// Fragments go unacknowledged: the standby is slow, unreachable or refusing.
    Lagging,
    /// The camera has no standby node: no other node can hold its copy.
    Missing,
}

/// How the copy of a camera's footage on its standby node keeps up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StandbyStatus {
    /// Where it stands.
    pub state: StandbySync,
    /// The standby node, once known.
    pub node: Option<String>,
    /// Why it is lagging or missing.
    pub reason: Option<String>,
    /// Seconds since the standby last acknowledged a fragment.
    pub last_ack_seconds: Option<f64>,
    /// Fragments not mirrored since the camera started on this node.
    pub fragments_missed: u64,
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
            standby: None,
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

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let (mut url, mut user, mut pass) = (
            "rtsp://alice:s3:cret@cam.local:554/live".to_string(),
            None,
            None,
        );
        lift_userinfo(&mut url, &mut user, &mut pass);
        assert_eq!(url, "rtsp://cam.local:554/live");
        assert_eq!(
            (user.as_deref(), pass.as_deref()),
            (Some("alice"), Some("s3:cret"))
        );
        let mut plain = "rtsp://cam.local/a@b".to_string();
        lift_userinfo(&mut plain, &mut user, &mut pass);
        assert_eq!(plain, "rtsp://cam.local/a@b");
        let shown = format!(
            "{:?}",
            RtspCredentials {
                username: "u".into(),
                password: "hidden".into()
            }
        );
        assert!(!shown.contains("hidden"), "{shown}");
    }
}
