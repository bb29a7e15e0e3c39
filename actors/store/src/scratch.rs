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

/// A tenant (`name`, with `licence` for the rest) and one camera `door` on it, for tests.
pub async fn tenant_with_camera(
    store: &Store,
    licence: vms_messages::TenantCreate,
) -> Result<(vms_messages::Tenant, vms_messages::Camera), StoreError> {
    let tenant = store.create_tenant(&licence).await?;
    let camera = store
        .create_camera(
            vms_messages::TenantScope::All,
            tenant.id,
            &vms_messages::CameraCreate::new(tenant.id, "door", "rtsp://127.0.0.1:1/x"),
        )
        .await?;
    Ok((tenant, camera))
}

/// A 5 s segment row of `camera` numbered `seq` that ended `ago` ago, `bytes` long in `path`, for
/// tests.
pub fn ended_segment(
    camera: &vms_messages::Camera,
    seq: i64,
    ago: chrono::Duration,
    path: &std::path::Path,
    bytes: i64,
) -> crate::NewSegment {
    let end = chrono::Utc::now() - ago;
    crate::NewSegment {
        camera_id: camera.id,
        tenant_id: camera.tenant_id,
        seq,
        start: end - chrono::Duration::seconds(5),
        end,
        bytes,
        path: path.into(),
        media: Default::default(),
    }
}

/// A person detection on `camera` raised by the rule named `rule`, `age_days` ago, for tests.
pub fn detection(camera: &vms_messages::Camera, rule: &str, age_days: i64) -> vms_messages::Event {
    vms_messages::Event {
        id: uuid::Uuid::now_v7(),
        tenant_id: camera.tenant_id,
        camera_id: camera.id,
        kind: "intrusion".into(),
        rule: rule.into(),
        rule_id: None,
        label: "person".into(),
        score: 0.9,
        bbox: vec![0.1, 0.1, 0.5, 0.9],
        at: chrono::Utc::now() - chrono::Duration::days(age_days),
        node: "test".into(),
        has_snapshot: false,
        ticket_id: None,
    }
}
