//! A camera's standby frozen, then killed, while its owner records (issue 15): within seconds the
//! camera's status says its standby lags and why, and so does the owner's metric
//! (`vms_camera_standby_state` 2); the fragments it could not acknowledge are counted as missed,
//! never as mirrored. Once the standby is gone, placement chooses another node, and the status is
//! in sync again, with the new standby.

use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_messages::{CameraView, PlacementView, StandbyStatus, StandbySync};
use vms_testkit::wait_for;

/// The standby side of `camera`'s status, asked of node `on` (not the frozen one).
async fn standby(
    cluster: &Cluster,
    camera: &str,
    on: &str,
) -> anyhow::Result<Option<StandbyStatus>> {
    let view: CameraView = cluster
        .get_typed(&format!("/cameras/{camera}"), Some(on))
        .await?;
    Ok(view.status.standby)
}

/// Waits until `camera`'s standby is in `state` (and `check` holds); its status then.
async fn wait_standby(
    cluster: &Cluster,
    (camera, on): (&str, &str),
    state: StandbySync,
    deadline: Duration,
    check: impl Fn(&StandbyStatus) -> bool,
) -> anyhow::Result<StandbyStatus> {
    wait_for(
        &format!("camera {camera}'s standby {state:?}"),
        deadline,
        || async {
            Ok(standby(cluster, camera, on)
                .await?
                .filter(|s| s.state == state && check(s)))
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_standby_shows_in_the_cameras_status_and_is_replaced() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 3,
        analytics: false,
        ..Default::default()
    })
    .await?;
    let map: PlacementView = cluster.get_typed("/placement?limit=100", None).await?;
    let entry = map
        .items
        .iter()
        .find(|e| e.node_id.is_some() && e.standby_node.is_some())
        .expect("a camera with an owner and a standby");
    let camera = entry.camera_id.to_string();
    let owner = cluster
        .name_of(entry.node_id.as_deref().unwrap_or_default())
        .expect("owner");
    let standby_id = entry.standby_node.clone().unwrap_or_default();
    let standby_name = cluster.name_of(&standby_id).expect("standby");
    let synced = wait_standby(
        &cluster,
        (&camera, &owner),
        StandbySync::InSync,
        Duration::from_secs(30),
        |s| s.node.as_deref() == Some(standby_id.as_str()),
    )
    .await?;
    println!("standby: {camera} on {owner}, standby {standby_name}: {synced:?}");

    cluster.freeze(&standby_name);
    let lagging = wait_standby(
        &cluster,
        (&camera, &owner),
        StandbySync::Lagging,
        Duration::from_secs(10),
        |_| true,
    )
    .await?;
    println!("standby: {standby_name} frozen: {lagging:?}");
    let reason = lagging.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&standby_id),
        "the reason names the standby: {reason}"
    );
    let state = cluster
        .metric_where(&owner, "vms_camera_standby_state", Some(&camera))
        .await?;
    assert_eq!(state, 2.0, "the owner's metric says lagging");

    cluster.kill(&standby_name).await;
    let replaced = wait_standby(
        &cluster,
        (&camera, &owner),
        StandbySync::InSync,
        Duration::from_secs(45),
        |s| s.node.as_deref().is_some_and(|n| n != standby_id),
    )
    .await?;
    println!("standby: {standby_name} killed: {replaced:?}");
    assert!(
        replaced.fragments_missed > 0,
        "the fragments the frozen standby never acknowledged are counted as missed"
    );
    Ok(())
}
