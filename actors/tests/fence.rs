//! The ownership fence against a real PostgreSQL: a segment write whose snapshot predates a move, and
//! which commits after it, must not land at the epoch the move took away. The same run with the fence's
//! lock switched off (a test-only switch) shows the race, so the check can fail.

use std::time::Duration;
use tokio_postgres::NoTls;
use vms_messages::TenantCreate;
use vms_store::NewSegment;
use vms_store::{FenceMode, set_fence_test_mode};
use vms_store::{ScratchDatabase, tenant_with_camera, test_server};
use vms_store::{Store, StoreError};

async fn client(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// Races one stale write against one move; returns what the write came to.
async fn race(url: &str, store: &Store, seq: i64) -> anyhow::Result<Result<(), StoreError>> {
    let (tenant, camera) = tenant_with_camera(
        store,
        TenantCreate {
            name: format!("t{seq}"),
            ..Default::default()
        },
    )
    .await?;
    let setup = client(url).await?;
    setup
        .execute(
            "INSERT INTO placement (camera_id, node_id, epoch, generation) VALUES ($1, 'a', 1, 1)",
            &[&camera.id.0],
        )
        .await?;
    // The move from a to b, begun and not yet committed.
    let mover = client(url).await?;
    mover.batch_execute("BEGIN").await?;
    mover
        .execute(
            "UPDATE placement SET node_id = 'b', generation = 2 WHERE camera_id = $1",
            &[&camera.id.0],
        )
        .await?;
    // Another writer of the same segment number holds the write up after its snapshot is taken.
    let blocker = client(url).await?;
    blocker.batch_execute("BEGIN").await?;
    blocker
        .execute(
            "INSERT INTO segments (camera_id, tenant_id, seq, start_ts, end_ts, bytes, path, node)
             VALUES ($1, $2, $3, now(), now(), 0, '/x', 'a')",
            &[&camera.id.0, &tenant.id.0, &seq],
        )
        .await?;
    let write = {
        let store = store.clone();
        let seg = NewSegment {
            camera_id: camera.id,
            tenant_id: tenant.id,
            seq,
            start: chrono::Utc::now(),
            end: chrono::Utc::now(),
            bytes: 1,
            path: "/stale".into(),
            media: Default::default(),
        };
        tokio::spawn(async move { store.insert_segment(&seg, "a", Some(1)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    mover.batch_execute("COMMIT").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.batch_execute("ROLLBACK").await?;
    let outcome = tokio::time::timeout(Duration::from_secs(10), write).await??;
    Ok(outcome.map(|_| ()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_racing_a_move_is_refused_and_would_land_without_the_lock() -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&test_server(), "vms_t").await?;
    let url = db.url.clone();
    let result = async {
        let store = db.store(4).await?;

        set_fence_test_mode(FenceMode::Locked);
        let locked = race(&url, &store, 1).await?;
        assert!(
            matches!(locked, Err(StoreError::Fenced { epoch: 1, .. })),
            "the stale write must be fenced: {locked:?}"
        );

        // The mutation: without the row lock the same write lands at the epoch the move took away.
        set_fence_test_mode(FenceMode::Unlocked);
        let unlocked = race(&url, &store, 2).await;
        set_fence_test_mode(FenceMode::Locked);
        assert!(
            matches!(unlocked, Ok(Ok(()))),
            "without the lock the race must show (else this test cannot fail): {unlocked:?}"
        );
        anyhow::Ok(())
    }
    .await;
    db.drop_now().await;
    result
}
