//! `vms-bench glass`: glass-to-glass latency of live view in real Chromium, and how fast a seek in
//! recorded video shows its new picture. The simulator's `/clock0` paints the time into each
//! picture before encoding it live; a node records it; Debian's Chromium (headless, driven by
//! Playwright: `nodes/tests/browser/live_view.py`) watches it over WebRTC, MSE and LL-HLS, reads
//! the painted time back from each shown frame and compares it with when the frame was shown. The
//! figures are the p50 and p95 against the targets (WebRTC 500 ms, MSE 1.5 s, LL-HLS 3 s;
//! a seek 1 s) and their ratio.

use crate::context;
use crate::node::BenchNode;
use anyhow::Context;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use vms_node::{SimOptions, SimProcess};
use vms_store::ScratchDatabase;

/// The browser check.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/browser/live_view.py");

/// Options of `vms-bench glass`.
#[derive(Clone, Debug, clap::Args)]
pub struct GlassBenchArgs {
    /// Seconds each transport is watched.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// The simulator's RTSP port.
    #[arg(long, default_value_t = 18584)]
    pub sim_port: u16,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
}

/// Runs the benchmark and prints its figures.
pub async fn glass(args: GlassBenchArgs) -> anyhow::Result<()> {
    context::print();
    let db = ScratchDatabase::create(&args.postgres, "vms_bench_glass")
        .await
        .context("cannot create the scratch database")?;
    let dir = std::env::temp_dir().join(format!("vms-bench-glass-{}", std::process::id()));
    let result = run(&args, &db.url, &dir).await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(args: &GlassBenchArgs, db_url: &str, dir: &Path) -> anyhow::Result<()> {
    let sim = SimProcess::start(&SimOptions::plain(1, args.sim_port)).await?;
    let mut node = BenchNode::spawn(dir, db_url, &[])?;
    node.ready(Duration::from_secs(30)).await?;
    let admin = node.admin_token().await?;
    let tenant = node
        .post(
            &admin,
            "/tenants",
            json!({"name": "glass", "max_cameras": 1}),
        )
        .await?;
    let url = format!("rtsp://127.0.0.1:{}/clock0", args.sim_port);
    let camera = node
        .post(
            &admin,
            "/cameras",
            json!({"name": "clock", "url": url, "tenant_id": tenant["id"]}),
        )
        .await?;
    let camera = camera["id"].as_str().unwrap_or_default().to_string();
    let token = node
        .post(
            &admin,
            &format!("/cameras/{camera}/stream-token"),
            json!({"ttl_seconds": 3600}),
        )
        .await?;
    let token = token["token"].as_str().unwrap_or_default().to_string();
    // Recorded footage for the seeks, and the camera connected.
    tokio::time::sleep(Duration::from_secs(20)).await;

    println!(
        "glass to glass in Chromium, {} s per transport (painted time → shown), p50 | p95 | target | p95/target",
        args.seconds
    );
    for (mode, target) in [
        ("webrtc", 500.0),
        ("mse", 1500.0),
        ("hls", 3000.0),
        ("seek", 1000.0),
    ] {
        let seconds = if mode == "seek" { 30 } else { args.seconds };
        let seen = browser(node.base(), &camera, &token, mode, seconds)?;
        let figures = if mode == "seek" {
            &seen["seek_ms"]
        } else {
            &seen["glass_ms"]
        };
        let (p50, p95) = (figures["p50"].as_f64(), figures["p95"].as_f64());
        match (p50, p95) {
            (Some(p50), Some(p95)) => println!(
                "  {mode:<7} {p50:>7.0} ms | {p95:>7.0} ms | {target:>5.0} ms | {:>5.2}x   ({} frames)",
                p95 / target,
                figures["n"]
            ),
            _ => println!("  {mode:<7} no figure: {seen}"),
        }
    }
    node.stop().await;
    sim.stop().await;
    Ok(())
}

fn browser(
    base: &str,
    camera: &str,
    token: &str,
    mode: &str,
    seconds: u64,
) -> anyhow::Result<Value> {
    let out = std::process::Command::new("python3")
        .args([
            SCRIPT,
            base,
            camera,
            token,
            mode,
            &seconds.to_string(),
            "clock",
        ])
        .output()
        .context("cannot run python3")?;
    anyhow::ensure!(
        out.status.success(),
        "the Chromium check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
