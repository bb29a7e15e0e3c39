//! The `[postgres]` section: the database every node shares.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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
    #[serde(deserialize_with = "forms::optional_path")]
    pub tls_ca_file: Option<PathBuf>,
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

impl PostgresConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.url.starts_with("postgres://") && !self.url.starts_with("postgresql://") {
            return Err(invalid(
                "postgres.url",
                "must start with postgres:// or postgresql://",
            ));
        }
        if self.pool_size == 0 || self.pool_size > 512 {
            return Err(invalid("postgres.pool_size", "must be between 1 and 512"));
        }
        Ok(())
    }
}
