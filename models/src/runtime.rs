//! Finding and loading ONNX Runtime's shared library (`load-dynamic`): from the configured path,
//! `ORT_DYLIB_PATH`, beside the `vms` binary, or the repository's `third_party/onnxruntime/` (where
//! `scripts/fetch-onnxruntime.sh` puts it). One environment per process.

use crate::ModelError;
use ort::environment::Environment;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// File name of the library.
const LIBRARY: &str = "libonnxruntime.so";

static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

/// Where the library is looked for, in order.
pub fn candidates(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = configured {
        out.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        out.push(dir.join(LIBRARY));
        // target/{debug,release}[/deps] inside a checkout
        for up in dir.ancestors().skip(1).take(3) {
            out.push(up.join("third_party/onnxruntime").join(LIBRARY));
        }
    }
    out.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../third_party/onnxruntime")
            .join(LIBRARY),
    );
    out.push(PathBuf::from("/usr/lib").join(LIBRARY));
    out
}

/// The first existing library among [`candidates`].
pub fn find_library(configured: Option<&Path>) -> Result<PathBuf, ModelError> {
    let tried = candidates(configured);
    tried
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            ModelError::Runtime(format!(
                "ONNX Runtime library not found; run scripts/fetch-onnxruntime.sh or set ORT_DYLIB_PATH (tried {})",
                tried
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The process's ONNX Runtime environment, loading the library on first use.
pub fn environment(configured: Option<&Path>) -> Result<&'static Environment, ModelError> {
    let env = ENVIRONMENT.get_or_init(|| {
        let path = find_library(configured).map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?
            .with_name("vms")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))?;
        tracing::info!(library = %path.display(), "ONNX Runtime loaded");
        Ok(env)
    });
    env.as_ref().map_err(|e| ModelError::Runtime(e.clone()))
}
