//! A camera that disconnects every second leaks nothing: its session ends mid-stream (the simulator
//! drops it), the camera reconnects and records again, over and over, while the node's open file
//! descriptors and resident memory stay flat. `VMS_SOAK_SECONDS` sets the length (60 s by default;
//! `docs/benchmarks.md` has the 10-minute run).

use std::time::{Duration, Instant};
use vms_messages::CameraView;
use vms_node::{open_fds, rss_mib};
use vms_testkit::Sandbox;

const VMS: &str = env!("CARGO_BIN_EXE_vms");

/// Open descriptors may differ by this many between two samples (a connection being replaced).
const FD_SLACK: usize = 4;
/// Resident memory may grow by this much over the run (allocator noise, not a leak per session).
const RSS_SLACK_MIB: f64 = 8.0;

/// Drops the camera's session `n` times, a second apart.
async fn flap(sb: &mut Sandbox, n: u64) -> anyhow::Result<()> {
    for _ in 0..n {
        sb.sim.command("drop 0").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_dropped_every_second_leaks_no_descriptor_task_or_memory() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("VMS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut sb = Sandbox::builder(VMS)
        .cameras(1)
        .env("VMS_RECORDING__BACKOFF_INITIAL_MS", "100")
        .env("VMS_RECORDING__BACKOFF_MAX_MS", "500")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "flappy", &sb.sim.url(0)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(30)).await?;
    let pid = sb
        .node()?
        .pid()
        .ok_or_else(|| anyhow::anyhow!("node exited"))?;
    // Warm up: the first sessions grow pools and caches that then stay.
    flap(&mut sb, 15).await?;
    let (fds_before, rss_before) = (open_fds(pid)?, rss_mib(pid)?);
    let before: CameraView = sb.get_typed(&format!("/cameras/{cam}")).await?;
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        flap(&mut sb, 10).await?;
        samples.push((open_fds(pid)?, rss_mib(pid)?));
    }
    let after: CameraView = sb.get_typed(&format!("/cameras/{cam}")).await?;
    let (fds_after, rss_after) = (open_fds(pid)?, rss_mib(pid)?);
    let reconnects = after.status.reconnects - before.status.reconnects;
    println!(
        "soak: {seconds} s, {reconnects} reconnects, fds {fds_before} -> {fds_after} (max {}), RSS {rss_before:.1} -> {rss_after:.1} MiB (max {:.1})",
        samples.iter().map(|s| s.0).max().unwrap_or(0),
        samples.iter().map(|s| s.1).fold(0.0, f64::max),
    );
    assert!(
        reconnects as f64 >= seconds as f64 * 0.5,
        "the camera was dropped about every second: {reconnects} reconnects in {seconds} s"
    );
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "descriptors leak: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after <= rss_before + RSS_SLACK_MIB,
        "memory leaks: {rss_before:.1} -> {rss_after:.1} MiB"
    );
    // And it still records between the drops.
    let segments = sb.segments(&cam).await?;
    assert!(segments.len() >= 2, "{} segments", segments.len());
    Ok(())
}
