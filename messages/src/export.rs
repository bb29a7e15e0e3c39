//! Exports: one MP4 per camera over a time range, remuxed from the recorded segments, each with
//! a manifest signed by the cluster's Ed25519 export key. An export holds its footage against
//! retention until it is deleted.

use crate::error::FieldError;
use crate::ids::{CameraId, TenantId};
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most cameras one export covers.
pub const MAX_EXPORT_CAMERAS: usize = 16;
/// The `format` of every manifest this version writes.
pub const MANIFEST_FORMAT: &str = "vms-export-manifest/1";

/// Request body of an export.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCreate {
    /// One camera (or use `camera_ids`).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub camera_id: Option<CameraId>,
    /// Several cameras, 1-16 (or use `camera_id`).
    #[schema(value_type = Option<Vec<String>>)]
    pub camera_ids: Option<Vec<CameraId>>,
    /// Start of the footage (RFC 3339).
    pub from: DateTime<Utc>,
    /// End of the footage (RFC 3339): after `from`, at most `exports.max_hours` later.
    pub to: DateTime<Utc>,
    /// Why it is exported (a case number; 1-128 characters; default "export").
    pub reason: Option<String>,
}

impl ExportCreate {
    /// The cameras asked for (duplicates dropped), or the field at fault.
    pub fn cameras(&self) -> Result<Vec<CameraId>, FieldError> {
        let mut cameras = match (&self.camera_id, &self.camera_ids) {
            (Some(one), None) => vec![*one],
            (None, Some(many)) => many.clone(),
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "camera_ids",
                    "give camera_id or camera_ids, not both",
                ));
            }
            (None, None) => return Err(FieldError::new("camera_id", "is required")),
        };
        cameras.sort_by_key(|c| c.0);
        cameras.dedup();
        if cameras.is_empty() || cameras.len() > MAX_EXPORT_CAMERAS {
            return Err(FieldError::new(
                "camera_ids",
                format!("must name 1-{MAX_EXPORT_CAMERAS} cameras"),
            ));
        }
        Ok(cameras)
    }

    /// Checks every field against an export range of at most `max_hours`, naming the first at
    /// fault.
    pub fn validate(&self, max_hours: i64) -> Result<Vec<CameraId>, FieldError> {
        let cameras = self.cameras()?;
        crate::video::validate_range(self.from, self.to, max_hours)?;
        if let Some(reason) = &self.reason {
            validate_name("reason", reason)?;
        }
        Ok(cameras)
    }
}

/// Where an export (or one of its files) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Waiting to start.
    Queued,
    /// Being written.
    Running,
    /// Written; ready to download.
    Done,
    /// It could not be written (see `error`).
    Failed,
}

impl ExportState {
    /// The name stored in PostgreSQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// The state named `name` (`failed` for anything unknown).
    pub fn from_name(name: &str) -> Self {
        match name {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            _ => Self::Failed,
        }
    }
}

/// One camera's file of an export.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportFile {
    /// The camera.
    pub camera_id: CameraId,
    /// Where it stands.
    pub state: ExportState,
    /// Segments written so far.
    pub segments_done: u32,
    /// Segments it covers.
    pub segments_total: u32,
    /// Size of the MP4 once written.
    pub bytes: Option<u64>,
    /// SHA-256 of the MP4 (hex) once written.
    pub sha256: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Where to download the MP4 (with HTTP Range).
    pub download_url: String,
    /// Where to download its signed manifest.
    pub manifest_url: String,
}

/// An export job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Export {
    /// Export id.
    pub id: Uuid,
    /// The cameras' tenant.
    pub tenant_id: TenantId,
    /// Start of the footage.
    pub from: DateTime<Utc>,
    /// End of the footage.
    pub to: DateTime<Utc>,
    /// Why it was exported.
    pub reason: String,
    /// Where it stands: `done` once every file is written, `failed` if any failed.
    pub state: ExportState,
    /// Progress, 0-100.
    pub progress_percent: u8,
    /// The node writing (and serving) its files.
    pub node: String,
    /// Who exported it.
    pub created_by: String,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
    /// One file per camera.
    pub files: Vec<ExportFile>,
}

/// A page of exports.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportPage {
    /// Exports, newest first.
    pub items: Vec<Export>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The exported file a manifest speaks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestFile {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// A segment an export was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ManifestSegment {
    /// Segment id.
    pub id: i64,
    /// The camera's sequence number of it.
    pub seq: i64,
    /// Its first frame.
    pub start: DateTime<Utc>,
    /// Just after its last frame.
    pub end: DateTime<Utc>,
    /// Its size in bytes.
    pub bytes: u64,
    /// The node that recorded it.
    pub node: String,
}

/// What an export's manifest states, and what its signature covers (its JSON as written).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The export.
    pub export_id: Uuid,
    /// The camera's tenant.
    pub tenant_id: TenantId,
    /// The camera.
    pub camera_id: CameraId,
    /// The camera's name when it was exported.
    pub camera_name: String,
    /// Start of the range asked for.
    pub from: DateTime<Utc>,
    /// End of the range asked for.
    pub to: DateTime<Utc>,
    /// The file.
    pub file: ManifestFile,
    /// The segments it was made from, in order.
    pub segments: Vec<ManifestSegment>,
    /// Who exported it (the user's e-mail).
    pub exported_by: String,
    /// When it was written.
    pub exported_at: DateTime<Utc>,
    /// Why it was exported.
    pub reason: String,
}

/// A manifest with its signature: the file `vms verify` checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedManifest {
    /// What is stated.
    pub manifest: ExportManifest,
    /// Always `ed25519`.
    pub algorithm: String,
    /// The signing key's public half (32 bytes, base64).
    pub public_key: String,
    /// Ed25519 signature (base64) of the compact JSON of `manifest`.
    pub signature: String,
}

/// The cluster's export signing key, for verifiers to pin.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExportKey {
    /// Always `ed25519`.
    pub algorithm: String,
    /// Its public half (32 bytes, base64).
    pub public_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(one: Option<CameraId>, many: Option<Vec<CameraId>>, hours: i64) -> ExportCreate {
        let at = |s| DateTime::from_timestamp(s, 0).expect("time");
        ExportCreate {
            camera_id: one,
            camera_ids: many,
            from: at(0),
            to: at(hours * 3600),
            reason: None,
        }
    }

    #[test]
    fn an_export_names_its_cameras_once_and_a_bounded_range() {
        let c = CameraId::new();
        assert_eq!(req(Some(c), None, 1).validate(2).ok(), Some(vec![c]));
        assert_eq!(
            req(None, Some(vec![c, c]), 1).validate(2).ok(),
            Some(vec![c])
        );
        assert_eq!(
            req(None, None, 1).validate(2).unwrap_err().field,
            "camera_id"
        );
        assert_eq!(
            req(Some(c), Some(vec![c]), 1)
                .validate(2)
                .unwrap_err()
                .field,
            "camera_ids"
        );
        assert_eq!(
            req(None, Some(vec![]), 1).validate(2).unwrap_err().field,
            "camera_ids"
        );
        assert_eq!(req(Some(c), None, 3).validate(2).unwrap_err().field, "to");
    }
}
