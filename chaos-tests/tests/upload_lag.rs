//! Benchmark, not a test (ignored unless asked for): how long segments wait for the object store
//! beyond `storage.tier_after_seconds` while one node records many cameras. Every segment that
//! ends in the measured window is followed until its object is stored; its lag is the object's
//! stored time (from the bucket listing) minus the segment's end minus `tier_after_seconds`, so it
//! is what the upload rounds (`upload_interval_seconds`, 10 s by default) and the uploads
//! themselves add. Prints the count, p50, p99 and the largest.
//!
//! `cargo build --release -p vms-node && cargo test --release -p vms-chaos-tests --test upload_lag
//! -- --ignored --nocapture` (`VMS_CHAOS_TIER_CAMERAS`, default 64; `VMS_CHAOS_TIER_SECONDS`,
//! default 60).

use std::collections::HashMap;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, Garage, percentile, size};
use vms_testkit::wait_for;

/// Seconds after their end that segments are due for upload in this run.
const TIER_AFTER: i64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture on a release build"]
async fn upload_lag_under_many_cameras() -> anyhow::Result<()> {
    let cameras = size("TIER_CAMERAS", 64);
    let seconds = i64::try_from(size("TIER_SECONDS", 60))?;
    let garage = Garage::shared()?;
    let mut env = garage.node_env()?;
    env.push((
        "VMS_STORAGE__TIER_AFTER_SECONDS".into(),
        TIER_AFTER.to_string(),
    ));
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 1,
        cameras,
        analytics: false,
        env,
        ..Default::default()
    })
    .await?;
    // The window starts after a warm-up and ends `seconds` later.
    let from = chrono::Utc::now() + chrono::Duration::seconds(10);
    let to = from + chrono::Duration::seconds(seconds);
    tokio::time::sleep(Duration::from_secs(u64::try_from(10 + seconds)?)).await;
    let deadline = Duration::from_secs(u64::try_from(TIER_AFTER)? + 120);
    wait_for("every segment of the window uploaded", deadline, || async {
        let waiting: i64 = cluster
            .db()
            .query_one(
                "SELECT count(*) FROM segments
                 WHERE end_ts >= $1 AND end_ts < $2 AND object_key IS NULL",
                &[&from, &to],
            )
            .await?
            .get(0);
        Ok((waiting == 0).then_some(()))
    })
    .await?;
    let rows = cluster
        .db()
        .query(
            "SELECT object_key, end_ts FROM segments WHERE end_ts >= $1 AND end_ts < $2",
            &[&from, &to],
        )
        .await?;
    let stored: HashMap<String, chrono::DateTime<chrono::Utc>> = garage
        .client()?
        .stored_at(&cluster.tenant)
        .await?
        .into_iter()
        .collect();
    let mut lags = Vec::new();
    for row in &rows {
        let key: String = row.get(0);
        let end: chrono::DateTime<chrono::Utc> = row.get(1);
        let at = stored
            .get(&key)
            .ok_or_else(|| anyhow::anyhow!("{key} is indexed as uploaded but not in the bucket"))?;
        lags.push((*at - end).as_seconds_f64() - TIER_AFTER as f64);
    }
    let max = lags.iter().copied().fold(f64::NAN, f64::max);
    println!(
        "upload_lag: {cameras} cameras, {} segments ended in {seconds} s; lag beyond tier_after_seconds ({TIER_AFTER} s): p50 {:.2} s, p99 {:.2} s, max {max:.2} s (upload_interval_seconds 10)",
        lags.len(),
        percentile(&lags, 50.0),
        percentile(&lags, 99.0)
    );
    anyhow::ensure!(!lags.is_empty(), "no segment ended in the window");
    // Leave the shared bucket as it was.
    drop(cluster);
    let client = garage.client()?;
    for key in stored.keys() {
        client.delete(key).await?;
    }
    Ok(())
}
