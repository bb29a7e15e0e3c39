//! Logging set-up shared by the `vms` and `vms-bench` binaries: a filter from `VMS_LOG` (or
//! `RUST_LOG`), never below info for the targets that would print secrets, to stderr, as text or
//! JSON lines.

use tracing_subscriber::EnvFilter;

/// Log targets that print secrets below info level.
const SECRET_BEARING_TARGETS: &[&str] = &["tokio_postgres", "postgres_protocol"];

/// Installs the global subscriber: JSON lines when `json`, `default` when no filter is set.
pub fn init_tracing(json: bool, default: &str) {
    let filter = std::env::var("VMS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default));
    // The database driver logs every query's parameters at debug (password hashes, camera
    // credentials): never below info, whatever the filter asks.
    let filter = SECRET_BEARING_TARGETS.iter().fold(filter, |f, target| {
        f.add_directive(
            format!("{target}=info")
                .parse()
                .unwrap_or_else(|_| tracing::Level::INFO.into()),
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
