//! Typed configuration of a VMS node: a TOML file, `VMS_*` environment overrides on top, defaults for
//! everything, and [`NodeConfig::validate`] whose errors name the key at fault.
//!
//! Environment overrides use `__` between a section and its key: `VMS_NODE_ID`, `VMS_API__LISTEN`,
//! `VMS_RECORDING__SEGMENT_SECONDS`. Variables whose first part is not a config key (such as `VMS_LOG`)
//! are left to other tools.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Version of the config file format this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// Why a configuration could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid config file {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// What the parser said, with the key and line.
        message: String,
    },
    /// A key has a value outside what it accepts.
    #[error("invalid config key {key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `recording.segment_seconds`.
        key: String,
        /// Why.
        message: String,
    },
    /// An environment override names no known key or has a mistyped value.
    #[error("invalid environment override {var}: {message}")]
    Env {
        /// Variable name.
        var: String,
        /// Why.
        message: String,
    },
}

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
}

/// Notification settings: how deliveries are retried, and the SMTP relay for e-mail channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Deliver notifications and escalate tickets from this node.
    pub enabled: bool,
    /// Attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// Wait before the first retry; it doubles up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    /// Longest wait between retries.
    pub retry_max_ms: u64,
    /// Time allowed for one webhook request or SMTP session.
    pub timeout_seconds: u32,
    /// Let webhooks reach loopback and private-range addresses (off: a tenant cannot probe the
    /// node's own network).
    pub allow_private_targets: bool,
    /// SMTP relay for e-mail channels.
    pub smtp: SmtpConfig,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: 6,
            retry_initial_ms: 1000,
            retry_max_ms: 300_000,
            timeout_seconds: 10,
            allow_private_targets: false,
            smtp: SmtpConfig::default(),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on the same host or network).
    None,
    /// STARTTLS after connecting (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// The SMTP relay e-mail channels send through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Relay host; empty: e-mail channels fail their deliveries with a reason.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// Sender address.
    pub from: String,
    /// User name, when the relay needs one.
    pub username: String,
    /// File holding the password of `username`.
    pub password_file: Option<PathBuf>,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            from: "vms@localhost".into(),
            username: String::new(),
            password_file: None,
        }
    }
}

/// Analytics settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Run detectors on cameras whose tenant licence allows them.
    pub enabled: bool,
    /// Detectors the node runs for rules: folders of the zoo, or the built-in `motion`, `tampering`
    /// and `fire`; one that cannot be loaded is logged and left out.
    pub models: Vec<String>,
    /// Model zoo folder (default: the one shipped beside the sources or the binary).
    pub zoo_dir: Option<PathBuf>,
    /// ONNX Runtime library (default: `ORT_DYLIB_PATH`, beside the binary, `third_party/onnxruntime`).
    pub onnxruntime: Option<PathBuf>,
    /// Appearance embedding model (a zoo folder of the `embedding` family) whose vector events of
    /// object detectors keep, for `GET /events/{id}/similar`; empty for none.
    pub embedding: String,
    /// Detector sessions (threads) of each model's worker.
    pub workers: usize,
    /// Intra-op threads of each session; workers x threads should not exceed the cores.
    pub intra_threads: usize,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            models: ["person", "face", "plate", "motion", "tampering", "fire"]
                .map(String::from)
                .to_vec(),
            embedding: "appearance".into(),
            zoo_dir: None,
            onnxruntime: None,
            workers: 1,
            intra_threads: 1,
        }
    }
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
    pub admin_password_file: Option<PathBuf>,
    /// Password hashes computed at once; more wait (bounds the CPU and memory logins can take).
    pub hash_concurrency: usize,
}

/// Inter-node link settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Name of the cluster: nodes with the same name on the same NATS are its members (several
    /// clusters may share one NATS).
    pub name: String,
    /// How often the node publishes its heartbeat on NATS.
    pub heartbeat_ms: u64,
    /// A node not heard from for this long is down.
    pub down_after_ms: u64,
    /// Roles this node takes: `ingest`, `inference`, `control`, `api`.
    pub roles: Vec<String>,
    /// Labels placement may match (`gpu = "true"`, `site = "north"`).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Most cameras this node takes (0: no limit).
    pub max_cameras: u32,
    /// Place cameras across the nodes with a leader (failover when a node dies); off: this node
    /// records every camera of its database.
    pub placement: bool,
    /// Take the cameras placed here without recording them (control-plane scale tests only).
    pub fake_cameras: bool,
    /// Port of this node's ractor_cluster link server (0: no links; calls go over NATS).
    pub link_port: u16,
    /// Host name or address other nodes reach this node's link server at.
    pub advertise_host: String,
    /// Most handovers (rebalancing and drain moves) the leader starts per round (four times a second);
    /// moves off a node that is down are not limited.
    pub max_handovers: u32,
    /// Shared secret nodes present to each other; required in production (at least 16 characters).
    pub cookie: String,
    /// File holding the cookie instead (a mounted secret).
    pub cookie_file: Option<PathBuf>,
    /// Address the link server binds (empty: `advertise_host`, so the links never listen on every
    /// interface by accident).
    pub link_listen: String,
    /// Seconds between reconciliations of this node's tenants, cameras and rules against PostgreSQL
    /// (changes travel as NATS hints, which a node can miss; it also reconciles on every NATS
    /// reconnect).
    pub reconcile_seconds: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: "vms".into(),
            heartbeat_ms: 500,
            down_after_ms: 2000,
            roles: ["ingest", "inference", "control", "api"]
                .map(String::from)
                .to_vec(),
            labels: Default::default(),
            max_cameras: 0,
            placement: false,
            fake_cameras: false,
            max_handovers: 16,
            reconcile_seconds: 30,
            link_port: 4370,
            advertise_host: "127.0.0.1".into(),
            cookie: String::new(),
            cookie_file: None,
            link_listen: String::new(),
        }
    }
}

/// Roles a node may take.
pub const NODE_ROLES: [&str; 4] = ["ingest", "inference", "control", "api"];

/// HTTP API settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest accepted JSON request body, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// Requests per second each caller (user or API key) may make, on average.
    pub rate_limit_per_second: u32,
    /// Requests a caller may make in a burst.
    pub rate_limit_burst: u32,
    /// Requests per second each client address may make, on average.
    pub ip_rate_limit_per_second: u32,
    /// Requests a client address may make in a burst.
    pub ip_rate_limit_burst: u32,
    /// Login attempts per minute for each client network, and for each e-mail from one network.
    pub login_per_minute: u32,
    /// Live event streams (SSE) one caller (a session or an API key) may hold open at once.
    pub max_streams_per_caller: u32,
}

/// PostgreSQL settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connection URL, `postgres://user@host:port/db`.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: usize,
    /// CA (PEM) to verify the server's certificate with when the URL says `sslmode=require`
    /// (or `verify-ca`/`verify-full`); without it, the system's roots.
    pub tls_ca_file: Option<PathBuf>,
}

/// NATS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL, `nats://host:port` (or `tls://host:port`).
    pub url: String,
    /// User name, with `password_file`.
    pub user: String,
    /// File holding the password of `user` (a mounted secret).
    pub password_file: Option<PathBuf>,
    /// File holding an authentication token.
    pub token_file: Option<PathBuf>,
    /// File holding an NKey seed (`SU…`).
    pub nkey_seed_file: Option<PathBuf>,
    /// CA (PEM) to verify the server's certificate with; TLS is then required.
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse a connection that is not TLS.
    pub tls_required: bool,
    /// Days the `VMS_EVENTS` JetStream stream keeps an event (PostgreSQL keeps it as the tenant's
    /// licence says; the stream is only the feed).
    pub events_max_age_days: u32,
    /// Bytes the `VMS_EVENTS` stream may hold; the oldest events go first past it.
    pub events_max_bytes: u64,
}

/// How a node authenticates to NATS, read from the files the config names.
#[derive(Clone, PartialEq, Eq)]
pub enum NatsAuth {
    /// No credentials (development, or a server that trusts the network).
    None,
    /// User and password.
    UserPassword(String, String),
    /// Token.
    Token(String),
    /// NKey seed.
    NKey(String),
}

impl NatsConfig {
    /// The credentials the config names, read from their files.
    pub fn auth(&self) -> Result<NatsAuth, ConfigError> {
        Ok(
            match (&self.password_file, &self.token_file, &self.nkey_seed_file) {
                (Some(p), None, None) => NatsAuth::UserPassword(self.user.clone(), read_secret(p)?),
                (None, Some(t), None) => NatsAuth::Token(read_secret(t)?),
                (None, None, Some(k)) => NatsAuth::NKey(read_secret(k)?),
                _ => NatsAuth::None,
            },
        )
    }
}

/// Recording settings, applied to every camera of the node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Target segment length; segments are cut on the first keyframe after it.
    pub segment_seconds: u32,
    /// Logical overlap each segment's analytics range takes from its predecessor.
    pub overlap_seconds: u32,
    /// A streaming camera with no frame for this long is declared frozen and reconnected.
    pub watchdog_seconds: u32,
    /// A connecting camera with no frame after this long goes to backoff.
    pub connect_timeout_seconds: u32,
    /// First reconnect delay.
    pub backoff_initial_ms: u64,
    /// Longest reconnect delay: a camera that comes back records again within about this long.
    pub backoff_max_ms: u64,
}

/// Retention settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// How often the retention sweep runs.
    pub interval_seconds: u32,
    /// Disk use (percent of the data filesystem) above which the oldest segments are deleted.
    pub disk_high_watermark_percent: u8,
    /// Disk use the sweep deletes down to once above the high watermark.
    pub disk_low_watermark_percent: u8,
    /// Days the audit log is kept at least (longer when the tenant's licence keeps recordings
    /// longer): the audit outlives the events, tickets and recordings it speaks of.
    pub audit_days: u32,
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
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            workers: 0,
            cors_allowed_origins: Vec::new(),
            rate_limit_per_second: 50,
            rate_limit_burst: 200,
            ip_rate_limit_per_second: 200,
            ip_rate_limit_burst: 400,
            login_per_minute: 10,
            max_streams_per_caller: 4,
        }
    }
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

impl ClusterConfig {
    /// The cookie: from `cookie_file` when set, else `cookie`; `None` when neither is set.
    pub fn resolve_cookie(&self) -> Result<Option<String>, ConfigError> {
        if let Some(path) = &self.cookie_file {
            return read_secret(path).map(Some);
        }
        Ok(Some(self.cookie.clone()).filter(|c| !c.is_empty()))
    }
}

/// Cookies that must never protect a production cluster.
const WEAK_COOKIES: &[&str] = &["vms", "cookie", "changeme", "secret", "password"];

/// A secret from a file (a mounted secret), without surrounding white space.
fn read_secret(path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })
}

/// The password in a URL's userinfo (`scheme://user:password@host`), if any.
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let userinfo = authority.rsplit_once('@')?.0;
    userinfo
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .filter(|p| !p.is_empty())
}

/// Whether a production secret is a placeholder or too plain to be one: a well-known default, a
/// `REPLACE…`/`CHANGE…`/`EXAMPLE` placeholder (as in the deploy files), or fewer than 10 distinct
/// characters.
pub fn weak_secret(secret: &str) -> bool {
    let lower = secret.to_ascii_lowercase();
    let distinct: std::collections::BTreeSet<char> = secret.chars().collect();
    WEAK_COOKIES.contains(&lower.as_str())
        || ["replace", "change", "example", "placeholder", "your-"]
            .iter()
            .any(|p| lower.contains(p))
        || distinct.len() < 10
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: "postgres://postgres@127.0.0.1:5432/vms".into(),
            pool_size: 16,
            tls_ca_file: None,
        }
    }
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            user: String::new(),
            password_file: None,
            token_file: None,
            nkey_seed_file: None,
            tls_ca_file: None,
            tls_required: false,
            events_max_age_days: 7,
            events_max_bytes: 1 << 30,
        }
    }
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            segment_seconds: 5,
            overlap_seconds: 1,
            watchdog_seconds: 3,
            connect_timeout_seconds: 10,
            backoff_initial_ms: 500,
            backoff_max_ms: 3_000,
        }
    }
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 60,
            disk_high_watermark_percent: 90,
            disk_low_watermark_percent: 85,
            audit_days: 365,
        }
    }
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl NodeConfig {
    /// Reads a TOML file (all keys optional), then applies `VMS_*` overrides from the process environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        config.apply_env(std::env::vars())?;
        Ok(config)
    }

    /// Reads a TOML file without environment overrides.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text; the error names the key and line.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            // toml renders "<where>\n<source excerpt>\n<what>"; keep where and what on one line.
            let rendered = e.to_string();
            let lines: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            match (lines.first(), lines.last()) {
                (Some(first), Some(last)) if lines.len() > 1 => format!("{first}: {last}"),
                _ => rendered.trim().to_string(),
            }
        })
    }

    /// Applies `VMS_*` overrides from the given variables.
    pub fn apply_env(
        &mut self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (var, value) in vars {
            let Some(rest) = var.strip_prefix("VMS_") else {
                continue;
            };
            let key = rest.to_ascii_lowercase().replace("__", ".");
            let top = key.split('.').next().unwrap_or_default();
            if !TOP_LEVEL_KEYS.contains(&top) {
                continue;
            }
            self.set(&key, &value).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
        }
        Ok(())
    }

    /// Sets one dotted key from its text form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn num<T: std::str::FromStr>(value: &str) -> Result<T, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("expected a number, got {value:?}"))
        }
        fn list(value: &str) -> Vec<String> {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        }
        fn boolean(value: &str) -> Result<bool, String> {
            value
                .trim()
                .parse()
                .map_err(|_| format!("expected true or false, got {value:?}"))
        }
        fn path(value: &str) -> Option<PathBuf> {
            Some(PathBuf::from(value)).filter(|p| !p.as_os_str().is_empty())
        }
        match key {
            "version" => self.version = num(value)?,
            "mode" => {
                self.mode = match value.trim() {
                    "development" => Mode::Development,
                    "production" => Mode::Production,
                    other => {
                        return Err(format!("expected development or production, got {other:?}"));
                    }
                }
            }
            "api.cors_allowed_origins" => self.api.cors_allowed_origins = list(value),
            "api.rate_limit_per_second" => self.api.rate_limit_per_second = num(value)?,
            "api.rate_limit_burst" => self.api.rate_limit_burst = num(value)?,
            "api.ip_rate_limit_per_second" => self.api.ip_rate_limit_per_second = num(value)?,
            "api.ip_rate_limit_burst" => self.api.ip_rate_limit_burst = num(value)?,
            "api.login_per_minute" => self.api.login_per_minute = num(value)?,
            "api.max_streams_per_caller" => self.api.max_streams_per_caller = num(value)?,
            "auth.access_ttl_seconds" => self.auth.access_ttl_seconds = num(value)?,
            "auth.refresh_ttl_seconds" => self.auth.refresh_ttl_seconds = num(value)?,
            "auth.admin_email" => self.auth.admin_email = value.to_string(),
            "auth.admin_password_file" => self.auth.admin_password_file = path(value),
            "auth.hash_concurrency" => self.auth.hash_concurrency = num(value)?,
            "cluster.cookie" => self.cluster.cookie = value.to_string(),
            "cluster.cookie_file" => self.cluster.cookie_file = path(value),
            "cluster.link_listen" => self.cluster.link_listen = value.trim().to_string(),
            "cluster.heartbeat_ms" => self.cluster.heartbeat_ms = num(value)?,
            "cluster.down_after_ms" => self.cluster.down_after_ms = num(value)?,
            "cluster.roles" => self.cluster.roles = list(value),
            "cluster.max_cameras" => self.cluster.max_cameras = num(value)?,
            "cluster.placement" => self.cluster.placement = boolean(value)?,
            "cluster.fake_cameras" => self.cluster.fake_cameras = boolean(value)?,
            "cluster.max_handovers" => self.cluster.max_handovers = num(value)?,
            "cluster.reconcile_seconds" => self.cluster.reconcile_seconds = num(value)?,
            "cluster.link_port" => self.cluster.link_port = num(value)?,
            "cluster.advertise_host" => self.cluster.advertise_host = value.trim().to_string(),
            "cluster.name" => self.cluster.name = value.trim().to_string(),
            "analytics.enabled" => self.analytics.enabled = boolean(value)?,
            "analytics.models" => self.analytics.models = list(value),
            "analytics.embedding" => self.analytics.embedding = value.trim().to_string(),
            "analytics.zoo_dir" => self.analytics.zoo_dir = path(value),
            "analytics.onnxruntime" => self.analytics.onnxruntime = path(value),
            "analytics.workers" => self.analytics.workers = num(value)?,
            "analytics.intra_threads" => self.analytics.intra_threads = num(value)?,
            "notifications.enabled" => self.notifications.enabled = boolean(value)?,
            "notifications.max_attempts" => self.notifications.max_attempts = num(value)?,
            "notifications.retry_initial_ms" => self.notifications.retry_initial_ms = num(value)?,
            "notifications.retry_max_ms" => self.notifications.retry_max_ms = num(value)?,
            "notifications.timeout_seconds" => self.notifications.timeout_seconds = num(value)?,
            "notifications.allow_private_targets" => {
                self.notifications.allow_private_targets = boolean(value)?
            }
            "notifications.smtp.host" => self.notifications.smtp.host = value.to_string(),
            "notifications.smtp.port" => self.notifications.smtp.port = num(value)?,
            "notifications.smtp.tls" => {
                self.notifications.smtp.tls = match value.trim() {
                    "none" => SmtpTls::None,
                    "starttls" => SmtpTls::Starttls,
                    "tls" => SmtpTls::Tls,
                    other => return Err(format!("expected none, starttls or tls, got {other:?}")),
                }
            }
            "notifications.smtp.from" => self.notifications.smtp.from = value.to_string(),
            "notifications.smtp.username" => self.notifications.smtp.username = value.to_string(),
            "notifications.smtp.password_file" => {
                self.notifications.smtp.password_file = path(value)
            }
            "node_id" => self.node_id = value.to_string(),
            "data_dir" => self.data_dir = PathBuf::from(value),
            "api.listen" => self.api.listen = value.to_string(),
            "api.max_body_bytes" => self.api.max_body_bytes = num(value)?,
            "api.workers" => self.api.workers = num(value)?,
            "postgres.url" => self.postgres.url = value.to_string(),
            "postgres.pool_size" => self.postgres.pool_size = num(value)?,
            "postgres.tls_ca_file" => self.postgres.tls_ca_file = path(value),
            "nats.url" => self.nats.url = value.to_string(),
            "nats.user" => self.nats.user = value.to_string(),
            "nats.password_file" => self.nats.password_file = path(value),
            "nats.token_file" => self.nats.token_file = path(value),
            "nats.nkey_seed_file" => self.nats.nkey_seed_file = path(value),
            "nats.tls_ca_file" => self.nats.tls_ca_file = path(value),
            "nats.tls_required" => self.nats.tls_required = boolean(value)?,
            "nats.events_max_age_days" => self.nats.events_max_age_days = num(value)?,
            "nats.events_max_bytes" => self.nats.events_max_bytes = num(value)?,
            "recording.segment_seconds" => self.recording.segment_seconds = num(value)?,
            "recording.overlap_seconds" => self.recording.overlap_seconds = num(value)?,
            "recording.watchdog_seconds" => self.recording.watchdog_seconds = num(value)?,
            "recording.connect_timeout_seconds" => {
                self.recording.connect_timeout_seconds = num(value)?
            }
            "recording.backoff_initial_ms" => self.recording.backoff_initial_ms = num(value)?,
            "recording.backoff_max_ms" => self.recording.backoff_max_ms = num(value)?,
            "retention.interval_seconds" => self.retention.interval_seconds = num(value)?,
            "retention.audit_days" => self.retention.audit_days = num(value)?,
            "retention.disk_high_watermark_percent" => {
                self.retention.disk_high_watermark_percent = num(value)?
            }
            "retention.disk_low_watermark_percent" => {
                self.retention.disk_low_watermark_percent = num(value)?
            }
            _ => return Err(format!("unknown config key {key}")),
        }
        Ok(())
    }

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
        let id_ok = !self.node_id.is_empty()
            && self.node_id.len() <= 63
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
        self.api.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "api.listen",
                format!(
                    "must be an address like 127.0.0.1:8080, got {:?}",
                    self.api.listen
                ),
            )
        })?;
        if !(1024..=64 * 1024 * 1024).contains(&self.api.max_body_bytes) {
            return Err(invalid(
                "api.max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        if !self.postgres.url.starts_with("postgres://")
            && !self.postgres.url.starts_with("postgresql://")
        {
            return Err(invalid(
                "postgres.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.postgres.pool_size == 0 || self.postgres.pool_size > 512 {
            return Err(invalid("postgres.pool_size", "must be between 1 and 512"));
        }
        if !self.nats.url.starts_with("nats://") && !self.nats.url.starts_with("tls://") {
            return Err(invalid("nats.url", "must start with nats:// or tls://"));
        }
        let n = &self.nats;
        if !(1..=3650).contains(&n.events_max_age_days) {
            return Err(invalid(
                "nats.events_max_age_days",
                "must be between 1 and 3650",
            ));
        }
        if n.events_max_bytes < 1 << 20 {
            return Err(invalid(
                "nats.events_max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        let methods = [&n.password_file, &n.token_file, &n.nkey_seed_file]
            .iter()
            .filter(|m| m.is_some())
            .count();
        if methods > 1 {
            return Err(invalid(
                "nats.password_file",
                "set one of nats.password_file (with nats.user), nats.token_file and nats.nkey_seed_file",
            ));
        }
        if n.password_file.is_some() == n.user.is_empty() {
            return Err(invalid(
                "nats.user",
                "nats.user and nats.password_file go together",
            ));
        }
        let r = &self.recording;
        if !(1..=600).contains(&r.segment_seconds) {
            return Err(invalid(
                "recording.segment_seconds",
                "must be between 1 and 600",
            ));
        }
        if r.overlap_seconds >= r.segment_seconds {
            return Err(invalid(
                "recording.overlap_seconds",
                "must be shorter than recording.segment_seconds",
            ));
        }
        if !(1..=300).contains(&r.watchdog_seconds) {
            return Err(invalid(
                "recording.watchdog_seconds",
                "must be between 1 and 300",
            ));
        }
        if !(1..=300).contains(&r.connect_timeout_seconds) {
            return Err(invalid(
                "recording.connect_timeout_seconds",
                "must be between 1 and 300",
            ));
        }
        if r.backoff_initial_ms == 0 || r.backoff_initial_ms > r.backoff_max_ms {
            return Err(invalid(
                "recording.backoff_initial_ms",
                "must be positive and at most recording.backoff_max_ms",
            ));
        }
        self.validate_security()?;
        self.validate_notifications()?;
        let c = &self.cluster;
        if c.name.is_empty()
            || c.name.len() > 64
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch))
        {
            return Err(invalid(
                "cluster.name",
                "must be 1-64 letters, digits, '-' or '_'",
            ));
        }
        if !(1..=3600).contains(&c.reconcile_seconds) {
            return Err(invalid(
                "cluster.reconcile_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=100_000).contains(&c.max_handovers) {
            return Err(invalid(
                "cluster.max_handovers",
                "must be between 1 and 100000",
            ));
        }
        if !(50..=10_000).contains(&c.heartbeat_ms) {
            return Err(invalid(
                "cluster.heartbeat_ms",
                "must be between 50 and 10000",
            ));
        }
        if c.down_after_ms < 2 * c.heartbeat_ms || c.down_after_ms > 120_000 {
            return Err(invalid(
                "cluster.down_after_ms",
                "must be at least twice cluster.heartbeat_ms and at most 120000",
            ));
        }
        if let Some(r) = c.roles.iter().find(|r| !NODE_ROLES.contains(&r.as_str())) {
            return Err(invalid(
                "cluster.roles",
                format!("unknown role {r:?}; roles are {}", NODE_ROLES.join(", ")),
            ));
        }
        if self.analytics.models.len() > 16
            || self.analytics.models.iter().any(|m| {
                m.is_empty()
                    || !m
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
            })
        {
            return Err(invalid(
                "analytics.models",
                format!(
                    "at most 16 model names of [a-z0-9_-], got {:?}",
                    self.analytics.models
                ),
            ));
        }
        let t = &self.retention;
        if t.interval_seconds == 0 {
            return Err(invalid("retention.interval_seconds", "must be positive"));
        }
        if !(30..=36_500).contains(&t.audit_days) {
            return Err(invalid(
                "retention.audit_days",
                "must be between 30 and 36500",
            ));
        }
        if t.disk_high_watermark_percent == 0 || t.disk_high_watermark_percent > 99 {
            return Err(invalid(
                "retention.disk_high_watermark_percent",
                "must be between 1 and 99",
            ));
        }
        if t.disk_low_watermark_percent >= t.disk_high_watermark_percent {
            return Err(invalid(
                "retention.disk_low_watermark_percent",
                "must be below retention.disk_high_watermark_percent",
            ));
        }
        Ok(())
    }

    fn validate_notifications(&self) -> Result<(), ConfigError> {
        let n = &self.notifications;
        if !(1..=100).contains(&n.max_attempts) {
            return Err(invalid(
                "notifications.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if n.retry_initial_ms == 0 || n.retry_initial_ms > n.retry_max_ms {
            return Err(invalid(
                "notifications.retry_initial_ms",
                "must be positive and at most notifications.retry_max_ms",
            ));
        }
        if !(1..=120).contains(&n.timeout_seconds) {
            return Err(invalid(
                "notifications.timeout_seconds",
                "must be between 1 and 120",
            ));
        }
        let smtp = &n.smtp;
        if !smtp.host.is_empty() {
            if smtp.port == 0 {
                return Err(invalid("notifications.smtp.port", "must be 1-65535"));
            }
            if !smtp.from.contains('@') || smtp.from.chars().any(char::is_whitespace) {
                return Err(invalid(
                    "notifications.smtp.from",
                    format!("must be an e-mail address, got {:?}", smtp.from),
                ));
            }
            if smtp.password_file.is_some() && smtp.username.is_empty() {
                return Err(invalid(
                    "notifications.smtp.username",
                    "is required with notifications.smtp.password_file",
                ));
            }
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), ConfigError> {
        let a = &self.api;
        for (key, v) in [
            ("api.rate_limit_per_second", a.rate_limit_per_second),
            ("api.rate_limit_burst", a.rate_limit_burst),
            ("api.ip_rate_limit_per_second", a.ip_rate_limit_per_second),
            ("api.ip_rate_limit_burst", a.ip_rate_limit_burst),
            ("api.login_per_minute", a.login_per_minute),
            ("api.max_streams_per_caller", a.max_streams_per_caller),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        for origin in &a.cors_allowed_origins {
            if origin != "*" && !origin.starts_with("http://") && !origin.starts_with("https://") {
                return Err(invalid(
                    "api.cors_allowed_origins",
                    format!("{origin:?} must be an origin like https://vms.example.com"),
                ));
            }
        }
        let auth = &self.auth;
        if !(60..=86_400).contains(&auth.access_ttl_seconds) {
            return Err(invalid(
                "auth.access_ttl_seconds",
                "must be between 60 and 86400",
            ));
        }
        if auth.refresh_ttl_seconds < auth.access_ttl_seconds {
            return Err(invalid(
                "auth.refresh_ttl_seconds",
                "must be at least auth.access_ttl_seconds",
            ));
        }
        if !auth.admin_email.contains('@') {
            return Err(invalid("auth.admin_email", "must be an e-mail address"));
        }
        if !(1..=64).contains(&auth.hash_concurrency) {
            return Err(invalid("auth.hash_concurrency", "must be between 1 and 64"));
        }
        let an = &self.analytics;
        if !(1..=64).contains(&an.workers) || !(1..=64).contains(&an.intra_threads) {
            return Err(invalid(
                "analytics.workers",
                "analytics.workers and analytics.intra_threads must be between 1 and 64",
            ));
        }
        let c = &self.cluster;
        if !c.link_listen.is_empty() && c.link_listen.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "cluster.link_listen",
                format!("{:?} is not an IP address", c.link_listen),
            ));
        }
        // Placement trusts heartbeats, changes and links, all authenticated by the cookie.
        if c.placement && c.resolve_cookie()?.is_none() {
            return Err(invalid(
                "cluster.cookie",
                "cluster.placement needs a cluster cookie (cluster.cookie or cluster.cookie_file): it authenticates heartbeats, changes and links",
            ));
        }
        if self.mode == Mode::Production {
            if a.cors_allowed_origins.iter().any(|o| o == "*") {
                return Err(invalid(
                    "api.cors_allowed_origins",
                    "\"*\" is not allowed in production; list the origins",
                ));
            }
            let cookie = c.resolve_cookie()?;
            match cookie.as_deref() {
                None => {
                    return Err(invalid(
                        "cluster.cookie",
                        "production mode needs a cluster cookie (cluster.cookie or cluster.cookie_file)",
                    ));
                }
                Some(k) if k.chars().count() < 16 || weak_secret(k) => {
                    return Err(invalid(
                        "cluster.cookie",
                        "must be at least 16 characters, random, and not a placeholder or well-known default",
                    ));
                }
                Some(_) => {}
            }
            self.validate_production_secrets()?;
        }
        Ok(())
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

const TOP_LEVEL_KEYS: &[&str] = &[
    "version",
    "mode",
    "auth",
    "cluster",
    "analytics",
    "notifications",
    "node_id",
    "data_dir",
    "api",
    "postgres",
    "nats",
    "recording",
    "retention",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        NodeConfig::default().validate().expect("defaults validate");
    }

    #[test]
    fn unknown_key_in_file_is_named() {
        let err = NodeConfig::from_toml("[recording]\nsegmnt_seconds = 5\n").unwrap_err();
        assert!(err.contains("segmnt_seconds"), "{err}");
    }

    #[test]
    fn env_overrides_and_names_bad_var() {
        let mut c = NodeConfig::default();
        c.apply_env([
            (
                "VMS_RECORDING__SEGMENT_SECONDS".to_string(),
                "6".to_string(),
            ),
            ("VMS_NODE_ID".to_string(), "edge-7".to_string()),
            ("VMS_LOG".to_string(), "debug".to_string()),
        ])
        .expect("overrides apply");
        assert_eq!(c.recording.segment_seconds, 6);
        assert_eq!(c.node_id, "edge-7");
        let err = c
            .apply_env([(
                "VMS_RECORDING__SEGMENT_SECONDS".to_string(),
                "abc".to_string(),
            )])
            .unwrap_err();
        assert!(
            err.to_string().contains("VMS_RECORDING__SEGMENT_SECONDS"),
            "{err}"
        );
        let err = c
            .apply_env([("VMS_API__LISTENN".to_string(), "x".to_string())])
            .unwrap_err();
        assert!(err.to_string().contains("api.listenn"), "{err}");
    }

    #[test]
    fn production_needs_a_strong_cookie() {
        let mut c = NodeConfig {
            mode: Mode::Production,
            ..NodeConfig::default()
        };
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("cluster.cookie"), "{err}");
        c.cluster.cookie = "changeme".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cluster.cookie")
        );
        c.cluster.cookie = "REPLACE-WITH-A-LONG-RANDOM-SECRET".into();
        assert!(
            c.validate().is_err(),
            "the deploy placeholder passes production checks"
        );
        c.cluster.cookie = "aaaaaaaaaaaaaaaaaaaabbbbbb".into();
        assert!(c.validate().is_err(), "a low-entropy cookie");
        c.cluster.cookie = "q7Vd9-kR2xLp4mZt8WcN".into();
        c.validate().expect("strong cookie validates");
        c.cluster.link_listen = "not-an-ip".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cluster.link_listen")
        );
    }

    #[test]
    fn production_refuses_the_deploy_placeholders() {
        let dir = std::env::temp_dir().join(format!("vms-config-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let placeholder = dir.join("admin-password");
        std::fs::write(&placeholder, "REPLACE-WITH-THE-FIRST-ADMIN-PASSWORD\n").expect("write");
        let mut c = NodeConfig {
            mode: Mode::Production,
            ..NodeConfig::default()
        };
        c.cluster.cookie = "q7Vd9-kR2xLp4mZt8WcN".into();
        c.validate().expect("no secrets named, nothing to refuse");
        c.auth.admin_password_file = Some(placeholder.clone());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("auth.admin_password_file"), "{err}");
        c.auth.admin_password_file = None;
        c.postgres.url = "postgres://vms:vms@db:5432/vms".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("postgres.url"), "{err}");
        c.postgres.url = "postgres://vms:Zr8-qLw2Vx9kTn4@db:5432/vms".into();
        c.validate().expect("a random database password");
        c.nats.token_file = Some(placeholder);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("nats.token_file"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn placement_needs_a_cookie() {
        let mut c = NodeConfig::default();
        c.cluster.placement = true;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("cluster.cookie"), "{err}");
        c.cluster.cookie = "a cookie for placement".into();
        c.validate().expect("placement with a cookie validates");
    }

    #[test]
    fn validate_names_key() {
        let mut c = NodeConfig::default();
        c.recording.overlap_seconds = 5;
        let err = c.validate().unwrap_err();
        assert!(
            err.to_string().contains("recording.overlap_seconds"),
            "{err}"
        );
        let mut c = NodeConfig::default();
        c.api.listen = "nonsense".into();
        assert!(c.validate().unwrap_err().to_string().contains("api.listen"));
    }
}
