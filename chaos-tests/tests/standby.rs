//! A camera's standby frozen, then killed, while its owner records (issue 15): within seconds the
//! camera's status says its standby lags and why, and so does the owner's metric
//! (`vms_camera_standby_state` 2); the fragments it could not acknowledge are counted as missed,
//! never as mirrored. Once the standby is gone, placement chooses another node, and the status is
//! in sync again, with the new standby.
//!
//! A third node, neither owner nor standby, serves the owner's segment from the owner's disk over
//! the cluster link (there is no object store here).
//!
//! The index never claims a copy the standby does not hold: whenever it is read, every byte it
//! counts as on the standby (`segments.mirrored_to`, `mirrored_bytes`) is on that node's disk, equal
//! to the owner's; segments recorded while the standby was frozen count none of their later
//! fragments as on it; and the new standby receives the camera's recent segments whole in the
//! background.

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

    let tenant: String = cluster
        .db()
        .query_one(
            "SELECT tenant_id::text FROM cameras WHERE id = $1::text::uuid",
            &[&camera],
        )
        .await?
        .get(0);
    let owner_id = entry.node_id.clone().unwrap_or_default();
    // Segments recorded with the standby in place are copied whole (and counted so).
    let (before, whole) = wait_for(
        "a segment wholly on the standby",
        Duration::from_secs(30),
        || async {
            let rows = copy_rows(&cluster, &camera, &owner_id).await?;
            let whole = claims_hold(&cluster, &tenant, &camera, &rows)?;
            Ok((whole > 0).then_some((rows, whole)))
        },
    )
    .await?;
    println!(
        "standby: {whole} of {} segments wholly on the standby before the freeze",
        before.len()
    );
    // A node that neither records the camera nor holds its copy serves the segment from the
    // owner's disk over the link (no object store here), whole.
    let third = cluster
        .running()
        .into_iter()
        .find(|n| *n != owner && *n != standby_name)
        .expect("a third node");
    let (id, path): (i64, String) = {
        let row = cluster
            .db()
            .query_one(
                "SELECT id, path FROM segments WHERE camera_id = $1::text::uuid AND node = $2
                 ORDER BY seq DESC LIMIT 1",
                &[&camera, &owner_id],
            )
            .await?;
        (row.get(0), row.get(1))
    };
    let served = cluster.segment_media(id, &third).await?;
    assert!(
        served == std::fs::read(&path)?,
        "segment {id} through {third} differs from the owner's file"
    );
    println!(
        "standby: segment {id} ({} bytes) served by {third} from {owner}'s disk",
        served.len()
    );

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
    // A segment recorded while the standby is frozen: none of its later fragments count as copied.
    let last = before.last().map_or(0, |r| r.0);
    let frozen = wait_for(
        "a segment closed while the standby is frozen",
        Duration::from_secs(20),
        || async {
            let rows = copy_rows(&cluster, &camera, &owner_id).await?;
            Ok(rows.iter().find(|r| r.0 > last + 1).cloned())
        },
    )
    .await?;
    // The frozen standby cannot have acknowledged it whole. (Once placement has replaced the
    // frozen standby, the new one may already hold it whole: `claims_hold` checks its disk.)
    assert!(
        frozen.3.as_deref() != Some(standby_id.as_str()) || frozen.4 < frozen.2,
        "nothing counts as copied without an acknowledgement: {frozen:?}"
    );
    claims_hold(
        &cluster,
        &tenant,
        &camera,
        &copy_rows(&cluster, &camera, &owner_id).await?,
    )?;

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
    // The new standby receives every recent segment whole, the frozen period's included.
    let new_standby = replaced.node.clone().unwrap_or_default();
    let rows = wait_for(
        "the new standby to hold every segment whole",
        Duration::from_secs(60),
        || async {
            let rows = copy_rows(&cluster, &camera, &owner_id).await?;
            let whole = rows
                .iter()
                .filter(|r| r.3.as_deref() == Some(new_standby.as_str()) && r.4 == r.2)
                .count();
            Ok((whole == rows.len()).then_some(rows))
        },
    )
    .await?;
    let whole = claims_hold(&cluster, &tenant, &camera, &rows)?;
    println!("standby: {whole} segments wholly on the new standby {new_standby}");
    assert_eq!(whole, rows.len());
    Ok(())
}

/// A segment row of the camera: its number, owner's file, size, standby and acknowledged bytes.
type CopyRow = (i64, String, i64, Option<String>, i64);

async fn copy_rows(
    cluster: &Cluster,
    camera: &str,
    owner_id: &str,
) -> anyhow::Result<Vec<CopyRow>> {
    let rows = cluster
        .db()
        .query(
            "SELECT seq, path, bytes, mirrored_to, mirrored_bytes FROM segments
             WHERE camera_id = $1::text::uuid AND node = $2 ORDER BY seq",
            &[&camera, &owner_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect())
}

/// Checks that every byte the index counts as on a standby is there, equal to the owner's; the
/// number of segments it counts wholly copied.
fn claims_hold(
    cluster: &Cluster,
    tenant: &str,
    camera: &str,
    rows: &[CopyRow],
) -> anyhow::Result<usize> {
    let mut whole = 0;
    for (seq, path, bytes, standby, mirrored) in rows {
        let (Some(standby), true) = (standby, *mirrored > 0) else {
            continue;
        };
        let name = cluster.name_of(standby).expect("a node of the cluster");
        let path = std::path::Path::new(path);
        let rel: std::path::PathBuf = path
            .components()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let copy = cluster
            .data_dir(&name)
            .join("mirror")
            .join(tenant)
            .join(camera)
            .join(rel);
        let n = usize::try_from(*mirrored)?;
        let own = std::fs::read(path)?;
        let theirs = std::fs::read(&copy).map_err(|e| {
            anyhow::anyhow!("segment {seq}: {} counted on {name}: {e}", copy.display())
        })?;
        anyhow::ensure!(
            theirs.len() >= n && own.len() >= n && theirs[..n] == own[..n],
            "segment {seq}: {n} bytes counted on {name}, which holds {} bytes{}",
            theirs.len(),
            if theirs.len() >= n {
                " that differ"
            } else {
                ""
            }
        );
        if mirrored == bytes {
            whole += 1;
        }
    }
    Ok(whole)
}
