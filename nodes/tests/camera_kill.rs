//! A camera actor killed while it streams (ractor skips `post_stop` on a kill or a panic) must not leave
//! its ingest session running: dropping the actor's state drops the session's stop sender, which ends
//! the session, so the camera's files stop growing at once. Against the real simulator and PostgreSQL.

use ractor::Actor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vms_actors::NodeContext;
use vms_actors::{CameraActor, CameraArgs};
use vms_config::NodeConfig;
use vms_messages::{CameraCreate, TenantCreate, TenantScope};
use vms_node::{SimOptions, SimProcess};
use vms_store::Store;
use vms_testkit::{TestDatabase, free_port, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

/// Bytes of every file under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                bytes_under(&path)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_streaming_camera_actor_stops_its_ingest() -> anyhow::Result<()> {
    let sim = SimProcess::start_exe(Path::new(VMS), &SimOptions::plain(1, free_port()?)).await?;
    let db = TestDatabase::create().await?;
    let store = Store::connect(&db.url, 4)?;
    store.migrate().await?;
    let tenant = store
        .create_tenant(&TenantCreate {
            name: "acme".into(),
            ..Default::default()
        })
        .await?;
    let camera = store
        .create_camera(
            TenantScope::All,
            tenant.id,
            &CameraCreate::new(tenant.id, "door", sim.url(0)),
        )
        .await?;
    let data_dir = std::env::temp_dir().join(format!("vms-kill-{}", uuid::Uuid::now_v7().simple()));
    let ctx = Arc::new(NodeContext {
        config: NodeConfig {
            data_dir: data_dir.clone(),
            ..NodeConfig::default()
        },
        store,
        nats: async_nats::connect(NodeConfig::default().nats.url).await?,
    });
    let dir = ctx.camera_dir(tenant.id, camera.id);
    let (actor, handle) = Actor::spawn(
        None,
        CameraActor,
        CameraArgs {
            camera,
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
    // Streaming: its files grow.
    let mut last = 0;
    wait_for("the camera to record", Duration::from_secs(30), || {
        let now = bytes_under(&dir);
        let growing = now > last && last > 0;
        last = now;
        async move { Ok(growing.then_some(())) }
    })
    .await?;

    actor.kill();
    let _ = handle.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_kill = bytes_under(&dir);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = bytes_under(&dir);
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&data_dir);
    assert_eq!(
        later,
        after_kill,
        "the killed actor's ingest went on writing {} bytes",
        later.saturating_sub(after_kill)
    );
    Ok(())
}
