//! The shared services restart under a recording cluster: NATS killed and started again, PostgreSQL
//! stopped for 30 s. Cameras keep recording on their nodes; afterwards every segment is indexed
//! exactly once, no camera has a gap longer than one segment, and no write carried a stale epoch.

use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions, PrivateNats, oracle};
use vms_testkit::PrivatePostgres;

/// Longest gap allowed: one segment.
const SEGMENT_SECONDS: f64 = 5.0;

/// Every camera's gap over `[from, to]`, and the oracles.
async fn assert_nothing_lost(cluster: &Cluster, from: f64, to: f64) -> anyhow::Result<()> {
    let db = cluster.db();
    for cam in &cluster.cameras {
        let gap = oracle::longest_gap(db, cam, from, to).await?;
        println!("camera {cam}: longest gap {gap:.2} s");
        assert!(gap <= SEGMENT_SECONDS, "camera {cam}: gap {gap:.2} s");
    }
    oracle::assert_clean(db).await
}

/// Every segment file older than `settled` on every running node is indexed (by its path).
async fn assert_files_indexed(cluster: &Cluster, settled: SystemTime) -> anyhow::Result<()> {
    let rows = cluster.db().query("SELECT path FROM segments", &[]).await?;
    let indexed: std::collections::HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let mut files = 0;
    for n in cluster.running() {
        for (path, modified) in cluster.segment_files(&n) {
            if modified < settled {
                files += 1;
                assert!(
                    indexed.contains(&path.to_string_lossy().into_owned()),
                    "{} recorded but not indexed",
                    path.display()
                );
            }
        }
    }
    println!("{files} segment files on disk, every one indexed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_loses_and_moves_nothing() -> anyhow::Result<()> {
    let mut nats = PrivateNats::start().await?;
    let (cluster, before) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        env: vec![("VMS_NATS__URL".into(), nats.url())],
        ..Default::default()
    })
    .await?;
    let from = oracle::db_now(cluster.db()).await?;
    nats.pause();
    tokio::time::sleep(Duration::from_secs(5)).await;
    nats.resume().await?;
    println!("nats: restarted after 5 s");
    cluster.wait_member_up("a").await?;
    cluster.wait_member_up("b").await?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let after = cluster.wait_settled(None, Duration::from_secs(30)).await?;
    let moved = before
        .iter()
        .filter(|(c, n)| after.get(*c) != Some(n))
        .count();
    println!("nats: {moved} cameras moved over the restart");
    assert_eq!(moved, 0, "a NATS restart must move no camera");
    let to = oracle::db_now(cluster.db()).await? - 6.0;
    assert_nothing_lost(&cluster, from, to).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_for_30_s_loses_nothing() -> anyhow::Result<()> {
    let pg = PrivatePostgres::start()?;
    let (mut cluster, before) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        postgres: Some(pg.url()),
        ..Default::default()
    })
    .await?;
    let from = oracle::db_now(cluster.db()).await?;
    pg.pause()?;
    tokio::time::sleep(Duration::from_secs(30)).await;
    pg.resume()?;
    cluster.reconnect().await?;
    println!("postgres: back after 30 s");
    // The segments recorded meanwhile wait in the nodes and are indexed now, in order.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = cluster.wait_settled(None, Duration::from_secs(30)).await?;
    assert_eq!(before, after, "no camera moved while the database was away");
    let settled = SystemTime::now() - Duration::from_secs(7);
    assert_files_indexed(&cluster, settled).await?;
    let to = oracle::db_now(cluster.db()).await? - 7.0;
    assert_nothing_lost(&cluster, from, to).await
}
