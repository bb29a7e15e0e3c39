//! `vms-bench live`: what live viewers cost the node. A node records simulated 1080p cameras; its
//! CPU is measured over the same window with no viewer (the baseline, recording only) and then with
//! N viewers: WebRTC of one camera, WebRTC spread over every camera, and MSE of one camera. The
//! figure is the node's CPU per viewer in percent of a core, against the goal (0.5 %), and
//! each viewer's frames against the frames the camera sent, with gaps counted (a viewer that
//! keeps up must lose none).

use crate::context;
use crate::live_viewers::{self, Received};
use crate::node::{BenchNode, metric_sum};
use anyhow::Context;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use vms_node::{SimOptions, SimProcess, cpu_seconds};
use vms_store::ScratchDatabase;

/// Options of `vms-bench live`.
#[derive(Clone, Debug, clap::Args)]
pub struct LiveBenchArgs {
    /// Viewers in each measured scenario.
    #[arg(long, default_value_t = 50)]
    pub viewers: usize,
    /// Simulated 1080p cameras recorded (the spread scenario watches all of them).
    #[arg(long, default_value_t = 16)]
    pub cameras: usize,
    /// Seconds each scenario is measured.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// The simulator's RTSP port.
    #[arg(long, default_value_t = 18574)]
    pub sim_port: u16,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// The goal: CPU per viewer, percent of one core.
    #[arg(long, default_value_t = 0.5)]
    pub goal_percent: f64,
    /// The node's `live.udp_gso`: each frame's WebRTC packets in one system call (`false`: one
    /// `sendto` per packet, to compare).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub udp_gso: bool,
}

/// How viewers watch in a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Transport {
    WebRtc,
    Mse,
}

/// One measured window.
struct Window {
    cpu_seconds: f64,
    frames: Vec<u64>,
    gaps: u64,
}

/// Runs the benchmark and prints its figures.
pub async fn live(args: LiveBenchArgs) -> anyhow::Result<()> {
    context::print();
    let db = ScratchDatabase::create(&args.postgres, "vms_bench_live")
        .await
        .context("cannot create the scratch database")?;
    let dir = std::env::temp_dir().join(format!("vms-bench-live-{}", std::process::id()));
    let result = run(&args, &db.url, &dir).await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(args: &LiveBenchArgs, db_url: &str, dir: &Path) -> anyhow::Result<()> {
    let sim = SimProcess::start(&SimOptions {
        resolution: "1080p".into(),
        ..SimOptions::plain(args.cameras, args.sim_port)
    })
    .await?;
    let mut node = BenchNode::spawn(
        dir,
        db_url,
        &[
            ("VMS_LIVE__MAX_VIEWERS_PER_CAMERA", "1000".to_string()),
            ("VMS_LIVE__UDP_GSO", args.udp_gso.to_string()),
        ],
    )?;
    node.ready(Duration::from_secs(30)).await?;
    let admin = node.admin_token().await?;
    let tenant = node
        .post(
            &admin,
            "/tenants",
            json!({"name": "bench", "max_cameras": args.cameras}),
        )
        .await?;
    let mut cameras = Vec::new();
    for i in 0..args.cameras {
        let body = json!({"name": format!("cam{i}"), "url": sim.url(i), "tenant_id": tenant["id"]});
        cameras.push(
            node.post(&admin, "/cameras", body).await?["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let mut tokens = Vec::new();
    for camera in &cameras {
        let body = json!({"ttl_seconds": 3600});
        let token = node
            .post(&admin, &format!("/cameras/{camera}/stream-token"), body)
            .await?;
        tokens.push(token["token"].as_str().unwrap_or_default().to_string());
    }
    // Warm-up: every camera connected and recording.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pid = node.pid().context("the benchmark node exited")?;
    let measure = Duration::from_secs(args.seconds);

    let baseline = window(&node, pid, measure, &[], &[], Transport::WebRtc).await?;
    let one = vec![cameras[0].clone(); args.viewers];
    let one_tokens = vec![tokens[0].clone(); args.viewers];
    let spread: Vec<String> = (0..args.viewers)
        .map(|i| cameras[i % cameras.len()].clone())
        .collect();
    let spread_tokens: Vec<String> = (0..args.viewers)
        .map(|i| tokens[i % tokens.len()].clone())
        .collect();
    let webrtc_one = window(&node, pid, measure, &one, &one_tokens, Transport::WebRtc).await?;
    let webrtc_spread = window(
        &node,
        pid,
        measure,
        &spread,
        &spread_tokens,
        Transport::WebRtc,
    )
    .await?;
    let mse_one = window(&node, pid, measure, &one, &one_tokens, Transport::Mse).await?;
    let dropped = metric_sum(
        &node.metrics(&admin).await?,
        "vms_live_dropped_gops_total",
        None,
    );
    node.stop().await;
    sim.stop().await;

    // The simulator sends 25 frames a second.
    let expected = 25 * args.seconds;
    let base_percent = baseline.cpu_seconds / measure.as_secs_f64() * 100.0;
    println!(
        "node CPU recording {} cameras, no viewer: {base_percent:.1} % of a core (live.udp_gso = {})",
        args.cameras, args.udp_gso
    );
    println!(
        "{} viewers for {} s ({expected} frames sent per camera); CPU per viewer above the baseline | ratio to the goal ({} %) | frames per viewer min..max | gaps",
        args.viewers, args.seconds, args.goal_percent
    );
    for (what, w) in [
        ("WebRTC, one camera", &webrtc_one),
        (
            &format!("WebRTC, over {} cameras", args.cameras) as &str,
            &webrtc_spread,
        ),
        ("MSE WebSocket, one camera", &mse_one),
    ] {
        let per_viewer = (w.cpu_seconds - baseline.cpu_seconds).max(0.0)
            / measure.as_secs_f64()
            / args.viewers as f64
            * 100.0;
        println!(
            "  {what:<28} {per_viewer:>7.3} % | {:>5.2}x | {}..{} | {}",
            per_viewer / args.goal_percent,
            w.frames.iter().min().copied().unwrap_or(0),
            w.frames.iter().max().copied().unwrap_or(0),
            w.gaps
        );
    }
    println!(
        "groups of pictures the node skipped for slow viewers: {}",
        dropped.max(0.0) as u64
    );
    Ok(())
}

/// The node's CPU over `measure` while a viewer watches each of `cameras` (none: the baseline),
/// after they started; what each received.
async fn window(
    node: &BenchNode,
    pid: u32,
    measure: Duration,
    cameras: &[String],
    tokens: &[String],
    transport: Transport,
) -> anyhow::Result<Window> {
    let (stop, stopped) = watch::channel(false);
    let mut viewers = Vec::new();
    let mut received = Vec::new();
    for (camera, token) in cameras.iter().zip(tokens) {
        let got = Arc::new(Received::default());
        let (base, camera, token) = (node.base().to_string(), camera.clone(), token.clone());
        let task = match transport {
            Transport::WebRtc => tokio::spawn(live_viewers::webrtc(
                (base, camera, token),
                false,
                stopped.clone(),
                Arc::clone(&got),
            )),
            Transport::Mse => tokio::spawn(live_viewers::mse(
                base,
                camera,
                token,
                stopped.clone(),
                Arc::clone(&got),
            )),
        };
        viewers.push(task);
        received.push(got);
    }
    // Every viewer connected and past its first group of pictures.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before: Vec<u64> = received
        .iter()
        .map(|r| r.frames.load(Ordering::Relaxed))
        .collect();
    let gaps_before: u64 = received
        .iter()
        .map(|r| r.gaps.load(Ordering::Relaxed))
        .sum();
    let cpu_before = cpu_seconds(pid)?;
    tokio::time::sleep(measure).await;
    let cpu_seconds = cpu_seconds(pid)? - cpu_before;
    let frames = received
        .iter()
        .zip(before)
        .map(|(r, b)| r.frames.load(Ordering::Relaxed) - b)
        .collect();
    let gaps = received
        .iter()
        .map(|r| r.gaps.load(Ordering::Relaxed))
        .sum::<u64>()
        - gaps_before;
    let _ = stop.send(true);
    for viewer in viewers {
        match viewer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => anyhow::bail!("a {transport:?} viewer failed: {e:#}"),
            Err(e) => anyhow::bail!("a {transport:?} viewer panicked: {e}"),
        }
    }
    Ok(Window {
        cpu_seconds,
        frames,
        gaps,
    })
}
