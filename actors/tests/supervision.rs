//! Supervision against a real PostgreSQL: a camera actor that dies is restarted from its configuration,
//! and the tenant's other cameras are not touched.

use ractor::Actor;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_actors::NodeContext;
use vms_actors::camera_actor_name;
use vms_actors::{TenantCameras, TenantCamerasArgs};
use vms_config::NodeConfig;
use vms_messages::{CameraCreate, TenantCreate};
use vms_store::{ScratchDatabase, test_server};

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_camera_actor_is_restarted_and_its_neighbour_is_untouched() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let tenant = store
            .create_tenant(&TenantCreate {
                name: "acme".into(),
                max_cameras: None,
                retention_days: None,
                ..Default::default()
            })
            .await?;
        let mut ids = Vec::new();
        for cam in ["door", "yard"] {
            // Nothing listens on port 1: the cameras back off, their actors stay up.
            let req = CameraCreate::new(tenant.id, cam, "rtsp://127.0.0.1:1/x");
            ids.push(
                store
                    .create_camera(vms_messages::TenantScope::All, tenant.id, &req)
                    .await?
                    .id,
            );
        }
        let data_dir =
            std::env::temp_dir().join(format!("vms-supervision-{}", uuid::Uuid::now_v7().simple()));
        let config = NodeConfig {
            data_dir: data_dir.clone(),
            ..NodeConfig::default()
        };
        let ctx = Arc::new(NodeContext {
            config,
            store,
            nats: async_nats::connect(NodeConfig::default().nats.url).await?,
        });
        let (tenant_actor, _) = Actor::spawn(
            None,
            TenantCameras,
            TenantCamerasArgs {
                tenant,
                ctx,
                ownership: Arc::new(vms_actors::Ownership::unplaced()),
                analysis: None,
                clock: vms_actors::system_clock(),
                disk_full: Default::default(),
                mirror: None,
                live: std::sync::Arc::default(),
            },
        )
        .await?;
        let find = |id| ractor::registry::where_is(camera_actor_name(id));
        let door = wait_for("door camera actor", || find(ids[0])).await;
        let yard = wait_for("yard camera actor", || find(ids[1])).await;

        door.kill();
        let restarted = wait_for("door camera actor to be restarted", || {
            find(ids[0]).filter(|cell| cell.get_id() != door.get_id())
        })
        .await;
        assert_ne!(restarted.get_id(), door.get_id());
        let yard_now = find(ids[1]).expect("yard still registered");
        assert_eq!(
            yard_now.get_id(),
            yard.get_id(),
            "the other camera's actor was not touched"
        );

        tenant_actor
            .stop_and_wait(None, Some(Duration::from_secs(20)))
            .await?;
        assert!(
            find(ids[0]).is_none() && find(ids[1]).is_none(),
            "stopping the tenant stops its cameras"
        );
        let _ = std::fs::remove_dir_all(data_dir);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    db.drop_now().await;
    result
}
