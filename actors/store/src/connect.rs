//! Connecting: the pool, TLS, the settings of every connection, migrations, and scratch databases.

use crate::{Store, StoreError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

/// Migrations in the order they apply; each runs once, in a transaction, under an advisory lock.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "recording",
        include_str!("../migrations/0001_recording.sql"),
    ),
    (
        2,
        "security",
        include_str!("../migrations/0002_security.sql"),
    ),
    (3, "events", include_str!("../migrations/0003_events.sql")),
    (4, "rules", include_str!("../migrations/0004_rules.sql")),
    (5, "tickets", include_str!("../migrations/0005_tickets.sql")),
    (
        6,
        "notifications",
        include_str!("../migrations/0006_notifications.sql"),
    ),
    (
        7,
        "rule kinds",
        include_str!("../migrations/0007_rule_kinds.sql"),
    ),
    (
        8,
        "embeddings and sampling",
        include_str!("../migrations/0008_embeddings.sql"),
    ),
    (
        9,
        "placement",
        include_str!("../migrations/0009_placement.sql"),
    ),
    (
        10,
        "fencing and handover",
        include_str!("../migrations/0010_fencing.sql"),
    ),
    (
        11,
        "used refresh tokens",
        include_str!("../migrations/0011_credentials.sql"),
    ),
    (
        12,
        "rule ids on events and tickets",
        include_str!("../migrations/0012_rule_ids.sql"),
    ),
    (
        13,
        "audit retention",
        include_str!("../migrations/0013_audit_retention.sql"),
    ),
    (
        14,
        "segment write times",
        include_str!("../migrations/0014_write_times.sql"),
    ),
    (
        15,
        "orphaned footage",
        include_str!("../migrations/0015_orphaned_footage.sql"),
    ),
    (
        16,
        "segment media index",
        include_str!("../migrations/0016_segment_media.sql"),
    ),
    (
        17,
        "rtsp transport",
        include_str!("../migrations/0017_rtsp_transport.sql"),
    ),
    (
        18,
        "standby node",
        include_str!("../migrations/0018_standby_node.sql"),
    ),
    (
        19,
        "segment recorder",
        include_str!("../migrations/0019_segment_recorder.sql"),
    ),
    (
        20,
        "object tier",
        include_str!("../migrations/0020_object_tier.sql"),
    ),
    (
        21,
        "quota and holds",
        include_str!("../migrations/0021_quota_and_holds.sql"),
    ),
    (
        22,
        "standby copies",
        include_str!("../migrations/0022_standby_copies.sql"),
    ),
    (
        23,
        "exports",
        include_str!("../migrations/0023_exports.sql"),
    ),
    (
        24,
        "tenant usage",
        include_str!("../migrations/0024_tenant_usage.sql"),
    ),
    (
        25,
        "inference priority and share",
        include_str!("../migrations/0025_inference_priority.sql"),
    ),
    (
        26,
        "tenant storage hours",
        include_str!("../migrations/0026_tenant_storage_hours.sql"),
    ),
    (
        27,
        "tenant storage",
        include_str!("../migrations/0027_tenant_storage.sql"),
    ),
];

/// Advisory lock key serialising migrations across nodes.
const MIGRATION_LOCK: i64 = 0x0076_6d73_5f6d_6967; // "vms_mig"

/// How long a PostgreSQL server may leave sent data unacknowledged (or an idle connection stay
/// silent) before the connection is given up.
pub const SERVER_SILENCE: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest a connection may sit in an open transaction between statements before the server ends
/// it and frees its locks: our transactions run their statements back to back, and a node cut off
/// midway must not keep a camera's placement row locked while the leader moves the camera.
pub const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest a statement may run (an option of every pooled connection; migrations lift it).
pub const STATEMENT_TIMEOUT_MS: u32 = 60_000;

/// `url` with `sslmode=verify-ca`/`verify-full` spelled `require` (the driver knows only that; the
/// certificate is verified either way), and whether TLS is required.
fn tls_wanted(url: &str) -> (String, bool) {
    let mut url = url.to_string();
    for strict in ["sslmode=verify-full", "sslmode=verify-ca"] {
        url = url.replace(strict, "sslmode=require");
    }
    let verify = url.contains("sslmode=require");
    (url, verify)
}

/// A rustls client that verifies servers against `ca_file` (PEM, named `key` in errors) or the
/// system's roots. PostgreSQL connections and `rtsps://` cameras use it.
pub fn tls_client_config(
    ca_file: Option<&std::path::Path>,
    key: &str,
) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |e: &dyn std::fmt::Display| format!("{key} {}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    .map_err(|e| e.to_string())
}

impl Store {
    /// Builds a pool for `url` (no connection is made until first use); see [`Store::connect_with`].
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        Self::connect_with(url, pool_size, None)
    }

    /// Builds a pool for `url`. Its connections notice a silent server within [`SERVER_SILENCE`] (and
    /// the server notices a silent node, or one idle in a transaction, as fast) and run no statement
    /// longer than [`STATEMENT_TIMEOUT_MS`]. With `sslmode=require` (or `verify-ca`, `verify-full`) in the URL,
    /// every connection is TLS (rustls) and the server's certificate is verified, against
    /// `tls_ca_file` when given, else the system's roots (stricter than libpq's `require`). Any
    /// other mode (`prefer`, the default, included) connects without TLS.
    pub fn connect_with(
        url: &str,
        pool_size: usize,
        tls_ca_file: Option<&std::path::Path>,
    ) -> Result<Self, StoreError> {
        let pg = connection_config(url)?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(
            tls_client_config(tls_ca_file, "postgres.tls_ca_file").map_err(StoreError::Tls)?,
        );
        let manager = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .wait_timeout(Some(std::time::Duration::from_secs(5)))
            .create_timeout(Some(std::time::Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Whether a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Applies the migrations not applied yet; returns how many ran.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let mut client = self.pool.get().await?;
        // Building an index on a large table may take longer than any request should.
        client.batch_execute("SET statement_timeout = 0").await?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        let result = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (
                        version integer PRIMARY KEY, name text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now())",
                )
                .await?;
            let mut applied = 0;
            for (version, name, sql) in MIGRATIONS {
                let done = client
                    .query_opt(
                        "SELECT 1 FROM schema_migrations WHERE version = $1",
                        &[version],
                    )
                    .await?
                    .is_some();
                if done {
                    continue;
                }
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[version, name],
                )
                .await?;
                tx.commit().await?;
                tracing::info!(version, name, "migration applied");
                applied += 1;
            }
            Ok::<_, StoreError>(applied)
        }
        .await;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
            .await?;
        // The connection goes back to the pool with the pool's limit.
        client.batch_execute("RESET statement_timeout").await?;
        result
    }
}

/// The connection settings of every pooled connection to `url` (see [`Store::connect_with`]):
/// timeouts on both sides, so that neither end waits on a silent one, and TLS when the URL asks.
pub fn connection_config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let (url, verify) = tls_wanted(url);
    let mut pg: tokio_postgres::Config = url.parse().map_err(StoreError::Config)?;
    pg.connect_timeout(std::time::Duration::from_secs(3));
    // A server that silently stops answering (a partition that drops packets) is noticed within
    // seconds instead of after TCP's minutes: data unacknowledged for 5 s aborts the connection,
    // and an idle one is probed after 5 s of silence.
    pg.tcp_user_timeout(SERVER_SILENCE);
    pg.keepalives(true)
        .keepalives_idle(SERVER_SILENCE)
        .keepalives_interval(std::time::Duration::from_secs(1))
        .keepalives_retries(3);
    // And no statement runs for ever (a stuck lock, a runaway query); migrations lift it. The
    // server gives up on us as we give up on it: a node cut off in the middle of a transaction
    // would otherwise hold its row locks (the fence's lock on a camera's placement row among
    // them) until the server's TCP noticed, hours later, and the placement leader could move
    // none of its cameras (seen in the black-hole partition series before this was set).
    let silence_ms = SERVER_SILENCE.as_millis();
    let silence_s = SERVER_SILENCE.as_secs();
    let server_side = [
        ("statement_timeout", STATEMENT_TIMEOUT_MS.to_string()),
        (
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION.as_millis().to_string(),
        ),
        ("tcp_user_timeout", silence_ms.to_string()),
        ("tcp_keepalives_idle", silence_s.to_string()),
        ("tcp_keepalives_interval", "1".to_string()),
        ("tcp_keepalives_count", "3".to_string()),
    ];
    let mut options = pg.get_options().unwrap_or_default().to_string();
    for (key, value) in server_side {
        // What the URL sets itself wins.
        if !options.contains(key) {
            options = format!("{options} -c {key}={value}");
        }
    }
    pg.options(options.trim());
    if !verify {
        pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
    }
    Ok(pg)
}

/// `url` with its database name replaced by `database` (for admin connections and scratch databases).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// Creates a database (for tests and benchmarks) through the server's `postgres` database.
pub async fn create_database(url: &str, name: &str) -> Result<(), StoreError> {
    admin_execute(url, &format!("CREATE DATABASE \"{name}\"")).await
}

/// Drops a database if it exists, disconnecting its sessions.
pub async fn drop_database(url: &str, name: &str) -> Result<(), StoreError> {
    admin_execute(
        url,
        &format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
    )
    .await
}

async fn admin_execute(url: &str, sql: &str) -> Result<(), StoreError> {
    let admin: tokio_postgres::Config = with_database(url, "postgres")
        .parse()
        .map_err(StoreError::Config)?;
    let (client, connection) = admin.connect(NoTls).await?;
    let conn = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = conn.await;
    Ok(result?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            with_database("postgres://u@h:5432/vms", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/vms?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
