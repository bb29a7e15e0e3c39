//! Growing and shrinking the cluster while it records. A fourth node joins: only cameras that now
//! belong to it move, each handed over make-before-break; it is drained again: its cameras go back
//! the same way. No moved camera has a recording gap longer than one segment. A running or undrained
//! node cannot be removed, the last node that can hold cameras cannot be drained (409), and a stopped,
//! drained node is removed.

use reqwest::Method;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, oracle};
use vms_messages::{NodeList, NodeView, PlacementView};
use vms_testkit::{api_error, typed};

/// Segment length: the longest gap allowed on a moved camera.
const SEGMENT_SECONDS: f64 = 5.0;

/// Every placed camera gets a standby (the leader writes it a round after the camera's placement):
/// another node than its owner.
async fn assert_standbys(cluster: &Cluster) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (status, map) = cluster
            .call(Method::GET, "/placement?limit=100", None)
            .await?;
        let map: PlacementView = typed(status, map)?;
        let placed: Vec<_> = map.items.iter().filter(|e| e.node_id.is_some()).collect();
        let missing = placed.iter().filter(|e| e.standby_node.is_none()).count();
        if missing == 0 || std::time::Instant::now() > deadline {
            assert_eq!(missing, 0, "cameras without a standby: {map:?}");
            for entry in placed {
                assert_ne!(entry.standby_node, entry.node_id, "{entry:?}");
            }
            println!("standbys: all {} placed cameras have one", map.items.len());
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_drain_move_cameras_without_a_gap() -> anyhow::Result<()> {
    let (mut cluster, before) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 12,
        ..Default::default()
    })
    .await?;
    let joined_at = oracle::db_now(cluster.db()).await?;
    cluster.add_node("d", Vec::new()).await?;
    cluster.wait_member_up("d").await?;
    let d = cluster.id("d");
    let after = cluster.wait_settled(None, Duration::from_secs(45)).await?;
    assert_standbys(&cluster).await?;
    let moved: Vec<String> = before
        .iter()
        .filter(|(cam, node)| after.get(*cam) != Some(node))
        .map(|(cam, _)| cam.clone())
        .collect();
    println!(
        "join: {} of {} cameras moved to the fourth node (ideal 1/4: {:.1})",
        moved.len(),
        before.len(),
        before.len() as f64 / 4.0
    );
    assert!(
        moved
            .iter()
            .all(|c| after[c].as_deref() == Some(d.as_str())),
        "every move goes to the new node"
    );
    // The target, at most 1/N + 10 % of the cameras moving when the N-th node joins, is a share:
    // over 12 random cameras the count that hash to the new node varies (5 of 12 happens one run in
    // six), so this asserts what makes the share hold instead: exactly the cameras whose rendezvous
    // winner is the new node move, none other. (The scale test checks the share itself, over 10,000
    // cameras.)
    let nodes: Vec<String> = ["a", "b", "c", "d"].iter().map(|n| cluster.id(n)).collect();
    let should_move: std::collections::BTreeSet<String> = before
        .keys()
        .filter(|cam| {
            uuid::Uuid::parse_str(cam).is_ok_and(|id| {
                vms_actors::rendezvous(vms_messages::CameraId(id), &nodes) == Some(&d)
            })
        })
        .cloned()
        .collect();
    let moved_set: std::collections::BTreeSet<String> = moved.iter().cloned().collect();
    assert_eq!(
        moved_set, should_move,
        "exactly the cameras the new node wins move"
    );
    cluster.wait_recording(Duration::from_secs(20)).await?;

    // Drain it again: back make-before-break, then it holds nothing.
    let (status, body) = cluster
        .call(Method::POST, &format!("/nodes/{d}/drain"), None)
        .await?;
    let drained: NodeView = typed(status, body)?;
    assert!(drained.drained, "{drained:?}");
    let abc: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let drained = cluster
        .wait_settled(Some(&abc), Duration::from_secs(45))
        .await?;
    assert!(drained.values().all(|n| n.as_deref() != Some(d.as_str())));
    cluster.wait_recording(Duration::from_secs(20)).await?;
    // The seams are covered: wait for the segments open at the handover to be indexed.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let until = oracle::db_now(cluster.db()).await? - 6.0;
    for cam in &moved {
        let gap = oracle::longest_gap(cluster.db(), cam, joined_at, until).await?;
        println!("drain: camera {cam} longest gap {gap:.2} s over the join and the drain");
        assert!(gap <= SEGMENT_SECONDS, "camera {cam}: gap {gap:.2} s");
    }

    // Removing: refused while it runs, then done once it has stopped.
    let (status, body) = cluster
        .call(Method::DELETE, &format!("/nodes/{d}"), None)
        .await?;
    assert_eq!(status, 409, "{body}");
    println!("remove: refused while it runs: {body}");
    let (status, body) = cluster
        .call(Method::DELETE, &format!("/nodes/{}", cluster.id("b")), None)
        .await?;
    assert_eq!(status, 409, "an undrained node: {body}");
    cluster.stop("d").await;
    let (status, body) = cluster
        .call(Method::DELETE, &format!("/nodes/{d}"), None)
        .await?;
    assert_eq!(status, 204, "{body}");
    let (status, nodes) = cluster.call(Method::GET, "/nodes", None).await?;
    let nodes: NodeList = typed(status, nodes)?;
    assert!(nodes.items.iter().all(|n| n.id != d), "{nodes:?}");
    let (status, _) = cluster
        .call(Method::DELETE, &format!("/nodes/{d}"), None)
        .await?;
    assert_eq!(status, 404);

    // The last node that can hold cameras cannot be drained.
    for n in ["b", "c"] {
        let (status, body) = cluster
            .call(
                Method::POST,
                &format!("/nodes/{}/drain", cluster.id(n)),
                None,
            )
            .await?;
        assert_eq!(status, 200, "{body}");
    }
    let all_on_a = cluster
        .wait_settled(Some(&["a".to_string()]), Duration::from_secs(45))
        .await?;
    assert_eq!(all_on_a.len(), 12);
    let (status, body) = cluster
        .call(
            Method::POST,
            &format!("/nodes/{}/drain", cluster.id("a")),
            None,
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    let message = api_error(&body)?.message;
    assert!(message.contains("last"), "{body}");
    println!("drain: refused for the last node: {message}");
    let (status, body) = cluster
        .call(Method::POST, "/nodes/not-a-node/drain", None)
        .await?;
    assert_eq!(status, 404, "{body}");
    let (status, body) = cluster
        .call(Method::POST, "/nodes/Bad_Id/drain", None)
        .await?;
    assert_eq!(status, 400, "{body}");

    // The placement map through the API.
    let (status, map) = cluster
        .call(Method::GET, "/placement?limit=5", None)
        .await?;
    let map: PlacementView = typed(status, map)?;
    assert_eq!(map.items.len(), 5);
    assert!(map.leader.is_some() && map.moves >= 12, "{map:?}");
    assert!(map.next_cursor.is_some());

    oracle::assert_clean(cluster.db()).await
}
