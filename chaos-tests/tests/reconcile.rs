//! Configuration changes travel as NATS hints, which a node can miss. A camera's owner cut off from
//! NATS for a second while the camera is disabled through another node still applies the change: it
//! reconciles with PostgreSQL when NATS comes back (and every `cluster.reconcile_seconds` anyway).
//! Before reconciliation the owner kept recording the disabled camera until it restarted.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions, Proxy, oracle};
use vms_messages::{CameraState, CameraView};
use vms_testkit::wait_for;

/// The reconciliation period the owner runs with.
const PERIOD_S: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_missed_during_a_nats_cut_applies_within_the_reconciliation_period()
-> anyhow::Result<()> {
    let mut cluster = Cluster::start(ClusterOptions {
        nodes: 1,
        cameras: 6,
        ..Default::default()
    })
    .await?;
    // Node b reaches NATS through a proxy of its own.
    let nats = Proxy::start("127.0.0.1:4222").await?;
    cluster
        .add_node(
            "b",
            vec![
                (
                    "VMS_NATS__URL".to_string(),
                    format!("nats://127.0.0.1:{}", nats.port),
                ),
                (
                    "VMS_CLUSTER__RECONCILE_SECONDS".to_string(),
                    PERIOD_S.to_string(),
                ),
            ],
        )
        .await?;
    cluster.wait_member_up("b").await?;
    let clustered = &cluster;
    let cam = wait_for(
        "a camera placed on b",
        Duration::from_secs(40),
        || async move { Ok(clustered.cameras_on("b").await?.first().cloned()) },
    )
    .await?;
    let placed = cluster.wait_settled(None, Duration::from_secs(40)).await?;
    cluster.wait_recording(Duration::from_secs(30)).await?;

    // b misses the change: its NATS is cut while the camera is disabled through a.
    nats.cut();
    let (status, body) = cluster
        .send(
            Method::PATCH,
            &format!("/cameras/{cam}"),
            Some(json!({"enabled": false})),
            Some("a"),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats.restore();
    let restored = SystemTime::now();

    let deadline = Duration::from_secs(PERIOD_S + 3);
    wait_for(
        "the owner to stop the disabled camera",
        deadline,
        || async {
            let v: CameraView = cluster
                .get_typed(&format!("/cameras/{cam}"), Some("b"))
                .await?;
            Ok((v.status.state == CameraState::Disabled).then_some(()))
        },
    )
    .await?;
    println!(
        "reconcile: b applied the change it missed {:.2} s after NATS came back",
        restored.elapsed().unwrap_or_default().as_secs_f64()
    );
    // It was b that applied it: the camera did not move meanwhile.
    let now = cluster.placement().await?;
    assert_eq!(
        now.get(&cam),
        placed.get(&cam),
        "the camera moved, so this run proves nothing about reconciliation"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !cluster.wrote_since("b", &cam, SystemTime::now() - Duration::from_secs(1)),
        "b still records the disabled camera"
    );
    oracle::assert_clean(cluster.db()).await
}
