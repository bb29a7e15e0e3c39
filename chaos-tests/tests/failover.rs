//! Nodes SIGKILLed and frozen while they record: every camera of the victim records again on a
//! survivor (failover time, fault → first new segment bytes there, reported as p50/p99); a frozen node
//! stops its stale cameras when it resumes; no segment is ever indexed with a stale ownership epoch
//! and no camera is recorded by two nodes outside a handover.
//!
//! `VMS_CHAOS_KILLS` kills (default 3; issue 15's series is `VMS_CHAOS_KILLS=10`) and
//! `VMS_CHAOS_FREEZES` freezes (default 1; the long run uses 10). Each also reports the recording
//! gap per moved camera: from the victim's last indexed segment to the new owner's first (for a
//! kill, again once the victim is back and has indexed the segments it was writing). Footage
//! survives its node (issue 15): before the victim comes back, each camera's standby indexes its
//! copy of the victim's unfinished segment, and the footage gap per moved camera, beyond its
//! failover time, is at most 1.5 s (the fragment in flight) at p99; the victim's earlier segments
//! play (ffprobe) through the standby's API while the victim is down, as a file and through the
//! standby's HLS playlist (issue 16).

use std::time::{Duration, SystemTime};
use vms_chaos_tests::{Cluster, ClusterOptions, Series, oracle, percentile, size};
use vms_messages::PlacementView;

/// The longest a moved camera's footage gap may exceed its failover time: the 1 s fragment in
/// flight, and the half second it may have been waiting for its next keyframe-aligned write.
const RECOVERY_POINT: f64 = 1.5;

/// Each of `cameras`' standby node (its id) now.
async fn standbys(cluster: &Cluster, cameras: &[String]) -> anyhow::Result<Vec<String>> {
    let map: PlacementView = cluster.get_typed("/placement?limit=1000", None).await?;
    cameras
        .iter()
        .map(|cam| {
            map.items
                .iter()
                .find(|e| e.camera_id.to_string() == *cam)
                .and_then(|e| e.standby_node.clone())
                .ok_or_else(|| anyhow::anyhow!("camera {cam} has no standby"))
        })
        .collect()
}

/// The victim's newest segment of `camera` indexed before `fault`, played through node `server`'s
/// API with ffprobe: seconds; `None` when it is the first of its epoch (recorded before the
/// camera's standby was chosen, it is not wholly mirrored).
async fn earlier_footage_plays(
    cluster: &Cluster,
    camera: &str,
    victim_id: &str,
    fault: f64,
    server: &str,
) -> anyhow::Result<Option<f64>> {
    let row = cluster
        .db()
        .query_opt(
            "SELECT id FROM (SELECT id, seq FROM segments WHERE camera_id = $1::text::uuid
               AND node = $2 AND end_ts < to_timestamp($3) ORDER BY end_ts DESC LIMIT 1) newest
             WHERE seq % $4 > 1",
            &[&camera, &victim_id, &fault, &vms_store::SEQ_BLOCK],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let seconds = cluster.play_segment(id, server).await?.1;
    // And as a player sees it: the HLS playlist of its time, through the same node (it may take in
    // a neighbouring segment that overlaps the range's ends, never less than this one).
    let (codec, hls) = cluster.play_hls(camera, id, server).await?;
    anyhow::ensure!(
        codec == "h264" && hls > seconds - 1.0,
        "segment {id} through {server}'s HLS playlist: {codec} {hls:.2} s, the file {seconds:.2} s"
    );
    Ok(Some(seconds))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_owners_cameras_record_again_on_survivors() -> anyhow::Result<()> {
    let kills = size("KILLS", 3);
    let (mut cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 6,
        ..Default::default()
    })
    .await?;
    let (mut times, mut gaps_away, mut gaps_back) = (Vec::new(), Vec::new(), Vec::new());
    let (mut beyond_failover, mut played) = (Vec::new(), 0);
    for k in 0..kills {
        let victim = cluster.busiest().await?;
        let cameras = cluster.cameras_on(&victim).await?;
        cluster
            .wait_indexed(&victim, &cameras, Duration::from_secs(15))
            .await?;
        // A segment recorded after its camera's standby was chosen (not the first of its epoch),
        // so the victim has earlier footage its standby holds whole.
        let victim_id = cluster.id(&victim);
        vms_testkit::wait_for(
            "a wholly mirrored segment on the victim",
            Duration::from_secs(20),
            || async {
                let n: i64 = cluster
                    .db()
                    .query_one(
                        "SELECT count(*) FROM (SELECT max(seq) AS newest FROM segments
                       WHERE node = $1 AND camera_id::text = ANY($3) GROUP BY camera_id) c
                     WHERE c.newest % $2 > 1",
                        &[&victim_id, &vms_store::SEQ_BLOCK, &cameras],
                    )
                    .await?
                    .get(0);
                Ok((n > 0).then_some(()))
            },
        )
        .await?;
        Cluster::into_segment(k).await;
        let standby_ids = standbys(&cluster, &cameras).await?;
        let snap = cluster.snapshot();
        let fault = oracle::db_now(cluster.db()).await?;
        cluster.kill(&victim).await;
        let t = cluster
            .takeover_times(&cameras, &victim, &snap, Duration::from_secs(20))
            .await?;
        println!(
            "failover: kill {}/{kills} of node {victim}: {} cameras recording on survivors after {:?} s",
            k + 1,
            cameras.len(),
            t
        );
        times.extend(&t);
        // Every camera placed on a survivor, then the victim comes back, indexes the segments it
        // was writing, and takes its share again.
        cluster.wait_settled(None, Duration::from_secs(20)).await?;
        let wait = Duration::from_secs(20);
        let away = oracle::recording_gaps(cluster.db(), &cameras, &victim_id, fault, wait).await?;
        // Footage survives its node: the standbys index their copies of the unfinished segments
        // (settled 20 s, then the next 5 s sweep), and the victim's earlier segments play from them.
        tokio::time::sleep(Duration::from_secs(28)).await;
        for ((cam, standby), took) in cameras.iter().zip(&standby_ids).zip(&t) {
            let gap = oracle::footage_gap(cluster.db(), cam, fault)
                .await?
                .unwrap_or(f64::INFINITY);
            let server = cluster.name_of(standby).expect("standby is a member");
            let seconds = earlier_footage_plays(&cluster, cam, &victim_id, fault, &server).await?;
            println!(
                "failover: camera {cam}: footage gap {gap:.2} s, failover {took:.2} s; its earlier segment plays {seconds:.2?} s through {server}"
            );
            if let Some(seconds) = seconds {
                assert!(
                    seconds > 1.0,
                    "the dead node's segment plays {seconds:.2} s"
                );
                played += 1;
            }
            beyond_failover.push(gap - took);
        }
        cluster.add_node(&victim, Vec::new()).await?;
        cluster.wait_member_up(&victim).await?;
        cluster.wait_settled(None, Duration::from_secs(40)).await?;
        cluster.wait_recording(Duration::from_secs(30)).await?;
        let back = oracle::recording_gaps(cluster.db(), &cameras, &victim_id, fault, wait).await?;
        println!(
            "failover: recording gap per moved camera {away:.2?} s while {victim} was away, {back:.2?} s once it was back"
        );
        gaps_away.extend(away);
        gaps_back.extend(back);
    }
    let (p50, p99) = (percentile(&times, 50.0), percentile(&times, 99.0));
    println!(
        "failover: {} takeovers over {kills} kills: p50 {p50:.2} s, p99 {p99:.2} s, max {:.2} s",
        times.len(),
        percentile(&times, 100.0)
    );
    println!(
        "failover: recording gap per moved camera p50 {:.2} s, p99 {:.2} s while the victim was away; p50 {:.2} s, p99 {:.2} s once it was back",
        percentile(&gaps_away, 50.0),
        percentile(&gaps_away, 99.0),
        percentile(&gaps_back, 50.0),
        percentile(&gaps_back, 99.0)
    );
    // The target is p99 <= 3 s; 10 % slack for the shared machine.
    assert!(p99 <= 3.3, "failover p99 {p99:.2} s (target 3 s)");
    let lost = percentile(&beyond_failover, 99.0);
    println!(
        "failover: footage lost per moved camera beyond its failover time: p50 {:.2} s, p99 {lost:.2} s, max {:.2} s over {} cameras",
        percentile(&beyond_failover, 50.0),
        percentile(&beyond_failover, 100.0),
        beyond_failover.len()
    );
    assert!(
        lost <= RECOVERY_POINT,
        "footage lost beyond failover p99 {lost:.2} s (target {RECOVERY_POINT} s)"
    );
    assert!(
        played > 0,
        "no dead node's earlier segment was played from its standby"
    );
    let (events, nodes) = oracle::judged_events(cluster.db()).await?;
    println!("failover: the oracles judged {events} events written by {nodes} nodes");
    assert!(
        events > 0 && nodes >= 2,
        "the events oracles judged {events} events from {nodes} nodes"
    );
    oracle::assert_clean(cluster.db()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_node_loses_its_cameras_and_stops_them_when_it_resumes() -> anyhow::Result<()> {
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 6,
        ..Default::default()
    })
    .await?;
    let freezes = size("FREEZES", 1);
    let mut series = Series::new("freeze");
    for round in 0..freezes {
        println!("freeze: round {}/{freezes}", round + 1);
        let victim = cluster.busiest().await?;
        let cameras = cluster.cameras_on(&victim).await?;
        cluster
            .wait_indexed(&victim, &cameras, Duration::from_secs(15))
            .await?;
        Cluster::into_segment(round).await;
        let snap = cluster.snapshot();
        let fault = oracle::db_now(cluster.db()).await?;
        cluster.freeze(&victim);
        let moved = cluster
            .takeover_times(&cameras, &victim, &snap, Duration::from_secs(10))
            .await?;
        println!(
            "freeze: {} cameras of frozen node {victim} recording elsewhere after {moved:?} s",
            cameras.len()
        );
        assert!(
            moved.iter().all(|t| *t <= 5.0),
            "cameras moved within 5 s: {moved:?}"
        );
        let others: Vec<String> = cluster
            .running()
            .into_iter()
            .filter(|n| *n != victim)
            .collect();
        let map = cluster
            .wait_settled(Some(&others), Duration::from_secs(10))
            .await?;
        tokio::time::sleep(Duration::from_secs(10).saturating_sub(snap.at.elapsed())).await;
        assert_eq!(
            cluster.placement().await?,
            map,
            "nothing moves while it is away"
        );
        let thawed = SystemTime::now();
        cluster.thaw(&victim);
        // Resumed: within the lease time it has stopped writing the segments it had open. (It may
        // take cameras back later, handed over at a new epoch, into new files.)
        tokio::time::sleep(Duration::from_secs(3)).await;
        cluster.assert_stopped_writing(&victim, &cameras, &snap, thawed, Duration::from_secs(2))?;
        let fenced = cluster
            .metric(&victim, "vms_fenced_writes_total")
            .await
            .unwrap_or(0.0);
        println!(
            "freeze: the resumed node stopped its stale cameras; {fenced} of its writes were refused as stale"
        );
        series
            .record(&cluster, &victim, &cameras, fault, &moved)
            .await?;
        cluster.wait_member_up(&victim).await?;
        cluster.wait_settled(None, Duration::from_secs(40)).await?;
        cluster.wait_recording(Duration::from_secs(30)).await?;
    }
    series.report(&cluster).await?;
    oracle::assert_clean(cluster.db()).await
}

/// The mutation check: with the SQL fence switched off (a test-only switch), a node frozen and
/// resumed gets its late segments indexed, and the oracles must say so. Were they unable to fail,
/// this test would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oracles_fail_when_the_fence_is_off() -> anyhow::Result<()> {
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 3,
        cameras: 6,
        env: vec![("VMS_TEST_FENCE".into(), "off".into())],
        ..Default::default()
    })
    .await?;
    let victim = cluster.busiest().await?;
    let cameras = cluster.cameras_on(&victim).await?;
    let snap = cluster.snapshot();
    cluster.freeze(&victim);
    cluster
        .takeover_times(&cameras, &victim, &snap, Duration::from_secs(10))
        .await?;
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(snap.at.elapsed())).await;
    cluster.thaw(&victim);
    // The resumed node indexes the segments it had open, unfenced.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let never_given = oracle::stale_epoch_segments(cluster.db()).await?;
    let late = oracle::writes_outside_their_epoch(cluster.db()).await?;
    println!(
        "mutation: fence off; {never_given} writes at an epoch never given (the old oracle), {} writes outside their epoch's time",
        late.len()
    );
    assert!(
        oracle::assert_clean(cluster.db()).await.is_err(),
        "with the fence off the oracles must fail"
    );
    Ok(())
}
