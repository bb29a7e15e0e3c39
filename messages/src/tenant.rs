//! Tenants and their licence limits.

use crate::error::FieldError;
use crate::ids::TenantId;
use crate::validate::{validate_name, validate_range};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Default camera limit of a new tenant's licence.
pub const DEFAULT_MAX_CAMERAS: u32 = 16;
/// Default retention of a new tenant's licence, in days.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;
/// Highest camera limit a licence may state.
pub const MAX_CAMERAS_LIMIT: u32 = 100_000;
/// Longest retention a licence may state, in days.
pub const MAX_RETENTION_DAYS: u32 = 3650;
/// Smallest storage quota a licence may state, in bytes (1 MiB: less holds no segment).
pub const MIN_STORAGE_QUOTA_BYTES: u64 = 1 << 20;
/// Largest storage quota a licence may state, in bytes (1 EiB).
pub const MAX_STORAGE_QUOTA_BYTES: u64 = 1 << 60;
/// Smallest and largest inference share a licence may state.
pub const INFERENCE_SHARE_RANGE: (u32, u32) = (1, 1000);
/// Inference share of a new tenant's licence.
pub const DEFAULT_INFERENCE_SHARE: u32 = 1;
/// Shortest and longest time a tenant may give operators to acknowledge a ticket, in seconds.
pub const ACK_SLA_RANGE: (u32, u32) = (1, 604_800);

/// A tenant: a customer whose cameras and recordings are kept apart from everyone else's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// Tenant id.
    pub id: TenantId,
    /// Unique display name.
    pub name: String,
    /// Licence: most cameras this tenant may have.
    pub max_cameras: u32,
    /// Licence: longest time recordings are kept, in days.
    pub retention_days: u32,
    /// Licence: detectors this tenant may run (model names); empty for none.
    pub allowed_detectors: Vec<String>,
    /// Licence: when it ends; from then on recording stops (recordings are kept). `null` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Seconds operators have to acknowledge a new ticket before it is escalated; `null` for no limit.
    pub ack_sla_seconds: Option<u32>,
    /// Licence: most bytes of footage kept, over all tiers (each segment counted once); the oldest
    /// footage not under an evidence hold is deleted beyond it. `null` for no quota.
    pub storage_quota_bytes: Option<u64>,
    /// Licence: the tenant's weight against the others when detectors are busy; within a priority,
    /// tenants are served in proportion to their shares.
    pub inference_share: u32,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create a tenant.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Unique display name (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Licence: most cameras (default 16).
    #[serde(default)]
    #[schema(maximum = 100_000)]
    pub max_cameras: Option<u32>,
    /// Licence: retention in days (default 30).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<u32>,
    /// Licence: detectors this tenant may run (default none).
    #[serde(default)]
    #[schema(max_items = 64)]
    pub allowed_detectors: Vec<String>,
    /// Licence: end (RFC 3339); absent for never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Seconds to acknowledge a new ticket before it is escalated, 1-604800 (default: no limit).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 604_800)]
    pub ack_sla_seconds: Option<u32>,
    /// Licence: storage quota in bytes, 1 MiB to 1 EiB (default: none).
    #[serde(default)]
    #[schema(minimum = 1_048_576, maximum = 1.152_921_504_606_847e18)]
    pub storage_quota_bytes: Option<u64>,
    /// Licence: inference share, 1-1000 (default 1).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub inference_share: Option<u32>,
}

impl TenantCreate {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        if let Some(n) = self.max_cameras {
            validate_range("max_cameras", n, 0, MAX_CAMERAS_LIMIT)?;
        }
        if let Some(d) = self.retention_days {
            validate_range("retention_days", d, 1, MAX_RETENTION_DAYS)?;
        }
        if let Some(s) = self.ack_sla_seconds {
            validate_range("ack_sla_seconds", s, ACK_SLA_RANGE.0, ACK_SLA_RANGE.1)?;
        }
        if let Some(q) = self.storage_quota_bytes {
            validate_quota(q)?;
        }
        validate_share(self.inference_share)?;
        validate_detectors("allowed_detectors", &self.allowed_detectors)
    }
}

/// Request body to change a tenant; absent fields stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// New name.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
    /// New camera limit; refused when below the tenant's current camera count.
    #[serde(default)]
    #[schema(maximum = 100_000)]
    pub max_cameras: Option<u32>,
    /// New retention in days.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<u32>,
    /// Replaces the allowed detectors.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub allowed_detectors: Option<Vec<String>>,
    /// New licence end; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New acknowledgement limit in seconds (1-604800); `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 604_800)]
    pub ack_sla_seconds: Option<Option<u32>>,
    /// New storage quota in bytes (1 MiB to 1 EiB); `null` removes it. Lowering it below what is
    /// stored deletes the oldest footage not under a hold at the next retention sweep.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>, minimum = 1_048_576, maximum = 1.152_921_504_606_847e18)]
    pub storage_quota_bytes: Option<Option<u64>>,
    /// New inference share (1-1000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub inference_share: Option<u32>,
}

/// A storage quota within [`MIN_STORAGE_QUOTA_BYTES`] and [`MAX_STORAGE_QUOTA_BYTES`].
fn validate_quota(bytes: u64) -> Result<(), FieldError> {
    validate_range(
        "storage_quota_bytes",
        bytes,
        MIN_STORAGE_QUOTA_BYTES,
        MAX_STORAGE_QUOTA_BYTES,
    )
}

/// An inference share within [`INFERENCE_SHARE_RANGE`], when given.
fn validate_share(share: Option<u32>) -> Result<(), FieldError> {
    match share {
        Some(s) => validate_range(
            "inference_share",
            s,
            INFERENCE_SHARE_RANGE.0,
            INFERENCE_SHARE_RANGE.1,
        ),
        None => Ok(()),
    }
}

/// Tells an absent field (`None`, via `default`) from an explicit `null` (`Some(None)`).
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Detector names: at most 64, each `[a-z0-9_-]{1,64}`.
pub fn validate_detectors(field: &'static str, names: &[String]) -> Result<(), FieldError> {
    if names.len() > 64 {
        return Err(FieldError::new(field, "at most 64 detectors"));
    }
    for n in names {
        let ok = !n.is_empty()
            && n.len() <= 64
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
        if !ok {
            return Err(FieldError::new(
                field,
                format!("detector name {n:?} must match [a-z0-9_-]{{1,64}}"),
            ));
        }
    }
    Ok(())
}

impl TenantUpdate {
    /// Checks every present field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(name) = &self.name {
            validate_name("name", name)?;
        }
        if let Some(n) = self.max_cameras {
            validate_range("max_cameras", n, 0, MAX_CAMERAS_LIMIT)?;
        }
        if let Some(d) = self.retention_days {
            validate_range("retention_days", d, 1, MAX_RETENTION_DAYS)?;
        }
        if let Some(names) = &self.allowed_detectors {
            validate_detectors("allowed_detectors", names)?;
        }
        if let Some(Some(s)) = self.ack_sla_seconds {
            validate_range("ack_sla_seconds", s, ACK_SLA_RANGE.0, ACK_SLA_RANGE.1)?;
        }
        if let Some(Some(q)) = self.storage_quota_bytes {
            validate_quota(q)?;
        }
        validate_share(self.inference_share)
    }
}

impl Tenant {
    /// Whether the licence has ended at `now`.
    pub fn licence_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The longest period one usage answer covers.
pub const MAX_USAGE_DAYS: i64 = 366;

/// What a tenant used over a period, as `GET /tenants/{id}/usage` answers it (for billing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantUsage {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period.
    pub to: DateTime<Utc>,
    /// Hours of footage recorded in the period, over all its cameras.
    pub camera_hours: f64,
    /// Seconds detectors spent on its frames in the period, on every node (counted by the hour).
    pub detector_seconds: f64,
    /// Frames its detectors looked at in the period.
    pub frames_detected: u64,
    /// Bytes of its footage stored now.
    pub bytes_stored: u64,
    /// Byte-hours of footage kept in the period: for each hour its `TenantActor` sampled, the most
    /// bytes it kept in that hour, summed (GiB-months: divide by 2^30 and by 730). Hours when no
    /// node held the tenant's lease add nothing.
    pub stored_byte_hours: f64,
    /// Its cameras now.
    pub cameras: u32,
}

/// Checks a usage period: `to` after `from`, at most [`MAX_USAGE_DAYS`] long.
pub fn validate_usage_period(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), FieldError> {
    if to <= from {
        return Err(FieldError::new("to", "to must be after from"));
    }
    if to - from > chrono::Duration::days(MAX_USAGE_DAYS) {
        return Err(FieldError::new(
            "from",
            format!("a usage period covers at most {MAX_USAGE_DAYS} days"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inference_share_is_between_1_and_1000_by_name() {
        for bad in [0, 1001] {
            let create = TenantCreate {
                name: "acme".into(),
                inference_share: Some(bad),
                ..Default::default()
            };
            assert_eq!(
                create.validate().map_err(|e| e.field),
                Err("inference_share")
            );
            let update = TenantUpdate {
                inference_share: Some(bad),
                ..Default::default()
            };
            assert_eq!(
                update.validate().map_err(|e| e.field),
                Err("inference_share")
            );
        }
        let update: TenantUpdate =
            serde_json::from_str(r#"{"inference_share": 1000}"#).expect("parses");
        assert_eq!(update.validate(), Ok(()));
    }

    #[test]
    fn a_storage_quota_is_at_least_a_mebibyte_and_null_removes_it() {
        let create = |q| TenantCreate {
            name: "acme".into(),
            storage_quota_bytes: Some(q),
            ..Default::default()
        };
        assert!(create(1 << 30).validate().is_ok());
        for bad in [0, 1000, u64::MAX] {
            let e = create(bad).validate().expect_err("refused");
            assert_eq!(e.field, "storage_quota_bytes");
        }
        let update: TenantUpdate =
            serde_json::from_str(r#"{"storage_quota_bytes": null}"#).expect("parses");
        assert_eq!(update.storage_quota_bytes, Some(None));
        assert!(update.validate().is_ok());
        let update: TenantUpdate =
            serde_json::from_str(r#"{"storage_quota_bytes": 5}"#).expect("parses");
        assert_eq!(
            update.validate().expect_err("refused").field,
            "storage_quota_bytes"
        );
    }
}
