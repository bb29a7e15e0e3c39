//! The `[analytics]` section: which detectors run and how many sessions they get.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Analytics settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// Run detectors on cameras whose tenant licence allows them.
    pub enabled: bool,
    /// Detectors the node runs for rules: folders of the zoo, or the built-in `motion`, `tampering`
    /// and `fire`; one that cannot be loaded is logged and left out. The environment gives them
    /// comma-separated.
    #[serde(deserialize_with = "forms::list")]
    pub models: Vec<String>,
    /// Model zoo folder (default: the one shipped beside the sources or the binary).
    #[serde(deserialize_with = "forms::optional_path")]
    pub zoo_dir: Option<PathBuf>,
    /// ONNX Runtime library (default: `ORT_DYLIB_PATH`, beside the binary, `third_party/onnxruntime`).
    #[serde(deserialize_with = "forms::optional_path")]
    pub onnxruntime: Option<PathBuf>,
    /// Appearance embedding model (a zoo folder of the `embedding` family) whose vector events of
    /// object detectors keep, for `GET /events/{id}/similar`; empty for none.
    pub embedding: String,
    /// Detector sessions (threads) of each model's worker.
    pub workers: usize,
    /// Intra-op threads of each session; workers x threads should not exceed the cores.
    pub intra_threads: usize,
    /// Milliseconds a sampled frame may wait for a detector; one still queued then is dropped and
    /// counted (`vms_inference_dropped_total{reason="expired"}`), never run late (50-60000).
    pub frame_deadline_ms: u64,
    /// Most frames a detector session runs in one call, for models with a free batch dimension
    /// (1-64; 1: one at a time, the default, since batching gained nothing on CPU here; see
    /// `docs/benchmarks.md`). Worth raising on an accelerator.
    pub batch_max: usize,
    /// Milliseconds a session holding fewer than `batch_max` frames waits for more (0-1000).
    pub batch_wait_ms: u64,
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
            frame_deadline_ms: 2000,
            batch_max: 1,
            batch_wait_ms: 5,
        }
    }
}

impl AnalyticsConfig {
    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.workers) || !(1..=64).contains(&self.intra_threads) {
            return Err(invalid(
                "analytics.workers",
                "analytics.workers and analytics.intra_threads must be between 1 and 64",
            ));
        }
        if !(50..=60_000).contains(&self.frame_deadline_ms) {
            return Err(invalid(
                "analytics.frame_deadline_ms",
                "analytics.frame_deadline_ms must be between 50 and 60000",
            ));
        }
        if !(1..=64).contains(&self.batch_max) || self.batch_wait_ms > 1000 {
            return Err(invalid(
                "analytics.batch_max",
                "analytics.batch_max must be between 1 and 64 and analytics.batch_wait_ms at most 1000",
            ));
        }
        let bad_name = |m: &String| {
            m.is_empty()
                || !m
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
        };
        if self.models.len() > 16 || self.models.iter().any(bad_name) {
            return Err(invalid(
                "analytics.models",
                format!(
                    "at most 16 model names of [a-z0-9_-], got {:?}",
                    self.models
                ),
            ));
        }
        Ok(())
    }
}
