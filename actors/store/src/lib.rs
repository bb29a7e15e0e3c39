//! PostgreSQL store through deadpool-postgres: migrations, tenants, cameras and the segment index.
//! Every list uses keyset pagination; every write that enforces a licence does so in one transaction.

use chrono::{DateTime, TimeZone, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;
use vms_messages::camera::RtspCredentials;
use vms_messages::{
    Camera, CameraCreate, CameraId, CameraUpdate, Segment, SegmentOrigin, Tenant, TenantCreate,
    TenantId, TenantScope, TenantUpdate,
};

pub mod events;
pub mod fence;
pub mod notify;
pub mod placement;
pub mod rules;
pub mod scratch;
pub mod security;
mod segments;
pub use segments::{RECOVERED_SLACK, SEQ_BLOCK};
pub mod tickets;

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
];

/// Advisory lock key serialising migrations across nodes.
const MIGRATION_LOCK: i64 = 0x0076_6d73_5f6d_6967; // "vms_mig"

pub(crate) use fence::owner_at_epoch;

/// How long a PostgreSQL server may leave sent data unacknowledged (or an idle connection stay
/// silent) before the connection is given up.
pub const SERVER_SILENCE: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest a connection may sit in an open transaction between statements before the server ends
/// it and frees its locks: our transactions run their statements back to back, and a node cut off
/// midway must not keep a camera's placement row locked while the leader moves the camera.
pub const IDLE_IN_TRANSACTION: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest a statement may run (an option of every pooled connection; migrations lift it).
pub const STATEMENT_TIMEOUT_MS: u32 = 60_000;

/// Tries to find a free segment number when another node took a file's (placement off).
const MAX_RENUMBERING: usize = 5;

/// Most items one list call returns.
pub const MAX_PAGE: i64 = 1000;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique or state constraint refused the write.
    #[error("{message}")]
    Conflict {
        /// Field at fault.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A licence limit refused the write.
    #[error("{message}")]
    QuotaExceeded {
        /// The licence limit, e.g. `max_cameras`.
        limit: &'static str,
        /// Why, naming the limit's value.
        message: String,
    },
    /// A referenced object does not exist.
    #[error("{message}")]
    UnknownReference {
        /// Field holding the reference.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The tenant's licence has ended; nothing new may be recorded.
    #[error("{message}")]
    LicenceExpired {
        /// Why, naming the end date.
        message: String,
    },
    /// A pagination cursor could not be decoded.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The write carried an ownership epoch that is no longer the camera's: another node owns it now.
    #[error("stale ownership epoch {epoch} for camera {camera}: it is placed elsewhere now")]
    Fenced {
        /// The camera.
        camera: CameraId,
        /// The refused epoch.
        epoch: i64,
    },
    /// The write no longer applies: what it was about changed first (an escalation whose ticket was
    /// acknowledged or closed meanwhile). Not an error of the data: drop it.
    #[error("superseded: {0}")]
    Superseded(&'static str),
    /// No connection could be had from the pool.
    #[error("database unavailable")]
    Unavailable(#[source] deadpool_postgres::PoolError),
    /// The database refused or failed a statement.
    #[error("database error")]
    Db(#[source] tokio_postgres::Error),
    /// The connection URL is invalid.
    #[error("invalid postgres url")]
    Config(#[source] tokio_postgres::Error),
    /// TLS to PostgreSQL cannot be set up (the CA file, the crypto provider).
    #[error("{0}")]
    Tls(String),
    /// The pool could not be built.
    #[error("cannot build connection pool: {0}")]
    Pool(String),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Db(e)
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Unavailable(e)
    }
}

/// An error with its causes, `a: b: c` (the useful part is often only in the innermost).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl StoreError {
    /// Whether the database refused the write for a reason that retrying cannot change: the row
    /// breaks a constraint (SQLSTATE class 23), carries invalid data (22) or an invalid statement
    /// (42), or the object it refers to is gone.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Db(e) => e
                .code()
                .is_some_and(|c| matches!(&c.code()[..2], "22" | "23" | "42")),
            Self::NotFound(_)
            | Self::Conflict { .. }
            | Self::QuotaExceeded { .. }
            | Self::UnknownReference { .. }
            | Self::LicenceExpired { .. }
            | Self::InvalidCursor => true,
            _ => false,
        }
    }

    /// A short name of the kind of error, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::QuotaExceeded { .. } => "quota",
            Self::UnknownReference { .. } => "unknown_reference",
            Self::LicenceExpired { .. } => "licence_expired",
            Self::InvalidCursor => "invalid_cursor",
            Self::Fenced { .. } => "fenced",
            Self::Superseded(_) => "superseded",
            Self::Db(e) => match e.code().map(|c| &c.code()[..2]) {
                Some("23") => "constraint",
                Some("22") => "invalid_data",
                Some("42") => "invalid_statement",
                _ => "database",
            },
            Self::Unavailable(_) | Self::Config(_) | Self::Tls(_) | Self::Pool(_) => "unavailable",
        }
    }

    /// Whether the error is the database being away (retry later), rather than a refusal.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Db(e) => e.is_closed() || e.as_db_error().is_none(),
            _ => false,
        }
    }
}

/// Maps a unique violation of a write to a conflict on `field`; other errors pass through.
fn unique_as_conflict<T>(
    result: Result<T, tokio_postgres::Error>,
    field: &'static str,
    message: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    result.map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict {
                field,
                message: message(),
            }
        } else {
            e.into()
        }
    })
}

/// A segment file closed by a camera, before it is indexed.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSegment {
    /// Camera recorded.
    pub camera_id: CameraId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Per-camera sequence number.
    pub seq: i64,
    /// Wall-clock start.
    pub start: DateTime<Utc>,
    /// Wall-clock end.
    pub end: DateTime<Utc>,
    /// File size.
    pub bytes: i64,
    /// Absolute file path.
    pub path: PathBuf,
}

/// A segment row with its file path, for serving media and deleting.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentFile {
    /// Index entry.
    pub segment: Segment,
    /// Absolute file path.
    pub path: PathBuf,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

fn to_u32(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn tenant_from_row(row: &Row) -> Tenant {
    Tenant {
        id: TenantId(row.get("id")),
        name: row.get("name"),
        max_cameras: to_u32(row.get("max_cameras")),
        retention_days: to_u32(row.get("retention_days")),
        allowed_detectors: row.get("allowed_detectors"),
        expires_at: row.get("expires_at"),
        ack_sla_seconds: row.get::<_, Option<i32>>("ack_sla_seconds").map(to_u32),
        created_at: row.get("created_at"),
    }
}

fn camera_from_row(row: &Row) -> Camera {
    let labels: serde_json::Value = row.get("labels");
    let labels: BTreeMap<String, String> = serde_json::from_value(labels).unwrap_or_default();
    Camera {
        id: CameraId(row.get("id")),
        tenant_id: TenantId(row.get("tenant_id")),
        name: row.get("name"),
        url: row.get("url"),
        has_credentials: row.get::<_, Option<String>>("rtsp_username").is_some(),
        credentials: row
            .get::<_, Option<String>>("rtsp_username")
            .map(|username| RtspCredentials {
                username,
                password: row
                    .get::<_, Option<String>>("rtsp_password")
                    .unwrap_or_default(),
            }),
        enabled: row.get("enabled"),
        retention_days: row.get::<_, Option<i32>>("retention_days").map(to_u32),
        labels,
        sample_fps: row.get::<_, Option<i32>>("sample_fps").map(to_u32),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn segment_from_row(row: &Row) -> SegmentFile {
    let id: i64 = row.get("id");
    let start: DateTime<Utc> = row.get("start_ts");
    let end: DateTime<Utc> = row.get("end_ts");
    SegmentFile {
        segment: Segment {
            id,
            camera_id: CameraId(row.get("camera_id")),
            tenant_id: TenantId(row.get("tenant_id")),
            seq: row.get("seq"),
            start,
            end,
            duration_ms: (end - start).num_milliseconds(),
            bytes: row.get("bytes"),
            node: row.get("node"),
            media_url: String::new(),
            origin: SegmentOrigin::from_name(row.get("origin")),
        },
        path: PathBuf::from(row.get::<_, String>("path")),
    }
}

/// Cursor of a list ordered by id: the last id seen.
fn decode_id_cursor(cursor: Option<&str>) -> Result<Uuid, StoreError> {
    match cursor {
        None => Ok(Uuid::nil()),
        Some(c) => Uuid::parse_str(c).map_err(|_| StoreError::InvalidCursor),
    }
}

/// Cursor of a segment list: `<start micros>_<id>` of the last item.
fn decode_segment_cursor(cursor: Option<&str>) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let (micros, id) = c.split_once('_').ok_or(StoreError::InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
    let id: i64 = id.parse().map_err(|_| StoreError::InvalidCursor)?;
    let ts = Utc
        .timestamp_micros(micros)
        .single()
        .ok_or(StoreError::InvalidCursor)?;
    Ok(Some((ts, id)))
}

/// Cursor of a newest-first list keyed by time and id: `<micros>_<uuid>` of the last item.
fn decode_time_id_cursor(
    cursor: Option<&str>,
) -> Result<Option<(DateTime<Utc>, Uuid)>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let (micros, id) = c.split_once('_').ok_or(StoreError::InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
    let id = Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
    let at = Utc
        .timestamp_micros(micros)
        .single()
        .ok_or(StoreError::InvalidCursor)?;
    Ok(Some((at, id)))
}

/// Encodes a time-and-id cursor.
fn time_id_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{id}", at.timestamp_micros())
}

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

/// A rustls client that verifies servers against `ca_file` (PEM) or the system's roots.
fn tls_client_config(
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                StoreError::Tls(format!("postgres.tls_ca_file {}: {e}", path.display()))
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    StoreError::Tls(format!("postgres.tls_ca_file {}: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    StoreError::Tls(format!("postgres.tls_ca_file {}: {e}", path.display()))
                })?;
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
    .map_err(|e| StoreError::Tls(e.to_string()))
}

/// Encodes the cursor after `segment`.
pub fn segment_cursor(segment: &Segment) -> String {
    format!("{}_{}", segment.start.timestamp_micros(), segment.id)
}

const TENANT_COLS: &str = "id, name, max_cameras, retention_days, allowed_detectors, expires_at, ack_sla_seconds, created_at";
const CAMERA_COLS: &str = "id, tenant_id, name, url, rtsp_username, rtsp_password, enabled, retention_days, labels, sample_fps, created_at, updated_at";
const SEGMENT_COLS: &str =
    "id, camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node, origin";

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
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_client_config(tls_ca_file)?);
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

    // ---- tenants ----

    /// Creates a tenant with licence defaults for absent limits.
    pub async fn create_tenant(&self, req: &TenantCreate) -> Result<Tenant, StoreError> {
        let client = self.pool.get().await?;
        let max = to_i32(
            req.max_cameras
                .unwrap_or(vms_messages::tenant::DEFAULT_MAX_CAMERAS),
        );
        let days = to_i32(
            req.retention_days
                .unwrap_or(vms_messages::tenant::DEFAULT_RETENTION_DAYS),
        );
        let sql = format!(
            "INSERT INTO tenants (id, name, max_cameras, retention_days, allowed_detectors, expires_at, ack_sla_seconds)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {TENANT_COLS}"
        );
        let row = unique_as_conflict(
            client
                .query_one(
                    &sql,
                    &[
                        &TenantId::new().0,
                        &req.name,
                        &max,
                        &days,
                        &req.allowed_detectors,
                        &req.expires_at,
                        &req.ack_sla_seconds.map(to_i32),
                    ],
                )
                .await,
            "name",
            || format!("a tenant named {:?} exists", req.name),
        )?;
        Ok(tenant_from_row(&row))
    }

    /// One tenant, if within `scope`.
    pub async fn tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, StoreError> {
        self.one(
            &format!(
                "SELECT {TENANT_COLS} FROM tenants WHERE id = $1 AND ($2::uuid IS NULL OR id = $2)"
            ),
            &[&id.0, &scope_param(scope)],
            "tenant",
            tenant_from_row,
        )
        .await
    }

    /// A page of the tenants within `scope`, ordered by id, after `cursor`.
    pub async fn tenants(
        &self,
        scope: TenantScope,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Tenant>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {TENANT_COLS} FROM tenants WHERE id > $1 AND ($3::uuid IS NULL OR id = $3)
                 ORDER BY id LIMIT $2"
            ),
            &[&after, &(limit + 1), &scope_param(scope)],
            limit,
            tenant_from_row,
            |t| t.id.to_string(),
        )
        .await
    }

    /// Every tenant (node start).
    pub async fn all_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(tenant_from_row).collect())
    }

    /// Changes a tenant; a camera limit below its current camera count is refused.
    pub async fn update_tenant(
        &self,
        id: TenantId,
        req: &TenantUpdate,
    ) -> Result<Tenant, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1 FOR UPDATE"),
                &[&id.0],
            )
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        let current = tenant_from_row(&row);
        if let Some(max) = req.max_cameras {
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                    &[&id.0],
                )
                .await?
                .get(0);
            if i64::from(max) < count {
                return Err(StoreError::Conflict {
                    field: "max_cameras",
                    message: format!(
                        "tenant has {count} cameras; remove some before lowering max_cameras to {max}"
                    ),
                });
            }
        }
        let name = req.name.clone().unwrap_or(current.name);
        let max = to_i32(req.max_cameras.unwrap_or(current.max_cameras));
        let days = to_i32(req.retention_days.unwrap_or(current.retention_days));
        let detectors = req
            .allowed_detectors
            .clone()
            .unwrap_or(current.allowed_detectors);
        let expires_at = req.expires_at.unwrap_or(current.expires_at);
        let sla = req
            .ack_sla_seconds
            .unwrap_or(current.ack_sla_seconds)
            .map(to_i32);
        let result = tx
            .query_one(
                &format!(
                    "UPDATE tenants SET name = $2, max_cameras = $3, retention_days = $4,
                     allowed_detectors = $5, expires_at = $6, ack_sla_seconds = $7 WHERE id = $1 RETURNING {TENANT_COLS}"
                ),
                &[&id.0, &name, &max, &days, &detectors, &expires_at, &sla],
            )
            .await;
        let row = unique_as_conflict(result, "name", || format!("a tenant named {name:?} exists"))?;
        tx.commit().await?;
        Ok(tenant_from_row(&row))
    }

    /// Deletes a tenant that has no cameras.
    pub async fn delete_tenant(&self, id: TenantId) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let exists = tx
            .query_opt("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", &[&id.0])
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::NotFound("tenant"));
        }
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                &[&id.0],
            )
            .await?
            .get(0);
        if count > 0 {
            return Err(StoreError::Conflict {
                field: "id",
                message: format!("tenant still has {count} cameras; delete them first"),
            });
        }
        tx.execute("DELETE FROM tenants WHERE id = $1", &[&id.0])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- cameras ----

    /// Adds a camera to `tenant` (which must be within `scope`), enforcing the tenant's licence (expiry,
    /// camera count, retention) in the same transaction.
    pub async fn create_camera(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: &CameraCreate,
    ) -> Result<Camera, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let tenant = tx
            .query_opt(
                &format!(
                    "SELECT {TENANT_COLS} FROM tenants WHERE id = $1 AND ($2::uuid IS NULL OR id = $2) FOR UPDATE"
                ),
                &[&tenant.0, &scope_param(scope)],
            )
            .await?
            .map(|r| tenant_from_row(&r))
            .ok_or_else(|| StoreError::UnknownReference {
                field: "tenant_id",
                message: "unknown tenant".into(),
            })?;
        check_licence_current(&tenant)?;
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM cameras WHERE tenant_id = $1",
                &[&tenant.id.0],
            )
            .await?
            .get(0);
        if count >= i64::from(tenant.max_cameras) {
            return Err(StoreError::QuotaExceeded {
                limit: "max_cameras",
                message: format!(
                    "tenant licence allows at most {} cameras (max_cameras)",
                    tenant.max_cameras
                ),
            });
        }
        check_retention(&tenant, req.retention_days)?;
        let labels = serde_json::to_value(&req.labels).unwrap_or_default();
        let result = tx
            .query_one(
                &format!(
                    "INSERT INTO cameras (id, tenant_id, name, url, enabled, retention_days, labels, sample_fps,
                                          rtsp_username, rtsp_password)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {CAMERA_COLS}"
                ),
                &[
                    &CameraId::new().0,
                    &tenant.id.0,
                    &req.name,
                    &req.url,
                    &req.enabled,
                    &req.retention_days.map(to_i32),
                    &labels,
                    &req.sample_fps.map(to_i32),
                    &req.username.as_deref().filter(|u| !u.is_empty()),
                    &req.password,
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("a camera named {:?} exists in this tenant", req.name)
        })?;
        tx.commit().await?;
        Ok(camera_from_row(&row))
    }

    /// One camera, if within `scope`.
    pub async fn camera(&self, scope: TenantScope, id: CameraId) -> Result<Camera, StoreError> {
        self.one(
            &format!(
                "SELECT {CAMERA_COLS} FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id.0, &scope_param(scope)],
            "camera",
            camera_from_row,
        )
        .await
    }

    /// A page of the cameras within `scope` ordered by id, optionally of one tenant.
    pub async fn cameras(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Camera>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        let tenant = tenant.map(|t| t.0);
        self.keyset_page(
            &format!(
                "SELECT {CAMERA_COLS} FROM cameras WHERE id > $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 AND ($4::uuid IS NULL OR tenant_id = $4) ORDER BY id LIMIT $3"
            ),
            &[&after, &tenant, &(limit + 1), &scope_param(scope)],
            limit,
            camera_from_row,
            |c| c.id.to_string(),
        )
        .await
    }

    /// Every camera of a tenant (tenant actor start).
    pub async fn tenant_cameras(&self, tenant: TenantId) -> Result<Vec<Camera>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {CAMERA_COLS} FROM cameras WHERE tenant_id = $1 ORDER BY id"),
                &[&tenant.0],
            )
            .await?;
        Ok(rows.iter().map(camera_from_row).collect())
    }

    /// Changes a camera within `scope`; refused while the licence has ended, and retention is checked
    /// against the licence.
    pub async fn update_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
        req: &CameraUpdate,
    ) -> Result<Camera, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {CAMERA_COLS} FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                     FOR UPDATE"
                ),
                &[&id.0, &scope_param(scope)],
            )
            .await?
            .ok_or(StoreError::NotFound("camera"))?;
        let current = camera_from_row(&row);
        let tenant_row = tx
            .query_one(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"),
                &[&current.tenant_id.0],
            )
            .await?;
        let tenant = tenant_from_row(&tenant_row);
        check_licence_current(&tenant)?;
        check_retention(&tenant, req.retention_days)?;
        let name = req.name.clone().unwrap_or(current.name);
        let url = req.url.clone().unwrap_or(current.url);
        let enabled = req.enabled.unwrap_or(current.enabled);
        let retention = req.retention_days.or(current.retention_days).map(to_i32);
        let labels = serde_json::to_value(req.labels.as_ref().unwrap_or(&current.labels))
            .unwrap_or_default();
        let sample_fps = req.sample_fps.unwrap_or(current.sample_fps).map(to_i32);
        // Credentials change only when given; an empty user name clears them.
        let (username, password) = match (&req.username, &req.password, current.credentials) {
            (None, None, kept) => (
                kept.as_ref().map(|c| c.username.clone()),
                kept.map(|c| c.password),
            ),
            (user, pass, kept) => (
                user.clone()
                    .or_else(|| kept.as_ref().map(|c| c.username.clone()))
                    .filter(|u| !u.is_empty()),
                pass.clone().or_else(|| kept.map(|c| c.password)),
            ),
        };
        let password = password.filter(|_| username.is_some());
        let result = tx
            .query_one(
                &format!(
                    "UPDATE cameras SET name = $2, url = $3, enabled = $4, retention_days = $5, labels = $6,
                     sample_fps = $7, rtsp_username = $8, rtsp_password = $9, updated_at = now()
                     WHERE id = $1 RETURNING {CAMERA_COLS}"
                ),
                &[
                    &id.0,
                    &name,
                    &url,
                    &enabled,
                    &retention,
                    &labels,
                    &sample_fps,
                    &username,
                    &password,
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("a camera named {name:?} exists in this tenant")
        })?;
        tx.commit().await?;
        Ok(camera_from_row(&row))
    }

    /// Deletes a camera within `scope` and its segment index (the node deletes the files).
    pub async fn delete_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
    ) -> Result<Camera, StoreError> {
        self.one(
            &format!(
                "DELETE FROM cameras WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 RETURNING {CAMERA_COLS}"
            ),
            &[&id.0, &scope_param(scope)],
            "camera",
            camera_from_row,
        )
        .await
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

/// The tenant filter of a scoped query: `NULL` matches every tenant.
fn scope_param(scope: TenantScope) -> Option<Uuid> {
    scope.tenant().map(|t| t.0)
}

/// Refuses writes for a tenant whose licence has ended.
fn check_licence_current(tenant: &Tenant) -> Result<(), StoreError> {
    match tenant.expires_at {
        Some(at) if at <= Utc::now() => Err(StoreError::LicenceExpired {
            message: format!(
                "tenant licence expired at {} (expires_at); recordings are kept, renew the licence to change cameras",
                at.to_rfc3339()
            ),
        }),
        _ => Ok(()),
    }
}

fn check_retention(tenant: &Tenant, days: Option<u32>) -> Result<(), StoreError> {
    match days {
        Some(d) if d > tenant.retention_days => Err(StoreError::QuotaExceeded {
            limit: "retention_days",
            message: format!(
                "tenant licence allows at most {} retention days (retention_days)",
                tenant.retention_days
            ),
        }),
        _ => Ok(()),
    }
}

impl Store {
    /// Runs a query for one row; `NotFound(what)` when there is none (or it is outside the scope).
    async fn one<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        what: &'static str,
        from_row: impl Fn(&Row) -> T,
    ) -> Result<T, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(sql, params)
            .await?
            .ok_or(StoreError::NotFound(what))?;
        Ok(from_row(&row))
    }

    /// Runs a keyset-page query (its parameters ask for `limit + 1` rows, so a further page shows) and
    /// returns at most `limit` items with the cursor of the next page.
    async fn keyset_page<T>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        limit: i64,
        from_row: impl Fn(&Row) -> T,
        cursor_of: impl Fn(&T) -> String,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let client = self.pool.get().await?;
        let rows = client.query(sql, params).await?;
        let mut items: Vec<T> = rows.iter().map(from_row).collect();
        let next = page_cursor(&mut items, limit, cursor_of);
        Ok((items, next))
    }
}

/// Trims a `limit + 1` result to `limit` and returns the cursor of the next page when there is one.
fn page_cursor<T>(
    items: &mut Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor_of)
    } else {
        None
    }
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
    fn segment_cursor_round_trips() {
        let seg = Segment {
            id: 42,
            camera_id: CameraId::new(),
            tenant_id: TenantId::new(),
            seq: 1,
            start: Utc
                .timestamp_micros(1_700_000_000_123_456)
                .single()
                .expect("ts"),
            end: Utc::now(),
            duration_ms: 0,
            bytes: 0,
            node: "n".into(),
            media_url: String::new(),
            origin: SegmentOrigin::Live,
        };
        let c = segment_cursor(&seg);
        assert_eq!(
            decode_segment_cursor(Some(&c)).expect("decodes"),
            Some((seg.start, 42))
        );
        assert!(matches!(
            decode_segment_cursor(Some("x")),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_segment_cursor(Some("1_b")),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_id_cursor(Some("nope")),
            Err(StoreError::InvalidCursor)
        ));
    }

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

    #[test]
    fn page_cursor_trims() {
        let mut v = vec![1, 2, 3];
        assert_eq!(page_cursor(&mut v, 2, |x| x.to_string()), Some("2".into()));
        assert_eq!(v, vec![1, 2]);
        let mut v = vec![1];
        assert_eq!(page_cursor(&mut v, 2, |x| x.to_string()), None);
    }
}
