//! A scratch database a benchmark creates on the PostgreSQL server it is given and drops afterwards.

use anyhow::Context;
use vms_actors::store::{create_database, drop_database, with_database};

/// A database named after this process, on `server`.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>` on `server`.
    pub async fn create(server: &str, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}_{}", std::process::id());
        create_database(server, &name)
            .await
            .context("cannot create the scratch database")?;
        Ok(Self {
            url: with_database(server, &name),
            server: server.to_string(),
            name,
        })
    }

    /// Drops it (errors ignored: the benchmark's own result matters more).
    pub async fn drop_now(self) {
        let _ = drop_database(&self.server, &self.name).await;
    }
}
