//! Cluster membership against real NATS and PostgreSQL with several node processes: nodes see each
//! other by their heartbeats; a second process with a node id in use refuses to start; a SIGKILLed
//! node is reported down within `cluster.down_after_ms` (2 s) plus a heartbeat, its id can be taken
//! over at once by a restarted run, and a node stopped with SIGTERM is reported as having left.

use anyhow::Context;
use std::time::{Duration, Instant};
use vms_messages::{NodeList, NodeState};
use vms_testkit::{NodeProcess, Sandbox, metric_value, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

async fn state_of(sb: &Sandbox, id: &str) -> anyhow::Result<Option<NodeState>> {
    let nodes: NodeList = sb.get_typed("/nodes").await?;
    Ok(nodes.items.iter().find(|n| n.id == id).map(|n| n.state))
}

async fn wait_state(
    sb: &Sandbox,
    id: &str,
    want: NodeState,
    within: Duration,
) -> anyhow::Result<()> {
    wait_for(&format!("{id} {want:?}"), within, || async move {
        Ok((state_of(sb, id).await? == Some(want)).then_some(()))
    })
    .await
}

/// Asserts that `node` (data folder `name`) exits with an error whose log says `why`.
async fn refused_at_start(sb: &Sandbox, mut node: NodeProcess, name: &str, why: &str) {
    let status = node.exited(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| !s.success()),
        "node {name} must exit with an error: {status:?}"
    );
    let log = sb.node_log(name);
    assert!(log.contains(why), "the refusal says {why:?}: {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_see_each_other_fail_and_leave() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let me = sb.node_id.clone();
    let nodes: NodeList = sb.get_typed("/nodes").await?;
    let mine = nodes
        .items
        .iter()
        .find(|n| n.id == me)
        .context("this node is listed")?;
    assert_eq!(mine.state, NodeState::Up, "{mine:?}");
    assert!(mine.api.starts_with("127.0.0.1:"), "{mine:?}");
    assert_eq!(mine.roles.len(), 4, "{mine:?}");
    assert!(mine.clock_skew_ms.abs() < 1000, "{mine:?}");

    // The same id in a second process: refused, naming it.
    let twin = sb.spawn_node(&me, "twin")?;
    refused_at_start(&sb, twin, "twin", &format!("node id {me} is in use")).await;
    assert_eq!(state_of(&sb, &me).await?, Some(NodeState::Up));

    // A node with another cluster cookie: refused, naming the setting; it never shows as a member.
    let stranger = format!("{me}-x");
    let x = sb.spawn_node_with(
        &stranger,
        "stranger",
        &[(
            "VMS_CLUSTER__COOKIE".to_string(),
            "not-this-clusters-cookie".to_string(),
        )],
    )?;
    refused_at_start(&sb, x, "stranger", "cluster.cookie does not verify").await;
    assert_eq!(state_of(&sb, &stranger).await?, None);

    // Another node joins, and is seen.
    let other = format!("{me}-b");
    let mut b = sb.spawn_node(&other, "b")?;
    sb.wait_ready(&mut b).await?;
    wait_state(&sb, &other, NodeState::Up, Duration::from_secs(5)).await?;
    wait_for(
        "two nodes up in the metrics",
        Duration::from_secs(5),
        || async {
            let text = sb.metrics().await?;
            Ok((metric_value(&text, "vms_cluster_nodes", "\"up\"") >= 2.0).then_some(()))
        },
    )
    .await?;

    // Killed: down within down_after (2 s) and a heartbeat.
    let killed = Instant::now();
    b.kill().await;
    wait_state(&sb, &other, NodeState::Down, Duration::from_secs(10)).await?;
    let detected = killed.elapsed();
    assert!(
        detected <= Duration::from_millis(3500),
        "down after {detected:?}"
    );
    println!("membership: a killed node was reported down after {detected:?}");

    // Restarted under the same id at once: its crashed run's entry does not stand in the way.
    let mut b = sb.spawn_node(&other, "b")?;
    sb.wait_ready(&mut b).await?;
    wait_state(&sb, &other, NodeState::Up, Duration::from_secs(5)).await?;

    // Stopped: it says so.
    b.stop().await;
    wait_state(&sb, &other, NodeState::Left, Duration::from_secs(5)).await?;
    Ok(())
}
