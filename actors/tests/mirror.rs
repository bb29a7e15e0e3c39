//! A standby writes a camera's mirrored fragments only when PostgreSQL names it the camera's
//! standby, against a real PostgreSQL: a write sent to another node is refused and leaves no file;
//! once this node is the standby, the bytes land at their offset. With the check switched off (a
//! test-only switch), the refused write is accepted: the test can fail.

use std::sync::Arc;
use tokio_postgres::NoTls;
use vms_actors::{MirroredWrite, NodeContext, StandbyState, index_mirrored, receive_mirrored};
use vms_config::NodeConfig;
use vms_messages::TenantCreate;
use vms_store::{ScratchDatabase, Store, tenant_with_camera, test_server};

async fn context(store: Store, data_dir: std::path::PathBuf) -> anyhow::Result<Arc<NodeContext>> {
    Ok(Arc::new(NodeContext {
        config: NodeConfig {
            data_dir,
            node_id: "node-b".into(),
            ..NodeConfig::default()
        },
        store,
        nats: async_nats::connect(NodeConfig::default().nats.url).await?,
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_cameras_standby_writes_its_fragments() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let (sql, conn) = tokio_postgres::connect(&db.url, NoTls).await?;
        tokio::spawn(conn);
        let (_, camera) = tenant_with_camera(&store, TenantCreate::default()).await?;
        let dir =
            std::env::temp_dir().join(format!("vms-mirror-{}", uuid::Uuid::now_v7().simple()));
        let ctx = context(store, dir.clone()).await?;
        // Node a records the camera; node c is its standby, not this node (b).
        sql.execute(
            "INSERT INTO placement (camera_id, node_id, epoch, generation, standby_node)
             VALUES ($1, 'node-a', 1, 1, 'node-c')",
            &[&camera.id.0],
        )
        .await?;
        let file = "2026-12-03/0000000001.mp4";
        let copy = ctx.mirror_dir(camera.tenant_id, camera.id).join(file);
        let payload = || MirroredWrite {
            tenant_id: camera.tenant_id,
            camera_id: camera.id,
            file: file.into(),
            offset: 4,
            bytes: b"moof".to_vec(),
        };
        let answer = receive_mirrored(
            Arc::clone(&ctx),
            Arc::new(StandbyState::default()),
            payload(),
        )
        .await;
        let answer = answer.expect_err("refused");
        assert!(answer.contains("not the standby"), "{answer}");
        assert!(!copy.exists(), "a refused write leaves no file");
        // Mutation: without the check the same write is taken.
        let unchecked = receive_mirrored(
            Arc::clone(&ctx),
            Arc::new(StandbyState::unchecked()),
            payload(),
        )
        .await;
        assert_eq!(
            unchecked,
            Ok(()),
            "with the check off the write is accepted"
        );
        std::fs::remove_file(&copy)?;
        // This node becomes the standby: the write lands at its offset.
        sql.execute(
            "UPDATE placement SET standby_node = 'node-b' WHERE camera_id = $1",
            &[&camera.id.0],
        )
        .await?;
        let answer = receive_mirrored(
            Arc::clone(&ctx),
            Arc::new(StandbyState::default()),
            payload(),
        )
        .await;
        assert_eq!(answer, Ok(()));
        assert_eq!(std::fs::read(&copy)?, b"\0\0\0\0moof");
        // A file outside the camera's folder is refused whoever sends it.
        let escape = MirroredWrite {
            file: "../../x.mp4".into(),
            ..payload()
        };
        let answer =
            receive_mirrored(Arc::clone(&ctx), Arc::new(StandbyState::default()), escape).await;
        let answer = answer.expect_err("refused");
        assert!(answer.contains("not a segment file"), "{answer}");
        let _ = std::fs::remove_dir_all(dir);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_copies_go_with_the_cameras_retention() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let result = async {
        let store = db.store(4).await?;
        let licence = TenantCreate {
            retention_days: Some(7),
            ..TenantCreate::default()
        };
        let (_, camera) = tenant_with_camera(&store, licence).await?;
        let dir =
            std::env::temp_dir().join(format!("vms-mirror-{}", uuid::Uuid::now_v7().simple()));
        let ctx = context(store, dir.clone()).await?;
        let copies = ctx.mirror_dir(camera.tenant_id, camera.id);
        let day = |ago: i64| (chrono::Utc::now() - chrono::Duration::days(ago)).format("%Y-%m-%d");
        let (old, recent) = (
            copies.join(day(20).to_string()).join("1000000001.mp4"),
            copies.join(day(0).to_string()).join("1000000002.mp4"),
        );
        for file in [&old, &recent] {
            std::fs::create_dir_all(file.parent().expect("day folder"))?;
            std::fs::write(file, b"copy")?;
        }
        index_mirrored(&ctx, std::time::SystemTime::now()).await?;
        assert!(!old.exists(), "a copy past the 7-day retention is deleted");
        assert!(
            !old.parent().expect("day").exists(),
            "its empty day folder too"
        );
        assert!(recent.exists(), "a recent copy stays");
        let _ = std::fs::remove_dir_all(dir);
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
