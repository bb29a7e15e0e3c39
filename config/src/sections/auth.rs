//! The `[auth]` section: token lifetimes and the first platform admin.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Identity settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token (JWT), in seconds.
    pub access_ttl_seconds: u64,
    /// Lifetime of a refresh token (a session), in seconds.
    pub refresh_ttl_seconds: u64,
    /// E-mail of the platform admin created on first start.
    pub admin_email: String,
    /// File holding that admin's password; otherwise `VMS_ADMIN_PASSWORD`, otherwise one is generated
    /// and printed once on standard output.
    #[serde(deserialize_with = "forms::optional_path")]
    pub admin_password_file: Option<PathBuf>,
    /// Password hashes computed at once; more wait (bounds the CPU and memory logins can take).
    pub hash_concurrency: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl_seconds: 900,
            refresh_ttl_seconds: 7 * 24 * 3600,
            admin_email: "admin@vms.local".into(),
            admin_password_file: None,
            hash_concurrency: 2,
        }
    }
}

impl AuthConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=86_400).contains(&self.access_ttl_seconds) {
            return Err(invalid(
                "auth.access_ttl_seconds",
                "must be between 60 and 86400",
            ));
        }
        if self.refresh_ttl_seconds < self.access_ttl_seconds {
            return Err(invalid(
                "auth.refresh_ttl_seconds",
                "must be at least auth.access_ttl_seconds",
            ));
        }
        if !self.admin_email.contains('@') {
            return Err(invalid("auth.admin_email", "must be an e-mail address"));
        }
        if !(1..=64).contains(&self.hash_concurrency) {
            return Err(invalid("auth.hash_concurrency", "must be between 1 and 64"));
        }
        Ok(())
    }
}
