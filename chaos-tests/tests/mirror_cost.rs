//! Benchmark, not a test (ignored unless asked for): what mirroring every fragment to the camera's
//! standby, with two nodes that each record half of the cameras and are the other half's
//! standby. The same cluster runs in rounds, mirroring off (`cluster.mirror = false`: the
//! baseline, recording only) then on, each measured over the same window after a warm-up; the
//! figures are the means over the rounds (a shared 2-core machine is noisy):
//! - CPU of both node processes (and of PostgreSQL, which records each segment's copy count), per
//!   camera-minute; the cost of mirroring is on − off, as a ratio of recording (goal ≤ 0.3×);
//! - bytes the nodes sent each other over their cluster links (TCP payload acknowledged, read with
//!   `ss`), per camera-hour, against the bytes of the cameras' streams recorded in the window
//!   (goal: at most 1× the stream).
//!
//! `cargo build --release -p vms-node && cargo test --release -p vms-chaos-tests --test mirror_cost
//! -- --ignored --nocapture` (`VMS_CHAOS_MIRROR_CAMERAS`, default 16; `VMS_CHAOS_MIRROR_SECONDS`,
//! default 30; `VMS_CHAOS_MIRROR_ROUNDS`, default 3).

use std::collections::HashSet;
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, size};
use vms_node::{cpu_seconds, cpu_seconds_between, cpu_seconds_by_process};

/// What one run measured.
#[derive(Debug, Default)]
struct Figures {
    /// CPU seconds of the node processes per camera-minute.
    nodes: f64,
    /// The same, with PostgreSQL's.
    with_postgres: f64,
    /// Link bytes per camera-hour.
    link: f64,
    /// Recorded stream bytes per camera-hour.
    stream: f64,
}

/// The cluster link port a node process was started with.
fn link_port(pid: u32) -> anyhow::Result<u16> {
    let env = std::fs::read(format!("/proc/{pid}/environ"))?;
    env.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("VMS_CLUSTER__LINK_PORT="))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("node {pid} has no link port"))
}

/// Payload bytes acknowledged on the TCP connections between the cluster link ports, summed over
/// both directions (`ss -tin`: each socket's `bytes_acked` is what its side sent).
fn link_bytes(ports: &HashSet<u16>) -> anyhow::Result<u64> {
    let out = std::process::Command::new("ss")
        .args(["-tinH", "state", "established"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let port_of = |addr: &str| addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
    let mut total = 0;
    let mut link = false;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // `Recv-Q Send-Q Local:Port Peer:Port`: a link socket has a link port on either end.
            let cols: Vec<&str> = line.split_whitespace().collect();
            link = cols.len() >= 4
                && (port_of(cols[2]).is_some_and(|p| ports.contains(&p))
                    || port_of(cols[3]).is_some_and(|p| ports.contains(&p)));
        } else if link {
            let acked = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("bytes_acked:"))
                .and_then(|v| v.parse::<u64>().ok());
            total += acked.unwrap_or(0);
        }
    }
    Ok(total)
}

async fn measure(mirror: bool, cameras: usize, seconds: u64) -> anyhow::Result<Figures> {
    let (cluster, _) = Cluster::start_recording(ClusterOptions {
        nodes: 2,
        cameras,
        analytics: false,
        env: vec![("VMS_CLUSTER__MIRROR".into(), mirror.to_string())],
        ..Default::default()
    })
    .await?;
    // Warm-up: standbys chosen, first segments closed, copies in sync.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pids: Vec<u32> = cluster
        .running()
        .iter()
        .filter_map(|n| cluster.pid(n))
        .collect();
    let ports: HashSet<u16> = pids
        .iter()
        .map(|p| link_port(*p))
        .collect::<Result<_, _>>()?;
    let node_cpu = || {
        pids.iter()
            .map(|p| cpu_seconds(*p).unwrap_or(0.0))
            .sum::<f64>()
    };
    let pg = || cpu_seconds_by_process(|c| c == "postgres");
    let (cpu0, pg0, link0, t0) = (node_cpu(), pg(), link_bytes(&ports)?, chrono::Utc::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (cpu1, pg1, link1, t1) = (node_cpu(), pg(), link_bytes(&ports)?, chrono::Utc::now());
    // The window's segments are indexed as they close.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let recorded: f64 = cluster
        .db()
        .query_one(
            "SELECT coalesce(sum(bytes * extract(epoch FROM least(end_ts, $2) - greatest(start_ts, $1))
                                 / extract(epoch FROM end_ts - start_ts)), 0)::float8
             FROM segments WHERE end_ts > $1 AND start_ts < $2 AND end_ts > start_ts",
            &[&t0, &t1],
        )
        .await?
        .get(0);
    let window = (t1 - t0).as_seconds_f64();
    let camera_minutes = cameras as f64 * window / 60.0;
    let camera_hours = camera_minutes / 60.0;
    let nodes = (cpu1 - cpu0) / camera_minutes;
    Ok(Figures {
        nodes,
        with_postgres: nodes + cpu_seconds_between(&pg0, &pg1) / camera_minutes,
        link: link1.saturating_sub(link0) as f64 / camera_hours,
        stream: recorded / camera_hours,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture on a release build"]
async fn mirroring_costs_against_recording() -> anyhow::Result<()> {
    let cameras = size("MIRROR_CAMERAS", 16);
    let seconds = u64::try_from(size("MIRROR_SECONDS", 30))?;
    let rounds = size("MIRROR_ROUNDS", 3);
    let (mut off, mut on) = (Figures::default(), Figures::default());
    for round in 1..=rounds {
        for (mirror, sum) in [(false, &mut off), (true, &mut on)] {
            let f = measure(mirror, cameras, seconds).await?;
            println!(
                "  round {round}, mirroring {}: nodes {:.4}, with PostgreSQL {:.4} CPU-s per camera-minute",
                if mirror { "on" } else { "off" },
                f.nodes,
                f.with_postgres
            );
            sum.nodes += f.nodes / rounds as f64;
            sum.with_postgres += f.with_postgres / rounds as f64;
            sum.link += f.link / rounds as f64;
            sum.stream += f.stream / rounds as f64;
        }
    }
    let mib = |b: f64| b / f64::from(1 << 20);
    println!(
        "mirror_cost: {cameras} cameras on 2 nodes, {seconds} s windows, means of {rounds} rounds"
    );
    println!(
        "  CPU-s per camera-minute, nodes: off {:.4}, on {:.4}; mirroring/recording = {:.2}",
        off.nodes,
        on.nodes,
        (on.nodes - off.nodes) / off.nodes
    );
    println!(
        "  CPU-s per camera-minute, nodes + PostgreSQL: off {:.4}, on {:.4}; mirroring/recording = {:.2}",
        off.with_postgres,
        on.with_postgres,
        (on.with_postgres - off.with_postgres) / off.with_postgres
    );
    println!(
        "  link MiB per camera-hour: off {:.1}, on {:.1}; stream {:.1} MiB per camera-hour; (on - off)/stream = {:.3}",
        mib(off.link),
        mib(on.link),
        mib(on.stream),
        (on.link - off.link) / on.stream
    );
    Ok(())
}
