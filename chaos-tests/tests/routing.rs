//! Any node serves the API for every camera: the live status of a camera comes from the node that
//! records it, whichever node is asked, and a change made through a node that does not record the
//! camera reaches the one that does. An export written by one node downloads through the other,
//! and live view of a camera plays through the node that does not record it.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_messages::{CameraState, CameraView, Export, ExportState, StreamToken};
use vms_testkit::{open_live, typed, wait_for, watch_live};

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

    // An export written by the owner downloads through the other node (read over the link from
    // the owner's disk), byte for byte.
    let db = cluster.db();
    let (seg_from, seg_to) = wait_for("a segment of the camera", Duration::from_secs(30), || {
        let cam = cam.clone();
        async move {
            let row = db
                .query_opt(
                    "SELECT start_ts, end_ts FROM segments WHERE camera_id = $1::text::uuid
                     ORDER BY start_ts LIMIT 1",
                    &[&cam],
                )
                .await?;
            Ok(row.map(|r| {
                (
                    r.get::<_, chrono::DateTime<chrono::Utc>>(0),
                    r.get::<_, chrono::DateTime<chrono::Utc>>(1),
                )
            }))
        }
    })
    .await?;
    let (status, made) = cluster
        .send(
            Method::POST,
            "/exports",
            Some(json!({"camera_id": cam, "from": seg_from, "to": seg_to})),
            Some(&owner_name),
        )
        .await?;
    let export: Export = typed(status, made)?;
    let done: Export = wait_for("the export written", Duration::from_secs(30), || async {
        let e: Export = cluster
            .get_typed(&format!("/exports/{}", export.id), Some(other))
            .await?;
        anyhow::ensure!(e.state != ExportState::Failed, "{e:?}");
        Ok((e.state == ExportState::Done).then_some(e))
    })
    .await?;
    let url = &done.files[0].download_url;
    let mut copies = Vec::new();
    for node in [owner_name.as_str(), other] {
        let api = cluster.api(node).unwrap_or_default();
        let resp = cluster.sb.http().get(format!("{api}{url}")).send().await?;
        assert_eq!(resp.status(), 200, "export through {node}");
        copies.push(resp.bytes().await?);
    }
    assert!(
        !copies[0].is_empty() && copies[0] == copies[1],
        "the same file through both nodes"
    );
    assert_eq!(Some(copies[1].len() as u64), done.files[0].bytes);
    println!(
        "routing: node {other} serves export {} written by {owner_name} ({} bytes) over the link",
        export.id,
        copies[1].len()
    );

    // Live view through the other node: relayed over the link from the owner, at the live edge.
    let (status, token) = cluster
        .send(
            Method::POST,
            &format!("/cameras/{cam}/stream-token"),
            Some(json!({})),
            Some(other),
        )
        .await?;
    let token: StreamToken = typed(status, token)?;
    let api = cluster
        .api(other)
        .unwrap_or_default()
        .replacen("http", "ws", 1);
    let mut ws = open_live(&format!(
        "{api}/api/v1/cameras/{cam}/live.mp4?token={}",
        token.token
    ))
    .await?;
    let seen = watch_live(&mut ws, Duration::from_secs(4)).await?;
    drop(ws);
    assert!(
        seen.frames >= 80,
        "{} frames in 4 s through {other}",
        seen.frames
    );
    assert!(
        seen.worst_lag_ms() < 500.0,
        "a viewer on the node that does not record the camera is within 500 ms of live: {:.0} ms",
        seen.worst_lag_ms()
    );
    println!(
        "routing: node {other} relays {owner_name}'s live view of camera {cam}: {} frames in 4 s, at most {:.0} ms behind",
        seen.frames,
        seen.worst_lag_ms()
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
