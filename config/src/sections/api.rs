//! The `[api]` section: the HTTP listener, CORS and rate limits.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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
    /// Origins allowed to call the API from a browser (CORS); empty: none. The environment gives
    /// them comma-separated.
    #[serde(deserialize_with = "forms::list")]
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

impl ApiConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "api.listen",
                format!(
                    "must be an address like 127.0.0.1:8080, got {:?}",
                    self.listen
                ),
            )
        })?;
        if !(1024..=64 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err(invalid(
                "api.max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        for (key, v) in [
            ("api.rate_limit_per_second", self.rate_limit_per_second),
            ("api.rate_limit_burst", self.rate_limit_burst),
            (
                "api.ip_rate_limit_per_second",
                self.ip_rate_limit_per_second,
            ),
            ("api.ip_rate_limit_burst", self.ip_rate_limit_burst),
            ("api.login_per_minute", self.login_per_minute),
            ("api.max_streams_per_caller", self.max_streams_per_caller),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        for origin in &self.cors_allowed_origins {
            if origin != "*" && !origin.starts_with("http://") && !origin.starts_with("https://") {
                return Err(invalid(
                    "api.cors_allowed_origins",
                    format!("{origin:?} must be an origin like https://vms.example.com"),
                ));
            }
        }
        Ok(())
    }

    /// What production mode adds: no CORS wildcard.
    pub(crate) fn validate_production(&self) -> Result<(), ConfigError> {
        if self.cors_allowed_origins.iter().any(|o| o == "*") {
            return Err(invalid(
                "api.cors_allowed_origins",
                "\"*\" is not allowed in production; list the origins",
            ));
        }
        Ok(())
    }
}
