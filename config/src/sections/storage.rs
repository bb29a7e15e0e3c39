//! The `[storage]` section: the S3-compatible object store segments move to, and how long nodes
//! keep their local copies.

use crate::secrets::read_secret;
use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Object-storage tier settings. With no `s3_endpoint`, footage stays on the nodes' disks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// S3 endpoint URL (`http://127.0.0.1:3900` for the setup script's Garage; any S3: AWS, Ceph
    /// RGW, MinIO, Garage clusters). Empty: no object-storage tier.
    pub s3_endpoint: String,
    /// Bucket the segments go to.
    pub s3_bucket: String,
    /// Region the endpoint signs requests for (`garage` for Garage).
    pub s3_region: String,
    /// Access key id.
    pub s3_access_key_id: String,
    /// File holding the secret access key (a mounted secret).
    #[serde(deserialize_with = "forms::optional_path")]
    pub s3_secret_access_key_file: Option<PathBuf>,
    /// A segment is uploaded once it ended this long ago.
    pub tier_after_seconds: u32,
    /// Local copies of uploaded segments are dropped once they ended this many hours ago (sooner
    /// under disk pressure); fractions are allowed (`0.5`).
    pub local_hours: f64,
    /// How often the node looks for segments to upload and local copies to drop.
    pub upload_interval_seconds: u32,
    /// Uploads in flight at once per node.
    pub upload_concurrency: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            s3_endpoint: String::new(),
            s3_bucket: "vms".into(),
            s3_region: "garage".into(),
            s3_access_key_id: String::new(),
            s3_secret_access_key_file: None,
            tier_after_seconds: 300,
            local_hours: 24.0,
            upload_interval_seconds: 10,
            upload_concurrency: 4,
        }
    }
}

/// Where and how to reach the object store, secrets read.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectStoreSettings {
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for ObjectStoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreSettings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl StorageConfig {
    /// The object store to tier to, its secret read from its file; `None` when none is set.
    pub fn object_store(&self) -> Result<Option<ObjectStoreSettings>, ConfigError> {
        if self.s3_endpoint.is_empty() {
            return Ok(None);
        }
        let secret = match &self.s3_secret_access_key_file {
            Some(path) => read_secret(path)?,
            None => String::new(),
        };
        Ok(Some(ObjectStoreSettings {
            endpoint: self.s3_endpoint.clone(),
            bucket: self.s3_bucket.clone(),
            region: self.s3_region.clone(),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: secret,
        }))
    }

    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.s3_endpoint.is_empty() {
            if !self.s3_endpoint.starts_with("http://") && !self.s3_endpoint.starts_with("https://")
            {
                return Err(invalid(
                    "storage.s3_endpoint",
                    "must start with http:// or https://",
                ));
            }
            let bucket_ok = (3..=63).contains(&self.s3_bucket.len())
                && self
                    .s3_bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
            if !bucket_ok {
                return Err(invalid(
                    "storage.s3_bucket",
                    "must be 3-63 characters of a-z, 0-9, '-' and '.'",
                ));
            }
            if self.s3_access_key_id.is_empty() || self.s3_secret_access_key_file.is_none() {
                return Err(invalid(
                    "storage.s3_access_key_id",
                    "storage.s3_endpoint needs storage.s3_access_key_id and storage.s3_secret_access_key_file",
                ));
            }
        }
        if !(1..=30 * 86_400).contains(&self.tier_after_seconds) {
            return Err(invalid(
                "storage.tier_after_seconds",
                "must be between 1 and 2592000 (30 days)",
            ));
        }
        if !(self.local_hours > 0.0 && self.local_hours <= 24.0 * 36_500.0) {
            return Err(invalid(
                "storage.local_hours",
                "must be positive and at most 876000 (100 years)",
            ));
        }
        if self.local_hours * 3600.0 < f64::from(self.tier_after_seconds) {
            return Err(invalid(
                "storage.local_hours",
                "must keep local copies at least storage.tier_after_seconds",
            ));
        }
        if !(1..=3600).contains(&self.upload_interval_seconds) {
            return Err(invalid(
                "storage.upload_interval_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=64).contains(&self.upload_concurrency) {
            return Err(invalid(
                "storage.upload_concurrency",
                "must be between 1 and 64",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_store() -> StorageConfig {
        StorageConfig {
            s3_endpoint: "http://127.0.0.1:3900".into(),
            s3_access_key_id: "GK0123".into(),
            s3_secret_access_key_file: Some("/run/secrets/s3".into()),
            ..StorageConfig::default()
        }
    }

    fn key_at_fault(c: &StorageConfig) -> String {
        match c.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn no_store_by_default_and_a_complete_one_validates() {
        let none = StorageConfig::default();
        none.validate().expect("defaults");
        assert_eq!(none.object_store().expect("reads"), None);
        with_store().validate().expect("a complete store");
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases: Vec<(StorageConfig, &str)> = vec![
            (
                StorageConfig {
                    s3_endpoint: "ftp://x".into(),
                    ..with_store()
                },
                "storage.s3_endpoint",
            ),
            (
                StorageConfig {
                    s3_bucket: "Bad_Bucket".into(),
                    ..with_store()
                },
                "storage.s3_bucket",
            ),
            (
                StorageConfig {
                    s3_secret_access_key_file: None,
                    ..with_store()
                },
                "storage.s3_access_key_id",
            ),
            (
                StorageConfig {
                    tier_after_seconds: 0,
                    ..with_store()
                },
                "storage.tier_after_seconds",
            ),
            (
                StorageConfig {
                    local_hours: f64::NAN,
                    ..with_store()
                },
                "storage.local_hours",
            ),
            (
                StorageConfig {
                    local_hours: 0.01,
                    tier_after_seconds: 300,
                    ..with_store()
                },
                "storage.local_hours",
            ),
            (
                StorageConfig {
                    upload_concurrency: 0,
                    ..with_store()
                },
                "storage.upload_concurrency",
            ),
        ];
        for (config, key) in cases {
            assert_eq!(key_at_fault(&config), key);
        }
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let settings = ObjectStoreSettings {
            endpoint: "http://s3".into(),
            bucket: "vms".into(),
            region: "garage".into(),
            access_key_id: "GK1".into(),
            secret_access_key: "very-secret-value".into(),
        };
        assert!(!format!("{settings:?}").contains("very-secret-value"));
    }
}
