//! A heartbeat recorded off NATS and put back after its node was SIGKILLed (as anyone who can reach
//! NATS could) does not keep the dead node up: the survivors refuse it as a replay, mark the node
//! down and record its cameras as after any kill.

use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, oracle};
use vms_messages::{NodeList, NodeState};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_heartbeat_does_not_keep_a_killed_node_up() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        ..Default::default()
    })
    .await?;
    let victim = cluster.busiest().await?;
    let survivor = cluster
        .running()
        .into_iter()
        .find(|n| *n != victim)
        .expect("a survivor");
    let cameras = cluster.cameras_on(&victim).await?;
    // The cluster is named after the sandbox; its heartbeats live under `<cluster>.<node id>`.
    let key = format!("{}.{}", cluster.sb.node_id, cluster.id(&victim));
    let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    let kv = async_nats::jetstream::new(nats)
        .get_key_value("VMS_NODES")
        .await?;
    let recorded = kv.get(&key).await?.expect("the victim's heartbeat");

    let snap = cluster.snapshot();
    cluster.kill(&victim).await;
    let replayer = {
        let (kv, key, recorded) = (kv.clone(), key.clone(), recorded.clone());
        tokio::spawn(async move {
            for _ in 0..60 {
                let _ = kv.put(&key, recorded.clone()).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let times = cluster
        .takeover_times(&cameras, &victim, &snap, Duration::from_secs(20))
        .await?;
    println!(
        "replay: {} cameras of {victim} recording on {survivor} after {times:?} s while its heartbeat was replayed",
        cameras.len()
    );
    // As after any kill (the failover test's bound); the replay runs for 15 s, so a survivor that
    // believed it would take over only after it stopped.
    let slowest = times.iter().copied().fold(0.0, f64::max);
    assert!(
        slowest < 10.0,
        "the replayed heartbeat kept {victim} up: takeover after {slowest:.1} s"
    );
    let nodes: NodeList = cluster.get_typed("/nodes", Some(&survivor)).await?;
    let state = nodes
        .items
        .iter()
        .find(|n| n.id == cluster.id(&victim))
        .map(|n| n.state);
    assert_eq!(
        state,
        Some(NodeState::Down),
        "the victim as {survivor} sees it: {nodes:?}"
    );
    let refused = cluster
        .metric(&survivor, "vms_cluster_messages_refused_total")
        .await?;
    assert!(refused >= 1.0, "replays refused on {survivor}: {refused}");
    replayer.abort();
    oracle::assert_clean(cluster.db()).await
}
