//! The whole node's configuration: its own keys, its sections, and the checks that span sections.

use crate::secrets::{read_secret, url_password, weak_secret};
use crate::sections::{
    AnalyticsConfig, ApiConfig, AuthConfig, ClusterConfig, ExportsConfig, LiveConfig, NatsConfig,
    NotificationsConfig, PostgresConfig, RecordingConfig, RetentionConfig, StorageConfig,
};
use crate::{CONFIG_VERSION, ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Configuration of one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Config format version; must be [`CONFIG_VERSION`].
    pub version: u32,
    /// `development` (the default) or `production`, which refuses insecure settings such as a missing
    /// cluster cookie.
    pub mode: Mode,
    /// Node id, unique in the cluster (`[a-z0-9-]`, 1-63 characters).
    pub node_id: String,
    /// Where segments and durable buffers live.
    pub data_dir: PathBuf,
    /// HTTP API.
    pub api: ApiConfig,
    /// PostgreSQL.
    pub postgres: PostgresConfig,
    /// NATS.
    pub nats: NatsConfig,
    /// Recording.
    pub recording: RecordingConfig,
    /// Retention.
    pub retention: RetentionConfig,
    /// Users, sessions and tokens.
    pub auth: AuthConfig,
    /// Links between nodes (ractor_cluster).
    pub cluster: ClusterConfig,
    /// Detection on sampled keyframes.
    pub analytics: AnalyticsConfig,
    /// Webhook and e-mail notifications, and ticket escalation.
    pub notifications: NotificationsConfig,
    /// The object-storage tier.
    pub storage: StorageConfig,
    /// Exports of recorded video.
    pub exports: ExportsConfig,
    /// Live view.
    pub live: LiveConfig,
}

/// How strict the node is about its own settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Convenient defaults for a laptop or a test.
    #[default]
    Development,
    /// Refuses insecure settings.
    Production,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            node_id: "node-1".into(),
            data_dir: PathBuf::from("/var/lib/vms"),
            api: ApiConfig::default(),
            postgres: PostgresConfig::default(),
            nats: NatsConfig::default(),
            recording: RecordingConfig::default(),
            retention: RetentionConfig::default(),
            mode: Mode::Development,
            auth: AuthConfig::default(),
            cluster: ClusterConfig::default(),
            analytics: AnalyticsConfig::default(),
            notifications: NotificationsConfig::default(),
            storage: StorageConfig::default(),
            exports: ExportsConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Checks every value, naming the first key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != CONFIG_VERSION {
            return Err(invalid(
                "version",
                format!(
                    "this build reads version {CONFIG_VERSION}, got {}",
                    self.version
                ),
            ));
        }
        let id_ok = (1..=63).contains(&self.node_id.len())
            && self
                .node_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err(invalid(
                "node_id",
                format!("must match [a-z0-9-]{{1,63}}, got {:?}", self.node_id),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("data_dir", "must not be empty"));
        }
        self.api.validate()?;
        self.postgres.validate()?;
        self.nats.validate()?;
        self.recording.validate()?;
        self.auth.validate()?;
        self.analytics.validate()?;
        self.cluster.validate()?;
        if self.mode == Mode::Production {
            self.api.validate_production()?;
            self.cluster.validate_production()?;
            self.validate_production_secrets()?;
        }
        self.notifications.validate()?;
        self.storage.validate()?;
        self.exports.validate()?;
        self.live.validate()?;
        self.retention.validate()
    }

    /// Production refuses placeholder and low-entropy secrets wherever the config names one: the
    /// first admin's password file, the password in `postgres.url`, NATS's password or token file.
    fn validate_production_secrets(&self) -> Result<(), ConfigError> {
        let mut secrets: Vec<(&str, String)> = Vec::new();
        if let Some(p) = &self.auth.admin_password_file {
            secrets.push(("auth.admin_password_file", read_secret(p)?));
        }
        if let Some(p) = &self.nats.password_file {
            secrets.push(("nats.password_file", read_secret(p)?));
        }
        if let Some(p) = &self.nats.token_file {
            secrets.push(("nats.token_file", read_secret(p)?));
        }
        if let Some(p) = &self.storage.s3_secret_access_key_file {
            secrets.push(("storage.s3_secret_access_key_file", read_secret(p)?));
        }
        if let Some(password) = url_password(&self.postgres.url) {
            secrets.push(("postgres.url", password));
        }
        for (key, secret) in secrets {
            if secret.chars().count() < 12 || weak_secret(&secret) {
                return Err(invalid(
                    key,
                    "production needs a random secret of 12+ characters here, not a placeholder or well-known default",
                ));
            }
        }
        Ok(())
    }

    /// Root folder of recorded segments.
    pub fn segments_dir(&self) -> PathBuf {
        self.data_dir.join("segments")
    }
}
