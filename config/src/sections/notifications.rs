//! The `[notifications]` section: delivery retries and the SMTP relay.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    #[serde(deserialize_with = "forms::optional_path")]
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

impl NotificationsConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(invalid(
                "notifications.max_attempts",
                "must be between 1 and 100",
            ));
        }
        if self.retry_initial_ms == 0 || self.retry_initial_ms > self.retry_max_ms {
            return Err(invalid(
                "notifications.retry_initial_ms",
                "must be positive and at most notifications.retry_max_ms",
            ));
        }
        if !(1..=120).contains(&self.timeout_seconds) {
            return Err(invalid(
                "notifications.timeout_seconds",
                "must be between 1 and 120",
            ));
        }
        self.smtp.validate()
    }
}

impl SmtpConfig {
    /// Checks the relay's settings when one is named.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.host.is_empty() {
            return Ok(());
        }
        if self.port == 0 {
            return Err(invalid("notifications.smtp.port", "must be 1-65535"));
        }
        if !self.from.contains('@') || self.from.chars().any(char::is_whitespace) {
            return Err(invalid(
                "notifications.smtp.from",
                format!("must be an e-mail address, got {:?}", self.from),
            ));
        }
        if self.password_file.is_some() && self.username.is_empty() {
            return Err(invalid(
                "notifications.smtp.username",
                "is required with notifications.smtp.password_file",
            ));
        }
        Ok(())
    }
}
