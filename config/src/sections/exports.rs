//! The `[exports]` section: how long a range one export may cover and how many run at once.

use crate::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// Export limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportsConfig {
    /// Longest range one export may cover, in hours (1-168).
    pub max_hours: u32,
    /// Exports a node writes at once; more wait their turn (1-16).
    pub concurrency: u32,
}

impl Default for ExportsConfig {
    fn default() -> Self {
        Self {
            max_hours: 24,
            concurrency: 2,
        }
    }
}

impl ExportsConfig {
    /// Checks every value, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=168).contains(&self.max_hours) {
            return Err(invalid("exports.max_hours", "must be 1-168"));
        }
        if !(1..=16).contains(&self.concurrency) {
            return Err(invalid("exports.concurrency", "must be 1-16"));
        }
        Ok(())
    }
}
