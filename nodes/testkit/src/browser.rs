//! The browser checks' runner: a Playwright script of `nodes/tests/browser/` driving Debian's
//! Chromium, whose one JSON line is what it saw.

use serde_json::Value;

/// Runs the Playwright script `name` of `nodes/tests/browser/` with `args` and reads the one JSON
/// object it prints.
pub(crate) fn run_browser_script(name: &str, args: &[&str]) -> anyhow::Result<Value> {
    let script = format!("{}/../tests/browser/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "the Chromium check {name} failed (are Debian's chromium and PyPI's playwright installed? scripts/setup.sh installs them): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
