//! Any node serves the API for every camera: the live status of a camera comes from the node that
//! records it, whichever node is asked, and a change made through a node that does not record the
//! camera reaches the one that does.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_messages::{CameraState, CameraView};
use vms_testkit::{typed, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_changes_reach_the_owner_from_any_node() -> anyhow::Result<()> {
    let (cluster, map) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        ..Default::default()
    })
    .await?;
    // A camera and a node that does not record it.
    let (cam, owner) = map
        .iter()
        .next()
        .map(|(c, n)| (c.clone(), n.clone().unwrap_or_default()))
        .ok_or_else(|| anyhow::anyhow!("no camera"))?;
    let owner_name = cluster.name_of(&owner).unwrap_or_default();
    let other = if owner_name == "a" { "b" } else { "a" };
    // The two nodes are linked over ractor_cluster.
    let linked = &cluster;
    for n in ["a", "b"] {
        wait_for(&format!("node {n} linked"), Duration::from_secs(10), || async move {
            Ok((linked.metric(n, "vms_cluster_links").await? == 1.0).then_some(()))
        })
        .await?;
    }
    let via = |way: &'static str| {
        let cluster = &cluster;
        async move {
            let label = format!("via=\"{way}\"");
            cluster
                .metric_where(other, "vms_remote_status_total", Some(&label))
                .await
        }
    };
    let (link_before, nats_before) = (via("link").await?, via("nats").await?);
    let view: CameraView = cluster
        .get_typed(&format!("/cameras/{cam}"), Some(other))
        .await?;
    assert_eq!(view.status.state, CameraState::Streaming, "{view:?}");
    assert_eq!(
        view.status.node.as_deref(),
        Some(owner.as_str()),
        "{view:?}"
    );
    assert!(view.status.last_frame_at.is_some(), "{view:?}");
    // It came over the link: the NATS fallback answering instead would pass the checks above.
    assert_eq!(
        (
            via("link").await? - link_before,
            via("nats").await? - nats_before
        ),
        (1.0, 0.0),
        "the status must come over the ractor_cluster link, not the NATS fallback"
    );
    println!(
        "routing: node {other} shows {owner_name}'s live status of camera {cam}, over the link"
    );

    // Disabled through the other node: the owner stops recording it.
    let path = format!("/cameras/{cam}");
    let (status, body) = cluster
        .send(
            Method::PATCH,
            &path,
            Some(json!({"enabled": false})),
            Some(other),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let disabled = SystemTime::now();
    wait_for(
        "the owner to stop the disabled camera",
        Duration::from_secs(10),
        || async {
            let v: CameraView = cluster
                .get_typed(&format!("/cameras/{cam}"), Some(&owner_name))
                .await?;
            Ok((v.status.state == CameraState::Disabled).then_some(()))
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !cluster.wrote_since(&owner_name, &cam, disabled + Duration::from_secs(1)),
        "the owner still records the disabled camera"
    );
    // Enabled again through the other node: the owner records it again.
    let (status, body) = cluster
        .send(
            Method::PATCH,
            &path,
            Some(json!({"enabled": true})),
            Some(other),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let enabled = SystemTime::now();
    wait_for(
        "the owner to record the camera again",
        Duration::from_secs(15),
        || async {
            Ok(cluster
                .wrote_since(&owner_name, &cam, enabled)
                .then_some(()))
        },
    )
    .await?;

    // A camera whose placement cannot be satisfied says which constraint fails.
    let body = json!({
        "tenant_id": cluster.tenant,
        "name": "edge-north",
        "url": cluster.sb.sim.url(0),
        "labels": {"placement.site": "north"}
    });
    let (status, made) = cluster
        .send(Method::POST, "/cameras", Some(body), None)
        .await?;
    let made: CameraView = typed(status, made)?;
    let edge = made.camera.id.to_string();
    let cluster = &cluster;
    let view = wait_for(
        "the unplaceable camera's reason",
        Duration::from_secs(10),
        || {
            let edge = edge.clone();
            async move {
                let v: CameraView = cluster.get_typed(&format!("/cameras/{edge}"), None).await?;
                Ok(v.status.reason.filter(|r| r.contains("site=north")))
            }
        },
    )
    .await?;
    println!("routing: {view}");
    Ok(())
}
