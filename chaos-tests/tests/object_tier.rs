//! The object-storage tier (issue 15) on a real Garage: segments move to the object store a few
//! seconds after they end (`storage.tier_after_seconds`), their local copies go after
//! `storage.local_hours`, and any node serves them from the object store with HTTP Range. When the
//! store is unreachable for a minute (a private instance, stopped), recording goes on, and the
//! uploads resume afterwards with nothing lost and nothing uploaded twice, judged by the bucket's
//! keys and sizes against the index.

use std::collections::BTreeMap;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, Garage, size};
use vms_messages::{CameraStorage, PlacementView};
use vms_testkit::wait_for;

/// A segment row: id, camera, node, bytes, object key, on disk, path, seconds since it ended.
type Row = (i64, String, String, i64, Option<String>, bool, String, f64);

async fn rows(cluster: &Cluster) -> anyhow::Result<Vec<Row>> {
    Ok(cluster
        .db()
        .query(
            "SELECT id, camera_id::text, node, bytes, object_key, on_disk, path,
                    extract(epoch FROM now() - end_ts)::float8
             FROM segments ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
            )
        })
        .collect())
}

/// The environment of a node tiering to `garage`.
fn tier_env(
    garage: &Garage,
    tier_after: u32,
    local_hours: f64,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = garage.node_env()?;
    env.extend([
        (
            "VMS_STORAGE__TIER_AFTER_SECONDS".into(),
            tier_after.to_string(),
        ),
        ("VMS_STORAGE__UPLOAD_INTERVAL_SECONDS".into(), "2".into()),
        ("VMS_STORAGE__LOCAL_HOURS".into(), local_hours.to_string()),
    ]);
    Ok(env)
}

/// Every uploaded row's object is in the bucket with the row's size, and the bucket holds nothing
/// under the tenant's prefix that no row names: nothing lost, nothing uploaded twice.
async fn assert_bucket_matches_index(
    garage: &Garage,
    tenant: &str,
    rows: &[Row],
) -> anyhow::Result<usize> {
    let listed: BTreeMap<String, u64> = garage.client()?.list(tenant).await?.into_iter().collect();
    let indexed: BTreeMap<String, u64> = rows
        .iter()
        .filter_map(|r| Some((r.4.clone()?, u64::try_from(r.3).ok()?)))
        .collect();
    assert_eq!(
        listed.keys().collect::<Vec<_>>(),
        indexed.keys().collect::<Vec<_>>(),
        "the bucket's keys and the index's differ"
    );
    for (key, bytes) in &indexed {
        assert_eq!(listed[key], *bytes, "{key}: object and row sizes differ");
    }
    Ok(listed.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_move_to_the_object_store_and_play_from_any_node() -> anyhow::Result<()> {
    let garage = Garage::shared()?;
    // Uploaded 3 s after they end; local copies dropped 12.6 s after.
    let (tier_after, local_hours) = (3, 0.0035);
    // Three nodes: one neither records a camera nor holds its standby copy.
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 2,
        analytics: false,
        env: tier_env(&garage, tier_after, local_hours)?,
        ..Default::default()
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let all = rows(&cluster).await?;
    // A round every 2 s, a few seconds of slack for the uploads themselves.
    let due = f64::from(tier_after) + 6.0;
    let dropped_after = local_hours * 3600.0 + 6.0;
    let mut uploaded = 0;
    for (id, _, node, _, key, on_disk, path, ended) in &all {
        if *ended > due {
            assert!(
                key.is_some(),
                "segment {id} of {node} ended {ended:.1} s ago, not uploaded"
            );
            uploaded += 1;
        }
        if *ended > dropped_after {
            assert!(
                !on_disk,
                "segment {id} ended {ended:.1} s ago, local copy kept"
            );
            assert!(
                !std::path::Path::new(path).exists(),
                "segment {id}'s local file {path} is still there"
            );
        }
    }
    assert!(
        uploaded >= 4,
        "only {uploaded} segments were due for upload"
    );
    let objects = assert_bucket_matches_index(&garage, &cluster.tenant, &all).await?;
    println!("tier: {uploaded} segments due, {objects} objects in the bucket");

    // A segment whose only copy is the object store plays through a node that holds no copy of it:
    // neither the camera's owner nor its standby.
    let (id, camera, node, bytes, key, ..) = all
        .iter()
        .find(|r| !r.5 && r.4.is_some())
        .cloned()
        .expect("a segment only the object store holds");
    let map: PlacementView = cluster.get_typed("/placement?limit=100", None).await?;
    let entry = map
        .items
        .iter()
        .find(|e| e.camera_id.to_string() == camera)
        .expect("placed");
    let other = cluster
        .running()
        .into_iter()
        .find(|n| {
            let id = cluster.id(n);
            id != node
                && Some(&id) != entry.node_id.as_ref()
                && Some(&id) != entry.standby_node.as_ref()
        })
        .expect("a node without a copy");
    let body = cluster.segment_media(id, &other).await?;
    let stored = garage
        .client()?
        .get_range(key.as_deref().unwrap_or_default(), 0..u64::try_from(bytes)?)
        .await?;
    assert_eq!(body.len() as i64, bytes);
    assert!(stored == body, "the API's bytes are the object's");
    let (codec, seconds) = cluster.play_segment(id, &other).await?;
    println!("tier: segment {id} of {node} plays {seconds:.2} s of {codec} through {other}");
    assert!(seconds > 3.0, "it plays {seconds:.2} s");
    let url = format!(
        "{}/api/v1/segments/{id}/media",
        cluster.api(&other).expect("running")
    );
    let part = cluster
        .sb
        .http()
        .get(&url)
        .header("Range", "bytes=1000-1999")
        .send()
        .await?;
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str()?,
        format!("bytes 1000-1999/{bytes}")
    );
    assert!(part.bytes().await?.as_ref() == &body[1000..2000]);
    let beyond = cluster
        .sb
        .http()
        .get(&url)
        .header("Range", format!("bytes={bytes}-"))
        .send()
        .await?;
    assert_eq!(beyond.status(), 416);

    // The storage view of its camera adds up.
    let storage: CameraStorage = cluster
        .get_typed(&format!("/cameras/{camera}/storage"), Some(&other))
        .await?;
    println!("tier: {storage:?}");
    assert!(storage.object_bytes > 0 && storage.local_bytes < storage.bytes);
    assert!(storage.oldest.is_some() && storage.oldest < storage.oldest_local);
    assert!(storage.owner_node.is_some() && storage.standby_node.is_some());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_object_store_delays_uploads_and_loses_nothing() -> anyhow::Result<()> {
    let garage = Garage::private()?;
    let outage = size("OUTAGE_SECONDS", 60) as u64;
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 1,
        cameras: 2,
        analytics: false,
        env: tier_env(&garage, 2, 1.0)?,
        ..Default::default()
    })
    .await?;
    wait_for("first uploads", Duration::from_secs(40), || async {
        Ok((cluster
            .metric("a", "vms_tier_segments_uploaded_total")
            .await?
            >= 2.0)
            .then_some(()))
    })
    .await?;
    garage.stop();
    let stopped = rows(&cluster).await?.len();
    println!("tier: object store stopped for {outage} s");
    tokio::time::sleep(Duration::from_secs(outage)).await;
    let during = rows(&cluster).await?.len() - stopped;
    let failures = cluster
        .metric("a", "vms_tier_upload_failures_total")
        .await?;
    println!("tier: {during} segments recorded during the outage, {failures} uploads failed");
    // Two cameras, 5 s segments: recording went on.
    assert!(
        during as u64 >= 2 * outage / 5 - 2,
        "only {during} segments recorded while the store was down"
    );
    assert!(failures > 0.0, "the outage was noticed");
    garage.start()?;
    // Everything that ended before the store came back is uploaded soon after.
    let back = std::time::Instant::now();
    let all = wait_for("uploads to catch up", Duration::from_secs(60), || async {
        let all = rows(&cluster).await?;
        let since = back.elapsed().as_secs_f64();
        let behind = all.iter().filter(|r| r.7 > since && r.4.is_none()).count();
        Ok((behind == 0).then_some(all))
    })
    .await?;
    println!(
        "tier: caught up {:.1} s after the store came back",
        back.elapsed().as_secs_f64()
    );
    let objects = assert_bucket_matches_index(&garage, &cluster.tenant, &all).await?;
    // All but the segment each camera had open when the store came back.
    assert!(
        objects + 2 >= stopped + during,
        "{objects} objects for {} segments",
        stopped + during
    );
    Ok(())
}
