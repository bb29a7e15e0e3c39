//! A node SIGKILLed in the middle of its segments: its cameras record again on a survivor, and the
//! segments it was writing (never indexed: the crash came first) are not lost. When the node comes
//! back it indexes them, marked `recovered`, at the epoch it recorded them under; they play through
//! the API like any other, and the recording gap each moved camera shows shrinks by what they hold.
//! The recovery point: each tail plays in ffprobe up to at most 1.5 s before the kill (it loses
//! only the 1 s fragment in progress). The same holds when the node never returns: the camera's
//! standby indexes its copy of the tail.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, oracle};
use vms_testkit::wait_for;

/// Seconds of video durable in an open segment file so far: its whole fragments.
fn seconds_in(path: &std::path::Path) -> f64 {
    std::fs::read(path)
        .ok()
        .and_then(|d| vms_actors::scan_fragments(&d))
        .map_or(0.0, |s| s.duration as f64 / 90_000.0)
}

/// The longest a recovered tail may end before the kill: the fragment in progress is lost.
const RECOVERY_POINT: f64 = 1.5;

/// A segment row: id, path, origin, node, epoch, start and end (seconds since the Unix epoch).
type Row = (i64, String, String, String, Option<i64>, f64, f64);

/// The rows indexing any of `paths`.
async fn indexed(db: &tokio_postgres::Client, paths: &[String]) -> anyhow::Result<Vec<Row>> {
    let rows = db
        .query(
            "SELECT id, path, origin, node, epoch, extract(epoch FROM start_ts)::float8,
                    extract(epoch FROM end_ts)::float8
             FROM segments WHERE path = ANY($1)",
            &[&paths],
        )
        .await?;
    Ok(rows
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
            )
        })
        .collect())
}

/// Waits until each of `cameras` on `victim` has an indexed segment and an open one holding at
/// least 1.5 s of video; their paths.
async fn open_tails(
    cluster: &Cluster,
    victim: &str,
    cameras: &[String],
) -> anyhow::Result<HashMap<String, PathBuf>> {
    let victim_id = cluster.id(victim);
    wait_for(
        "open segments 1.5 s long after an indexed one",
        Duration::from_secs(30),
        || async {
            let mut open = HashMap::new();
            for cam in cameras {
                let done: i64 = cluster
                    .db()
                    .query_one(
                        "SELECT count(*) FROM segments WHERE camera_id = $1::text::uuid AND node = $2",
                        &[cam, &victim_id],
                    )
                    .await?
                    .get(0);
                match cluster.newest_file(victim, cam) {
                    Some((path, _, _)) if done > 0 && seconds_in(&path) >= 1.5 => {
                        let indexed = !indexed(cluster.db(), &[path.to_string_lossy().into()])
                            .await?
                            .is_empty();
                        if indexed {
                            return Ok(None);
                        }
                        open.insert(cam.clone(), path);
                    }
                    _ => return Ok(None),
                }
            }
            Ok(Some(open))
        },
    )
    .await
}

/// Each tail row: indexed by `node`, recovered at the epoch it was recorded under, ending at most
/// [`RECOVERY_POINT`] before the kill at `fault`, and playing through `server`'s API as long as its
/// index says.
async fn assert_tails_play(
    cluster: &Cluster,
    server: &str,
    rows: &[Row],
    node_id: &str,
    fault: f64,
) -> anyhow::Result<()> {
    for (id, path, origin, node, epoch, start, end) in rows {
        println!("tail: segment {id} {path}: {origin}, node {node}, epoch {epoch:?}");
        assert_eq!((origin.as_str(), node.as_str()), ("recovered", node_id));
        assert!(
            epoch.is_some(),
            "indexed at the epoch it was recorded under"
        );
        assert!(
            *end <= fault + 0.2 && fault - end <= RECOVERY_POINT,
            "the tail ends at most {RECOVERY_POINT} s before the crash, not {:.2} s",
            fault - end
        );
        // It plays: the API serves the file, and it holds the video it was killed with.
        let (codec, seconds) = cluster.play_segment(*id, server).await?;
        println!(
            "tail: segment {id} plays {seconds:.2} s of {codec}, {:.2} s before the kill",
            fault - end
        );
        assert!(seconds >= 1.5, "the tail plays {seconds:.2} s of video");
        assert!(
            (seconds - (end - start)).abs() < 0.2,
            "it plays as long as its index says: {seconds:.2} s, not {:.2} s",
            end - start
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_nodes_unfinished_segments_are_indexed_when_it_returns() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        ..Default::default()
    })
    .await?;
    let victim = cluster.busiest().await?;
    let cameras = cluster.cameras_on(&victim).await?;
    let victim_id = cluster.id(&victim);
    let tails = open_tails(&cluster, &victim, &cameras).await?;
    let snap = cluster.snapshot();
    let fault = oracle::db_now(cluster.db()).await?;
    cluster.kill(&victim).await;
    let moved = cluster
        .takeover_times(&cameras, &victim, &snap, Duration::from_secs(20))
        .await?;
    cluster.wait_settled(None, Duration::from_secs(20)).await?;
    let paths: Vec<String> = tails
        .values()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(
        indexed(cluster.db(), &paths).await?.is_empty(),
        "the open segments were not indexed before the crash"
    );
    // What a user misses: from the victim's last indexed segment to the survivor's first one.
    let gaps_before = oracle::recording_gaps(
        cluster.db(),
        &cameras,
        &victim_id,
        fault,
        Duration::from_secs(20),
    )
    .await?;
    cluster.add_node(&victim, Vec::new()).await?;
    let rows = wait_for(
        "the victim's unfinished segments indexed",
        Duration::from_secs(20),
        || async {
            let rows = indexed(cluster.db(), &paths).await?;
            Ok((rows.len() == tails.len()).then_some(rows))
        },
    )
    .await?;
    assert_tails_play(&cluster, &victim, &rows, &victim_id, fault).await?;
    let gaps_after = oracle::recording_gaps(
        cluster.db(),
        &cameras,
        &victim_id,
        fault,
        Duration::from_secs(5),
    )
    .await?;
    println!(
        "tail: {} cameras moved after {moved:?} s; recording gap per camera {gaps_before:.2?} s before the victim returned, {gaps_after:.2?} s after",
        cameras.len()
    );
    assert_gaps_shrink(&gaps_before, &gaps_after);
    oracle::assert_clean(cluster.db()).await
}

/// Each recovered tail closes at least its 1.5 s of the camera's gap.
fn assert_gaps_shrink(before: &[f64], after: &[f64]) {
    for (before, after) in before.iter().zip(after) {
        assert!(
            *after <= before - 1.5 + 0.2,
            "the recovered tail closes at least its 1.5 s of the gap: {before:.2} s -> {after:.2} s"
        );
    }
}

/// The same kill, with the victim never coming back: each camera's standby (the survivor) holds a
/// copy of every fragment the victim made durable, and once the copies have settled it indexes the
/// unfinished ones as its own. Each tail ends at most 1.5 s before the kill and plays through the
/// survivor's API, so the footage lost is the fragment in flight plus the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_nodes_unfinished_segments_are_indexed_by_their_standby() -> anyhow::Result<()> {
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras: 4,
        analytics: false,
        ..Default::default()
    })
    .await?;
    let victim = cluster.busiest().await?;
    let survivor = cluster
        .running()
        .into_iter()
        .find(|n| *n != victim)
        .expect("two nodes");
    let (victim_id, survivor_id) = (cluster.id(&victim), cluster.id(&survivor));
    let cameras = cluster.cameras_on(&victim).await?;
    let tails = open_tails(&cluster, &victim, &cameras).await?;
    let snap = cluster.snapshot();
    let fault = oracle::db_now(cluster.db()).await?;
    cluster.kill(&victim).await;
    let moved = cluster
        .takeover_times(&cameras, &victim, &snap, Duration::from_secs(20))
        .await?;
    let gaps_before = oracle::recording_gaps(
        cluster.db(),
        &cameras,
        &victim_id,
        fault,
        Duration::from_secs(20),
    )
    .await?;
    // The survivor's copies of the victim's open segments.
    let (segments, mirror) = (
        cluster.data_dir(&victim).join("segments"),
        cluster.data_dir(&survivor).join("mirror"),
    );
    let copies: Vec<String> = tails
        .values()
        .map(|p| {
            let relative = p.strip_prefix(&segments).expect("a segment file");
            mirror.join(relative).to_string_lossy().into_owned()
        })
        .collect();
    // Copies settle for 20 s (ORPHAN_AGE) before a retention sweep (every 5 s here) indexes them.
    let rows = wait_for(
        "the victim's unfinished segments indexed by their standby",
        Duration::from_secs(45),
        || async {
            let rows = indexed(cluster.db(), &copies).await?;
            Ok((rows.len() == copies.len()).then_some(rows))
        },
    )
    .await?;
    assert_tails_play(&cluster, &survivor, &rows, &survivor_id, fault).await?;
    let mut gaps_after = Vec::new();
    for cam in &cameras {
        let gap = oracle::footage_gap(cluster.db(), cam, fault).await?;
        gaps_after.push(gap.unwrap_or(f64::INFINITY));
    }
    println!(
        "standby tail: {} cameras moved after {moved:?} s; recording gap per camera {gaps_before:.2?} s before the standby indexed its copies, {gaps_after:.2?} s after",
        cameras.len()
    );
    assert_gaps_shrink(&gaps_before, &gaps_after);
    oracle::assert_clean(cluster.db()).await
}
