//! The model zoo: every `<zoo>/<name>/model.toml`, loaded into detectors. A broken model is reported
//! with what is wrong and skipped; the others load.

use crate::Detector;
use crate::ModelError;
use crate::manifest::Family;
use crate::manifest::Manifest;
use crate::ocr::OcrDetector;
use crate::onnx::OnnxDetector;
use ort::environment::Environment;
use std::path::{Path, PathBuf};

/// The zoo shipped in the repository.
pub fn default_zoo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("zoo")
}

/// Every manifest under `zoo` (one folder per model), with the ones that failed and why.
pub fn manifests(zoo: &Path) -> (Vec<Manifest>, Vec<ModelError>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(zoo) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            failed.push(ModelError::Manifest(format!(
                "cannot read model zoo {}: {e}",
                zoo.display()
            )));
            return (ok, failed);
        }
    };
    dirs.sort();
    for dir in dirs {
        match Manifest::load(&dir) {
            Ok(m) => ok.push(m),
            Err(e) => failed.push(e),
        }
    }
    (ok, failed)
}

/// Opens the detector a manifest describes: a single-network model, or the PP-OCR pair.
pub fn open_detector(
    manifest: Manifest,
    env: &Environment,
    threads: usize,
) -> Result<Box<dyn Detector>, ModelError> {
    Ok(match manifest.family {
        Family::PpOcr => Box::new(OcrDetector::open(manifest, env, threads)?),
        _ => Box::new(OnnxDetector::open(manifest, env, threads)?),
    })
}

/// Opens a detector per detector manifest (embedding models are not detectors and are left out);
/// failures are returned beside the detectors, never fatal.
pub fn open_all(
    zoo: &Path,
    env: &Environment,
    threads: usize,
) -> (Vec<Box<dyn Detector>>, Vec<ModelError>) {
    let (found, mut failed) = manifests(zoo);
    let mut detectors = Vec::new();
    for m in found.into_iter().filter(|m| m.family != Family::Embedding) {
        match open_detector(m, env, threads) {
            Ok(d) => detectors.push(d),
            Err(e) => failed.push(e),
        }
    }
    for e in &failed {
        tracing::warn!(error = %e, "model refused");
    }
    (detectors, failed)
}
