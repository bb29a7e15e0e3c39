//! The web console's browser check (Playwright driving Debian's Chromium) and what its pages
//! must pass.

use serde_json::{Value, json};

/// Drives the web console in Debian's Chromium with `nodes/tests/browser/console_e2e.py` (see
/// there for `args`) against the node at `base`, keeping screenshots in `shots`; what it printed.
pub fn run_console_check(
    base: &str,
    shots: &std::path::Path,
    args: &Value,
) -> anyhow::Result<Value> {
    crate::browser::run_browser_script(
        "console_e2e.py",
        &[base, &shots.display().to_string(), &args.to_string()],
    )
}

/// Every page checked has no serious or critical axe-core violation, fits 390 px and takes the
/// keyboard; at least `pages` were checked.
pub fn assert_console_pages_pass(seen: &Value, pages: usize) -> anyhow::Result<()> {
    let checks = seen["checks"].as_object().cloned().unwrap_or_default();
    anyhow::ensure!(
        checks.len() >= pages,
        "{} pages checked: {seen}",
        checks.len()
    );
    for (page, c) in &checks {
        anyhow::ensure!(c["axe"] == json!([]), "axe-core on {page}: {}", c["axe"]);
        anyhow::ensure!(
            c["width_390"].as_u64().unwrap_or(u64::MAX) <= 390,
            "{page} is wider than 390 px: {} ({})",
            c["width_390"],
            c["too_wide"]
        );
        anyhow::ensure!(
            c["keyboard"] == true,
            "{page}: Tab does not reach the navigation"
        );
    }
    Ok(())
}
