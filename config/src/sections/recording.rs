//! The `[recording]` and `[retention]` sections: how cameras are recorded and how long it is kept.

use crate::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

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
    /// CA certificates (PEM) that `rtsps://` cameras are verified against, instead of the system's
    /// roots (cameras usually carry certificates of their own, or of the site's CA).
    pub tls_ca_file: Option<std::path::PathBuf>,
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
            tls_ca_file: None,
        }
    }
}

impl RecordingConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=600).contains(&self.segment_seconds) {
            return Err(invalid(
                "recording.segment_seconds",
                "must be between 1 and 600",
            ));
        }
        if self.overlap_seconds >= self.segment_seconds {
            return Err(invalid(
                "recording.overlap_seconds",
                "must be shorter than recording.segment_seconds",
            ));
        }
        for (key, value) in [
            ("recording.watchdog_seconds", self.watchdog_seconds),
            (
                "recording.connect_timeout_seconds",
                self.connect_timeout_seconds,
            ),
        ] {
            if !(1..=300).contains(&value) {
                return Err(invalid(key, "must be between 1 and 300"));
            }
        }
        if self.backoff_initial_ms == 0 || self.backoff_initial_ms > self.backoff_max_ms {
            return Err(invalid(
                "recording.backoff_initial_ms",
                "must be positive and at most recording.backoff_max_ms",
            ));
        }
        Ok(())
    }
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

impl RetentionConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.interval_seconds == 0 {
            return Err(invalid("retention.interval_seconds", "must be positive"));
        }
        if !(30..=36_500).contains(&self.audit_days) {
            return Err(invalid(
                "retention.audit_days",
                "must be between 30 and 36500",
            ));
        }
        if self.disk_high_watermark_percent == 0 || self.disk_high_watermark_percent > 99 {
            return Err(invalid(
                "retention.disk_high_watermark_percent",
                "must be between 1 and 99",
            ));
        }
        if self.disk_low_watermark_percent >= self.disk_high_watermark_percent {
            return Err(invalid(
                "retention.disk_low_watermark_percent",
                "must be below retention.disk_high_watermark_percent",
            ));
        }
        Ok(())
    }
}
