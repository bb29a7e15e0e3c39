//! The `[nats]` section: the server, its credentials and the event stream's limits.

use crate::secrets::read_secret;
use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// NATS settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Server URL, `nats://host:port` (or `tls://host:port`).
    pub url: String,
    /// User name, with `password_file`.
    pub user: String,
    /// File holding the password of `user` (a mounted secret).
    #[serde(deserialize_with = "forms::optional_path")]
    pub password_file: Option<PathBuf>,
    /// File holding an authentication token.
    #[serde(deserialize_with = "forms::optional_path")]
    pub token_file: Option<PathBuf>,
    /// File holding an NKey seed (`SU…`).
    #[serde(deserialize_with = "forms::optional_path")]
    pub nkey_seed_file: Option<PathBuf>,
    /// CA (PEM) to verify the server's certificate with; TLS is then required.
    #[serde(deserialize_with = "forms::optional_path")]
    pub tls_ca_file: Option<PathBuf>,
    /// Refuse a connection that is not TLS.
    pub tls_required: bool,
    /// Days the `VMS_EVENTS` JetStream stream keeps an event (PostgreSQL keeps it as the tenant's
    /// licence says; the stream is only the feed).
    pub events_max_age_days: u32,
    /// Bytes the `VMS_EVENTS` stream may hold; the oldest events go first past it.
    pub events_max_bytes: u64,
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

    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.url.starts_with("nats://") && !self.url.starts_with("tls://") {
            return Err(invalid("nats.url", "must start with nats:// or tls://"));
        }
        if !(1..=3650).contains(&self.events_max_age_days) {
            return Err(invalid(
                "nats.events_max_age_days",
                "must be between 1 and 3650",
            ));
        }
        if self.events_max_bytes < 1 << 20 {
            return Err(invalid(
                "nats.events_max_bytes",
                "must be at least 1048576 (1 MiB)",
            ));
        }
        let methods = [&self.password_file, &self.token_file, &self.nkey_seed_file]
            .iter()
            .filter(|m| m.is_some())
            .count();
        if methods > 1 {
            return Err(invalid(
                "nats.password_file",
                "set one of nats.password_file (with nats.user), nats.token_file and nats.nkey_seed_file",
            ));
        }
        if self.password_file.is_some() == self.user.is_empty() {
            return Err(invalid(
                "nats.user",
                "nats.user and nats.password_file go together",
            ));
        }
        Ok(())
    }
}
