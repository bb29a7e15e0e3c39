//! Inference pooled across nodes (issue 18). Node `a` takes only the `ingest` role (it records the
//! cameras and opens no detector session); `b` and `c` take only `inference` (they record nothing
//! and each runs a replica of the person model). The cameras' frames travel from `a` to the
//! replicas over the ractor_cluster links, and `GET /placement` lists the replicas.
//!
//! Then one inference node is SIGKILLed while frames are in flight (each camera samples 5 frames a
//! second, which keeps both replicas busy; the test fails unless a frame was resent). The frames it held are sent
//! again to the survivor, detection goes on within 3 s, and the events oracle compares the window
//! after the kill with an equal window before it (the scene repeats, so a run without a fault
//! raises as many events per camera, give or take the one bucket a window's edges cut): no event is
//! lost, none is stored twice, and no frame on `a` is dropped for want of a replica or a deadline.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vms_chaos_tests::{Cluster, ClusterOptions, oracle};
use vms_testkit::wait_for;

/// Seconds of each window: three passes of the person scene's 10 s clip.
const WINDOW: f64 = 30.0;
/// Frames each camera samples a second.
const SAMPLE_FPS: u32 = 5;
/// Longest pause in detection the kill may cause.
const RESUME_WITHIN: Duration = Duration::from_secs(3);

fn roles(r: &str) -> Vec<(String, String)> {
    vec![("VMS_CLUSTER__ROLES".to_string(), r.to_string())]
}

/// Events per camera stored with `at` in `[from, to)` (database seconds).
async fn events_between(
    cluster: &Cluster,
    from: f64,
    to: f64,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows = cluster
        .db()
        .query(
            "SELECT camera_id::text, count(*) FROM events
             WHERE kind <> 'escalation' AND at >= to_timestamp($1) AND at < to_timestamp($2)
             GROUP BY camera_id",
            &[&from, &to],
        )
        .await?;
    let mut by_camera: BTreeMap<String, i64> =
        cluster.cameras.iter().map(|c| (c.clone(), 0)).collect();
    for r in rows {
        by_camera.insert(r.get(0), r.get(1));
    }
    Ok(by_camera)
}

/// Frames `a` dropped unrun: no replica, past the deadline, shed by a full queue.
async fn unrun(cluster: &Cluster) -> anyhow::Result<f64> {
    let mut n = 0.0;
    for stage in ["no_replica", "detector_deadline", "detector_queue"] {
        n += cluster
            .metric_where(
                "a",
                "vms_frames_dropped_total",
                Some(&format!("stage=\"{stage}\"")),
            )
            .await?;
    }
    Ok(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_node_detects_on_inference_nodes_and_survives_one_dying() -> anyhow::Result<()> {
    let mut cluster = Cluster::start(ClusterOptions {
        nodes: 1,
        cameras: 2,
        env: roles("ingest,api,control"),
        ..Default::default()
    })
    .await?;
    for name in ["b", "c"] {
        cluster
            .add_node(name, roles("inference,api,control"))
            .await?;
    }
    for n in cluster.running() {
        cluster.wait_member_up(&n).await?;
    }
    let map = cluster.wait_settled(None, Duration::from_secs(30)).await?;
    let a = cluster.id("a");
    anyhow::ensure!(
        map.values().all(|n| n.as_deref() == Some(a.as_str())),
        "cameras must be placed on the only ingest node: {map:?}"
    );
    cluster.wait_recording(Duration::from_secs(30)).await?;
    // Five sampled frames a second per camera keep both replicas busy, so the kill finds frames in
    // flight on its victim.
    for camera in cluster.cameras.clone() {
        let (status, body) = cluster
            .send(
                reqwest::Method::PATCH,
                &format!("/cameras/{camera}"),
                Some(serde_json::json!({ "sample_fps": SAMPLE_FPS })),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "PATCH camera: {status} {body}");
    }

    // The replicas run on b and c only, as the placement map says.
    let (b, c) = (cluster.id("b"), cluster.id("c"));
    let replicas = wait_for(
        "person replicas on b and c",
        Duration::from_secs(20),
        || async {
            let page: serde_json::Value = cluster.get_typed("/placement", Some("a")).await?;
            let mut nodes: Vec<String> = page["models"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["model"] == "person")
                .flat_map(|m| m["replicas"].as_array().cloned().unwrap_or_default())
                .filter_map(|r| r["node_id"].as_str().map(str::to_string))
                .collect();
            nodes.sort();
            Ok((nodes.len() == 2).then_some(nodes))
        },
    )
    .await?;
    let mut want = vec![b.clone(), c.clone()];
    want.sort();
    anyhow::ensure!(replicas == want, "replicas on {replicas:?}, want {want:?}");
    anyhow::ensure!(
        cluster.metric("a", "vms_model_replicas").await? == 0.0,
        "the ingest-only node runs a replica"
    );
    // Frames from a reach both replicas over the links.
    wait_for(
        "frames served on b and c",
        Duration::from_secs(30),
        || async {
            let served_b = cluster.metric("b", "vms_inference_served_total").await?;
            let served_c = cluster.metric("c", "vms_inference_served_total").await?;
            Ok((served_b > 0.0 && served_c > 0.0).then_some(()))
        },
    )
    .await?;
    let via_link = cluster
        .metric_where("a", "vms_inference_routed_total", Some("via=\"link\""))
        .await?;
    let local = cluster
        .metric_where("a", "vms_inference_routed_total", Some("via=\"local\""))
        .await?;
    anyhow::ensure!(
        via_link > 0.0 && local == 0.0,
        "a routed {via_link} frames over links and {local} locally"
    );
    println!("inference: a routed {via_link} frames over links to replicas on {replicas:?}");

    // A frame sent over NATS without the cluster's seal gets no answer, and is counted.
    let nats = async_nats::connect("127.0.0.1:4222").await?;
    let subject = vms_messages::subjects::model_frames(&cluster.sb.node_id, &b, "person");
    let refused_before = cluster
        .metric("b", "vms_inference_frames_refused_total")
        .await?;
    let unsealed = tokio::time::timeout(
        Duration::from_secs(2),
        nats.request(subject, b"\0\0\0\x02{}".to_vec().into()),
    )
    .await;
    anyhow::ensure!(
        !matches!(unsealed, Ok(Ok(_))),
        "an unsealed frame over NATS was answered"
    );
    let refused = cluster
        .metric("b", "vms_inference_frames_refused_total")
        .await?
        - refused_before;
    anyhow::ensure!(refused == 1.0, "{refused} unsealed frames counted, want 1");

    // The window without a fault, then the kill and the window after it.
    let before_from = oracle::db_now(cluster.db()).await?;
    tokio::time::sleep(Duration::from_secs_f64(WINDOW)).await;
    let unrun_before = unrun(&cluster).await?;
    let served_b = cluster.metric("b", "vms_inference_served_total").await?;
    let killed_at = oracle::db_now(cluster.db()).await?;
    let kill = Instant::now();
    cluster.kill("c").await;
    // Detection on a, sampled every 100 ms: its longest pause after the kill.
    let mut last = cluster.metric("a", "vms_frames_detected_total").await?;
    let mut last_change = kill;
    let mut longest = Duration::ZERO;
    while kill.elapsed() < Duration::from_secs_f64(WINDOW) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = cluster.metric("a", "vms_frames_detected_total").await?;
        if now > last {
            longest = longest.max(last_change.elapsed());
            last = now;
            last_change = Instant::now();
        }
    }
    longest = longest.max(last_change.elapsed());
    // The outbox stores the last events of the window.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = events_between(&cluster, before_from, killed_at).await?;
    let after = events_between(&cluster, killed_at, killed_at + WINDOW).await?;
    let dropped = unrun(&cluster).await? - unrun_before;
    let resent = cluster.metric("a", "vms_inference_resent_total").await?;
    let served_after = cluster.metric("b", "vms_inference_served_total").await? - served_b;
    println!(
        "inference: killed c; longest pause in detection {:.2} s (goal <= {:.0} s); {resent} frames resent; \
         b served {served_after} frames after; frames dropped unrun {dropped}; events per camera \
         before {before:?}, after {after:?}",
        longest.as_secs_f64(),
        RESUME_WITHIN.as_secs_f64()
    );
    anyhow::ensure!(
        longest <= RESUME_WITHIN,
        "detection paused {:.2} s",
        longest.as_secs_f64()
    );
    anyhow::ensure!(served_after > 0.0, "the surviving replica served nothing");
    anyhow::ensure!(
        dropped == 0.0,
        "{dropped} frames dropped unrun across the kill"
    );
    anyhow::ensure!(
        resent >= 1.0,
        "no frame was in flight on the killed node: the scenario did not happen"
    );
    for (camera, n) in &before {
        let m = after.get(camera).copied().unwrap_or(0);
        anyhow::ensure!(*n > 0, "camera {camera} raised no event without a fault");
        anyhow::ensure!(
            (m - n).abs() <= 1,
            "camera {camera}: {n} events without a fault, {m} with one"
        );
    }
    let twice: i64 = cluster
        .db()
        .query_one(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE rule_id IS NOT NULL
             GROUP BY camera_id, rule_id, floor(extract(epoch FROM at) / 2) HAVING count(*) > 1) d",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(twice == 0, "{twice} cooldown buckets hold two events");
    oracle::assert_clean(cluster.db()).await?;
    Ok(())
}
