//! A platform admin drains a node of a two-node cluster from the console's cluster page (Debian's
//! Chromium, driven by `nodes/tests/browser/console_e2e.py`) and sees every camera it recorded
//! move to the other node there, the moves listed as they happen.

use serde_json::{Value, json};
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_testkit::{
    SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD, assert_console_pages_pass, run_console_check,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_node_from_the_console_moves_its_cameras() -> anyhow::Result<()> {
    let (cluster, placed) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        analytics: false,
        ..Default::default()
    })
    .await?;
    let victim = cluster.busiest().await?;
    let id = cluster.id(&victim);
    let held = placed
        .values()
        .filter(|n| n.as_deref() == Some(id.as_str()))
        .count();
    assert!(held > 0, "{victim} records a camera: {placed:?}");
    let other = cluster
        .running()
        .into_iter()
        .find(|n| *n != victim)
        .unwrap_or_default();
    let base = cluster.api(&other).unwrap_or_default();
    let shots = std::env::var("VMS_CONSOLE_SHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| cluster.data_dir(&other).join("console-shots"));
    let args = json!({"mode": "drain", "admin": [SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD], "node": id});
    let seen = run_console_check(&base, &shots, &args)?;
    println!("console drain: {seen}");
    assert_eq!(seen["failed"], Value::Null, "{seen}");
    assert_eq!(
        seen["before"].as_u64(),
        Some(held as u64),
        "the page showed the node's cameras: {seen}"
    );
    assert_eq!(
        seen["after"], 0,
        "every camera moved off the drained node: {seen}"
    );
    assert!(
        seen["moves_listed"].as_u64().unwrap_or(0) >= 1,
        "moves are listed as they happen: {seen}"
    );
    assert_eq!(seen["drained_badge"], 1, "{seen}");
    assert_console_pages_pass(&seen, 2)?;
    // And the cluster agrees: nothing is placed on the drained node.
    let after = cluster.wait_settled(None, Duration::from_secs(30)).await?;
    assert!(
        after.values().all(|n| n.as_deref() != Some(id.as_str())),
        "{after:?}"
    );
    Ok(())
}
