//! Footage mirrored to each camera's standby (issue 15, first half): two nodes record two cameras
//! each, and every segment an owner has finished since its camera's standby was chosen is on that
//! standby too, under `<data>/mirror/`, byte for byte: each fragment written there at the same
//! offset as it became durable on the owner, over the cluster link.

use reqwest::Method;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions};
use vms_messages::PlacementView;
use vms_testkit::typed;

/// The segment files of a camera folder, in order (day folders, then sequence numbers).
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|day| {
            std::fs::read_dir(day.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|f| f.path())
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fragment_reaches_the_standby_byte_for_byte() -> anyhow::Result<()> {
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        analytics: false,
        ..Default::default()
    })
    .await?;
    // Two more segments of 5 s after the first.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let (status, map) = cluster
        .call(Method::GET, "/placement?limit=100", None)
        .await?;
    let map: PlacementView = typed(status, map)?;
    let mut compared = 0;
    for entry in &map.items {
        let (Some(owner), Some(standby)) = (&entry.node_id, &entry.standby_node) else {
            anyhow::bail!("a camera without an owner or a standby: {entry:?}");
        };
        let (owner, standby) = (
            cluster.name_of(owner).expect("owner"),
            cluster.name_of(standby).expect("standby"),
        );
        let camera = entry.camera_id.to_string();
        let owned = cluster
            .data_dir(&owner)
            .join("segments")
            .join(&cluster.tenant)
            .join(&camera);
        let mirrored = cluster
            .data_dir(&standby)
            .join("mirror")
            .join(&cluster.tenant)
            .join(&camera);
        let files = segment_files(&owned);
        // The first segment began before the camera's standby was chosen (a round after its
        // placement); the last is still being written.
        anyhow::ensure!(files.len() >= 3, "{camera}: segments {files:?}");
        for file in &files[1..files.len() - 1] {
            let copy = mirrored.join(file.strip_prefix(&owned)?);
            let (original, mirror) = (std::fs::read(file)?, std::fs::read(&copy));
            let mirror = mirror
                .map_err(|e| anyhow::anyhow!("{} has no copy on {standby}: {e}", file.display()))?;
            assert!(
                original == mirror,
                "{} ({} bytes) and its copy on {standby} ({} bytes) differ",
                file.display(),
                original.len(),
                mirror.len()
            );
            compared += 1;
        }
        println!(
            "camera {camera}: owner {owner}, standby {standby}, {} finished segments mirrored byte for byte",
            files.len() - 2
        );
    }
    assert!(compared >= 4, "{compared} segments compared");
    let mut acked = 0.0;
    let mut received = 0.0;
    for node in cluster.running() {
        acked += cluster
            .metric(&node, "vms_mirror_fragments_acked_total")
            .await?;
        received += cluster
            .metric(&node, "vms_mirror_fragments_received_total")
            .await?;
    }
    println!("fragments acknowledged by standbys: {acked}, written as standby: {received}");
    assert!(
        acked > 0.0 && acked <= received,
        "{acked} acked, {received} written"
    );
    Ok(())
}
