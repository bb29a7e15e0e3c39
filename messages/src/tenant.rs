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
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create a tenant.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
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
        Ok(())
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
        Ok(())
    }
}
