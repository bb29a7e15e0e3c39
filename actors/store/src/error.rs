//! Why a store operation failed, and how a unique violation becomes a conflict on a field.

use thiserror::Error;
use tokio_postgres::error::SqlState;
use vms_messages::CameraId;

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
pub(crate) fn unique_as_conflict<T>(
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
