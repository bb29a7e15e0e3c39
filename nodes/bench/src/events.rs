//! `vms bench events`: frame-to-event latency. A node process watches N simulated cameras where a
//! person walks through every 10 s, one rule per camera (cooldown 1 s, so most sightings raise an
//! event). Over the measured window it reports, from the node's metrics, the frames decoded, handed to
//! the detector, detected and dropped (and at which stage), and the events stored. Latency is from an
//! event's capture time (`at`, when the keyframe arrived) to the time PostgreSQL stored it
//! (`created_at`); every frame dropped in the window counts as a missed event (infinite latency) in the
//! percentiles, never as an absent one.

use super::context;
use super::node::{BenchNode, metric_sum};
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::time::Duration;
use vms_messages::{CameraCreate, RuleCreate, TenantCreate, TenantScope};
use vms_node::{SimOptions, SimProcess};
use vms_store::ScratchDatabase;
use vms_store::Store;

/// Options of `vms bench events`.
#[derive(Clone, Debug, clap::Args)]
pub struct EventsBenchArgs {
    /// Simulated cameras watched at once.
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Seconds measured (after a warm-up of 10 s).
    #[arg(long, default_value_t = 40)]
    pub seconds: u64,
    /// RTSP port of the simulator.
    #[arg(long, default_value_t = 18564)]
    pub sim_port: u16,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Detector sessions of the node (`analytics.workers`).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Every camera's keyframes at the same instant (the simulator's worst case) instead of spread
    /// over the keyframe interval as independent cameras are.
    #[arg(long)]
    pub aligned: bool,
    /// Frames a second each camera samples for the detector (default: keyframes only, 1 a second).
    #[arg(long)]
    pub sample_fps: Option<u32>,
    /// Run a cluster instead of one node: this many recording nodes (`ingest` role only), whose
    /// frames are detected on `--inference-nodes` nodes (`inference` role only).
    #[arg(long, default_value_t = 0)]
    pub ingest_nodes: usize,
    /// Inference nodes of the cluster (with `--ingest-nodes`).
    #[arg(long, default_value_t = 1)]
    pub inference_nodes: usize,
    /// With `--ingest-nodes`: measure with one inference node, then with `--inference-nodes`, in
    /// the same run, and print the ratio of detections per second.
    #[arg(long)]
    pub compare: bool,
}

/// Runs the benchmark.
pub async fn events(args: EventsBenchArgs) -> anyhow::Result<()> {
    context::print();
    let db = ScratchDatabase::create(&args.postgres, "vms_bench_events")
        .await
        .context("cannot create the scratch database")?;
    let dir = std::env::temp_dir().join(format!("vms-bench-events-{}", std::process::id()));
    let result = run(&args, &db.url, &dir).await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The node's frame counters, summed over its cameras.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Frames {
    decoded: f64,
    sampled: f64,
    detected: f64,
    dropped_handoff: f64,
    dropped_queue: f64,
}

impl Frames {
    fn read(text: &str) -> Self {
        Self {
            decoded: metric_sum(text, "vms_frames_decoded_total", None),
            sampled: metric_sum(text, "vms_frames_sampled_total", None),
            detected: metric_sum(text, "vms_frames_detected_total", None),
            dropped_handoff: metric_sum(
                text,
                "vms_frames_dropped_total",
                Some("stage=\"handoff\""),
            ),
            dropped_queue: ["detector_queue", "detector_deadline", "no_replica"]
                .iter()
                .map(|stage| {
                    metric_sum(
                        text,
                        "vms_frames_dropped_total",
                        Some(&format!("stage=\"{stage}\"")),
                    )
                })
                .sum(),
        }
    }

    fn plus(self, other: Self) -> Self {
        Self {
            decoded: self.decoded + other.decoded,
            sampled: self.sampled + other.sampled,
            detected: self.detected + other.detected,
            dropped_handoff: self.dropped_handoff + other.dropped_handoff,
            dropped_queue: self.dropped_queue + other.dropped_queue,
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            decoded: self.decoded - before.decoded,
            sampled: self.sampled - before.sampled,
            detected: self.detected - before.detected,
            dropped_handoff: self.dropped_handoff - before.dropped_handoff,
            dropped_queue: self.dropped_queue - before.dropped_queue,
        }
    }

    pub(crate) fn detected(self) -> f64 {
        self.detected
    }

    fn dropped(self) -> usize {
        (self.dropped_handoff + self.dropped_queue).max(0.0) as usize
    }
}

/// The `q` quantile of `latencies` (sorted, seconds) with `missed` more samples of infinite latency: `None`
/// when it falls on a missed one.
pub(crate) fn quantile(latencies: &[f64], missed: usize, q: f64) -> Option<f64> {
    let n = latencies.len() + missed;
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    latencies.get(rank).copied()
}

fn shown(v: Option<f64>) -> String {
    v.map_or_else(
        || "  missed".to_string(),
        |s| format!("{:>8.1} ms", s * 1000.0),
    )
}

async fn run(args: &EventsBenchArgs, db_url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let sim = SimProcess::start(&SimOptions {
        cameras: args.cameras,
        port: args.sim_port,
        resolution: "720p".into(),
        scene: "person".into(),
        aligned: args.aligned,
        codec: "h264".into(),
        audio: None,
        tls_cert: None,
        extra_args: Vec::new(),
        cpus: None,
    })
    .await?;
    let store = Store::connect(db_url, 4)?;
    store.migrate().await?;
    let tenant = store
        .create_tenant(&TenantCreate {
            name: "bench".into(),
            max_cameras: Some(u32::try_from(args.cameras).unwrap_or(u32::MAX)),
            allowed_detectors: vec!["person".into()],
            ..Default::default()
        })
        .await?;
    for i in 0..args.cameras {
        let camera = store
            .create_camera(
                TenantScope::All,
                tenant.id,
                &CameraCreate {
                    sample_fps: args.sample_fps,
                    ..CameraCreate::new(tenant.id, format!("cam{i}"), sim.url(i))
                },
            )
            .await?;
        store
            .create_rule(
                TenantScope::All,
                camera.id,
                &RuleCreate {
                    name: "all".into(),
                    detector: "person".into(),
                    classes: vec![],
                    min_score: Some(0.5),
                    zone: None,
                    cooldown_seconds: Some(1),
                    enabled: Some(true),
                    ..RuleCreate::default()
                },
            )
            .await?;
    }
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    if args.ingest_nodes > 0 {
        let result = super::events_cluster::compare(args, db_url, dir, &client).await;
        sim.stop().await;
        return result;
    }
    let mut node = BenchNode::spawn(
        dir,
        db_url,
        &[
            ("VMS_ANALYTICS__WORKERS", args.workers.to_string()),
            ("VMS_ANALYTICS__MODELS", "person".to_string()),
        ],
    )?;
    let measured = measure(args, std::slice::from_mut(&mut node)).await;
    node.stop().await;
    sim.stop().await;
    let (frames, started, ended) = measured?;
    report(args, &client, frames, (started, ended)).await?;
    Ok(())
}

/// Prints the frame counts and the latency percentiles of the events stored in `window`.
pub(crate) async fn report(
    args: &EventsBenchArgs,
    client: &tokio_postgres::Client,
    frames: Frames,
    (started, ended): (DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<()> {
    let mut latencies: Vec<f64> = client
        .query(
            "SELECT extract(epoch FROM created_at - at)::float8 FROM events
             WHERE at >= $1 AND at < $2",
            &[&started, &ended],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, f64>(0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let missed = frames.dropped();
    println!(
        "cameras          {} ({} keyframes, {} workers), {} s measured",
        args.cameras,
        if args.aligned { "aligned" } else { "spread" },
        args.workers,
        args.seconds
    );
    println!(
        "frames           {:.0} decoded, {:.0} handed to the detector, {:.0} detected",
        frames.decoded, frames.sampled, frames.detected
    );
    println!(
        "dropped          {:.0} at the hand-off to the rules, {:.0} unrun (queue full, deadline, no replica)",
        frames.dropped_handoff, frames.dropped_queue
    );
    println!(
        "events           {} stored; the percentiles count the {missed} dropped frame(s) as missed events",
        latencies.len()
    );
    println!(
        "latency p50      {}  (keyframe arrival to row stored)",
        shown(quantile(&latencies, missed, 0.5))
    );
    println!(
        "latency p99      {}  (target <= 250 ms)",
        shown(quantile(&latencies, missed, 0.99))
    );
    println!(
        "latency max      {}",
        shown(quantile(&latencies, missed, 1.0))
    );
    println!(
        "detections/s     {:.1}",
        frames.detected / args.seconds.max(1) as f64
    );
    Ok(())
}

/// Warms up, then reads the frame counters of `nodes` (summed) around the measured window; returns
/// their difference and the window.
pub(crate) async fn measure(
    args: &EventsBenchArgs,
    nodes: &mut [BenchNode],
) -> anyhow::Result<(Frames, DateTime<Utc>, DateTime<Utc>)> {
    for node in nodes.iter_mut() {
        node.ready(Duration::from_secs(60)).await?;
    }
    let token = nodes[0].admin_token().await?;
    let read = async |nodes: &[BenchNode]| -> anyhow::Result<Frames> {
        let mut sum = Frames::default();
        for node in nodes {
            sum = sum.plus(Frames::read(&node.metrics(&token).await?));
        }
        Ok(sum)
    };
    eprintln!(
        "[bench] {} cameras with a person walking through ({} keyframes), {} s (after 10 s warm-up)",
        args.cameras,
        if args.aligned { "aligned" } else { "spread" },
        args.seconds
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let before = read(nodes).await?;
    let started = Utc::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let ended = Utc::now();
    let after = read(nodes).await?;
    // Events of frames captured in the window but still in flight are stored before the node stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok((after.since(before), started, ended))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_frames_are_missed_in_the_percentiles() {
        let l = [0.1, 0.2, 0.3];
        assert_eq!(quantile(&l, 0, 0.5), Some(0.2));
        assert_eq!(quantile(&l, 0, 1.0), Some(0.3));
        // One missed frame of four: the max is missed, the median is not.
        assert_eq!(quantile(&l, 1, 1.0), None);
        assert_eq!(quantile(&l, 1, 0.5), Some(0.2));
        // Two of 100 missed: the p99 is missed.
        let many = vec![0.1; 98];
        assert_eq!(quantile(&many, 2, 0.99), None);
        assert_eq!(quantile(&[], 0, 0.5), None);
    }
}
