//! Typed configuration of a VMS node: a TOML file, `VMS_*` environment overrides on top, defaults for
//! everything, and [`NodeConfig::validate`] whose errors name the key at fault.
//!
//! Environment overrides use `__` between a section and its key: `VMS_NODE_ID`, `VMS_API__LISTEN`,
//! `VMS_RECORDING__SEGMENT_SECONDS`. Variables whose first part is not a config key (such as `VMS_LOG`)
//! are left to other tools.
//!
//! Layout: `node` holds the whole tree and the checks spanning sections, `sections/` one file per
//! section (struct, defaults, validation), `load` the layering, `forms` the environment's value forms,
//! `secrets` the secret files. Everything here imports only this root and `forms`/`secrets`.

use std::path::PathBuf;
use thiserror::Error;

mod forms;
mod load;
mod node;
mod secrets;
mod sections;

pub use load::ENV_PREFIX;
pub use node::{Mode, NodeConfig};
pub use secrets::weak_secret;
pub use sections::{
    AnalyticsConfig, ApiConfig, AuthConfig, ClusterConfig, ExportsConfig, LiveConfig, NODE_ROLES,
    NatsAuth, NatsConfig, NotificationsConfig, ObjectStoreSettings, PostgresConfig,
    RecordingConfig, RetentionConfig, SmtpConfig, SmtpTls, StorageConfig,
};

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

/// A [`ConfigError::Invalid`] for `key`.
pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return its large error type
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn defaults_are_valid() {
        NodeConfig::default().validate().expect("defaults validate");
    }

    use figment::Jail;

    #[test]
    fn unknown_key_in_file_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("vms.toml", "[recording]\nsegmnt_seconds = 5\n")?;
            let err = NodeConfig::from_file(Path::new("vms.toml")).unwrap_err();
            assert!(
                err.to_string().contains("recording.segmnt_seconds"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn file_then_environment_over_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "vms.toml",
                "node_id = \"from-file\"\n[api]\nlisten = \"0.0.0.0:9000\"\n[cluster]\nroles = [\"ingest\"]\n",
            )?;
            jail.set_env("VMS_API__LISTEN", "127.0.0.1:9100");
            jail.set_env("VMS_RECORDING__SEGMENT_SECONDS", "6");
            jail.set_env("VMS_CLUSTER__ROLES", "ingest,inference");
            jail.set_env("VMS_AUTH__ADMIN_PASSWORD_FILE", "");
            jail.set_env("VMS_NATS__USER", "1234");
            jail.set_env("VMS_LOG", "debug");
            let c = NodeConfig::load(Some(Path::new("vms.toml"))).expect("loads");
            assert_eq!(c.node_id, "from-file", "the file over the defaults");
            assert_eq!(
                c.api.listen, "127.0.0.1:9100",
                "the environment over the file"
            );
            assert_eq!(c.recording.segment_seconds, 6);
            assert_eq!(c.cluster.roles, ["ingest", "inference"]);
            assert_eq!(c.auth.admin_password_file, None, "an empty path is none");
            assert_eq!(
                c.nats.user, "1234",
                "digits stay text where the key is text"
            );
            assert_eq!(
                c.retention,
                RetentionConfig::default(),
                "defaults fill the rest"
            );
            Ok(())
        });
    }

    #[test]
    fn environment_errors_name_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("VMS_RECORDING__SEGMENT_SECONDS", "abc");
            let err = NodeConfig::load(None).unwrap_err().to_string();
            assert!(err.contains("VMS_RECORDING__SEGMENT_SECONDS"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("VMS_API__LISTENN", "x");
            let err = NodeConfig::load(None).unwrap_err().to_string();
            assert!(
                err.contains("VMS_API__LISTENN") && err.contains("api.listenn"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_example_file_shows_every_key_and_only_known_ones() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/vms.example.toml");
        NodeConfig::from_file(&example).expect("the example parses with every key known");
        let text = std::fs::read_to_string(&example).expect("example");
        let mut shown = std::collections::BTreeSet::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            let header = |l: &str| Some(l.strip_prefix('[')?.split_once(']')?.0.to_string());
            if let Some(name) = header(line) {
                section = format!("{name}.");
            } else if let Some(name) = header(line.trim_start_matches(['#', ' '])) {
                shown.insert(name); // a table shown commented out, such as `# [cluster.labels]`
            } else if let Some((key, _)) = line.trim_start_matches(['#', ' ']).split_once('=') {
                let key = key.trim();
                if !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    shown.insert(format!("{section}{key}"));
                }
            }
        }
        let mut missing = Vec::new();
        leaf_keys(
            "",
            &toml::Value::try_from(NodeConfig::default()).expect("serialises"),
            &mut missing,
        );
        missing.retain(|k| !shown.contains(k));
        assert!(
            missing.is_empty(),
            "keys missing from deploy/vms.example.toml: {missing:?}"
        );
    }

    /// Every key of a table, dotted; maps of free keys (`cluster.labels`) count as one key.
    fn leaf_keys(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        let toml::Value::Table(table) = value else {
            out.push(prefix.trim_end_matches('.').to_string());
            return;
        };
        if table.is_empty() && !prefix.is_empty() {
            out.push(prefix.trim_end_matches('.').to_string());
        }
        for (key, value) in table {
            leaf_keys(&format!("{prefix}{key}."), value, out);
        }
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
