//! Scratch databases for tests and benchmarks: created on a PostgreSQL server under a unique name,
//! migrated on first use, dropped afterwards.

use super::{Store, StoreError, create_database, drop_database, with_database};

/// The server tests use: `VMS_TEST_POSTGRES`, or the local one.
pub fn test_server() -> String {
    std::env::var("VMS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own on a server.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<unique>` on `server`.
    pub async fn create(server: &str, prefix: &str) -> Result<Self, StoreError> {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        create_database(server, &name).await?;
        Ok(Self {
            url: with_database(server, &name),
            server: server.to_string(),
            name,
        })
    }

    /// A migrated store over it.
    pub async fn store(&self, pool_size: usize) -> Result<Store, StoreError> {
        let store = Store::connect(&self.url, pool_size)?;
        store.migrate().await?;
        Ok(store)
    }

    /// Drops it (errors ignored: what ran on it matters more).
    pub async fn drop_now(self) {
        let _ = drop_database(&self.server, &self.name).await;
    }
}
