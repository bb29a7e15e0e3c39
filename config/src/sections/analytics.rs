//! The `[analytics]` section: which detectors run and how many sessions they get.

use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// Worker replicas of a model across the cluster, by model (0-64): each runs on a node with the
    /// `inference` role. A model not named here (or 0) has a replica on every inference node.
    pub replicas: BTreeMap<String, u32>,
    /// Node labels a model's replicas need, by model, as `key=value[,key=value]`
    /// (`person = "accelerator=cuda"`).
    pub replica_labels: BTreeMap<String, String>,
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
            replicas: BTreeMap::new(),
            replica_labels: BTreeMap::new(),
        }
    }
}

/// Parses `key=value[,key=value]` into pairs; empty gives none.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!("{pair:?} is not key=value")),
        })
        .collect()
}

impl AnalyticsConfig {
    /// The labels a node needs to run `model`'s replicas.
    pub fn labels_for(&self, model: &str) -> Vec<(String, String)> {
        self.replica_labels
            .get(model)
            .and_then(|l| parse_labels(l).ok())
            .unwrap_or_default()
    }

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
        if let Some((model, n)) = self.replicas.iter().find(|(_, n)| **n > 64) {
            return Err(invalid(
                "analytics.replicas",
                format!("analytics.replicas.{model} must be between 0 and 64, got {n}"),
            ));
        }
        for (model, labels) in &self.replica_labels {
            if let Err(e) = parse_labels(labels) {
                return Err(invalid(
                    "analytics.replica_labels",
                    format!("analytics.replica_labels.{model}: {e}"),
                ));
            }
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
