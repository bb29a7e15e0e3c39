//! Benchmark, not a test (ignored unless asked for): what mirroring every fragment to the camera's
//! standby costs, with two nodes that each record half of the cameras and are the other half's
//! standby. Two such clusters run side by side, one with mirroring off (`cluster.mirror = false`:
//! the baseline, recording only) and one with it on, each with its own simulator and database, and
//! both are measured over the same windows, so that whatever else the shared machine does falls on
//! both alike. Each round starts both afresh (which of them starts first alternates) and measures
//! them over a few windows after a warm-up:
//! - CPU of each cluster's node processes (and of its PostgreSQL backends, which record each
//!   segment's copy count), per camera-minute; the cost of mirroring is on − off, as a ratio of
//!   recording (goal ≤ 0.3×), per window, then the median and mean over all windows;
//! - bytes the on cluster's nodes sent each other over their cluster links and mirror streams
//!   (TCP payload acknowledged, read with `ss`), per camera-hour, less the off cluster's, against
//!   the bytes of the cameras' streams recorded in the windows (goal: at most 1× the stream).
//!
//! `cargo build --release -p vms-node && cargo test --release -p vms-chaos-tests --test mirror_cost
//! -- --ignored --nocapture` (`VMS_CHAOS_MIRROR_CAMERAS`, default 16; `VMS_CHAOS_MIRROR_SECONDS`
//! per window, default 20; `VMS_CHAOS_MIRROR_WINDOWS` per round, default 3;
//! `VMS_CHAOS_MIRROR_ROUNDS`, default 2).

use std::collections::{HashMap, HashSet};
use std::time::Duration;
use vms_chaos_tests::{Cluster, ClusterOptions, percentile, size};
use vms_node::{cpu_seconds, cpu_seconds_between};

/// The cluster link port a node process was started with.
fn link_port(pid: u32) -> anyhow::Result<u16> {
    let env = std::fs::read(format!("/proc/{pid}/environ"))?;
    env.split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("VMS_CLUSTER__LINK_PORT="))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("node {pid} has no link port"))
}

/// Payload bytes acknowledged on the TCP connections to the cluster link and mirror ports, summed
/// over both directions (`ss -tin`: each socket's `bytes_acked` is what its side sent).
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

/// CPU time so far of each PostgreSQL backend serving database `db` (its command line reads
/// `postgres: <user> <db> …`), keyed by pid.
fn backend_cpu(db: &str) -> HashMap<u32, f64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    let marker = format!(" {db} ");
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (cmdline.starts_with("postgres:") && cmdline.contains(&marker)).then_some(())?;
            Some((pid, cpu_seconds(pid).ok()?))
        })
        .collect()
}

/// One cluster under measurement.
struct Side {
    cluster: Cluster,
    pids: Vec<u32>,
    ports: HashSet<u16>,
}

/// What a side had used at a moment.
struct Reading {
    nodes: f64,
    postgres: HashMap<u32, f64>,
    link: u64,
}

impl Side {
    async fn start(mirror: bool, cameras: usize) -> anyhow::Result<Self> {
        let (cluster, _) = Cluster::start_recording(ClusterOptions {
            nodes: 2,
            cameras,
            analytics: false,
            env: vec![("VMS_CLUSTER__MIRROR".into(), mirror.to_string())],
            ..Default::default()
        })
        .await?;
        let pids: Vec<u32> = cluster
            .running()
            .iter()
            .filter_map(|n| cluster.pid(n))
            .collect();
        let mut ports: HashSet<u16> = pids
            .iter()
            .map(|p| link_port(*p))
            .collect::<Result<_, _>>()?;
        // Footage goes over the mirror streams, to the ports the nodes' heartbeats name.
        let nodes: vms_messages::NodeList = cluster.get_typed("/nodes", None).await?;
        let port_of = |a: &str| a.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
        ports.extend(
            nodes
                .items
                .iter()
                .filter_map(|n| port_of(n.mirror.as_deref()?)),
        );
        Ok(Self {
            cluster,
            pids,
            ports,
        })
    }

    fn read(&self) -> anyhow::Result<Reading> {
        Ok(Reading {
            nodes: self
                .pids
                .iter()
                .map(|p| cpu_seconds(*p).unwrap_or(0.0))
                .sum(),
            postgres: backend_cpu(self.cluster.sb.db.name()),
            link: link_bytes(&self.ports)?,
        })
    }

    /// Stream bytes the cameras recorded between `t0` and `t1` (segments prorated).
    async fn recorded(
        &self,
        t0: chrono::DateTime<chrono::Utc>,
        t1: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<f64> {
        Ok(self
            .cluster
            .db()
            .query_one(
                "SELECT coalesce(sum(bytes * extract(epoch FROM least(end_ts, $2) - greatest(start_ts, $1))
                                     / extract(epoch FROM end_ts - start_ts)), 0)::float8
                 FROM segments WHERE end_ts > $1 AND start_ts < $2 AND end_ts > start_ts",
                &[&t0, &t1],
            )
            .await?
            .get(0))
    }
}

/// One window's figures, per camera-minute (CPU) and per camera-hour (bytes).
#[derive(Debug)]
struct Window {
    off_nodes: f64,
    on_nodes: f64,
    off_all: f64,
    on_all: f64,
    link: f64,
    stream: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture on a release build"]
async fn mirroring_costs_against_recording() -> anyhow::Result<()> {
    let cameras = size("MIRROR_CAMERAS", 16);
    let seconds = u64::try_from(size("MIRROR_SECONDS", 20))?;
    let windows = size("MIRROR_WINDOWS", 3);
    let rounds = size("MIRROR_ROUNDS", 2);
    let mut all = Vec::new();
    for round in 1..=rounds {
        let (off, on) = if round % 2 == 1 {
            let off = Side::start(false, cameras).await?;
            (off, Side::start(true, cameras).await?)
        } else {
            let on = Side::start(true, cameras).await?;
            (Side::start(false, cameras).await?, on)
        };
        // Warm-up: standbys chosen, first segments closed, copies in sync.
        tokio::time::sleep(Duration::from_secs(10)).await;
        for w in 1..=windows {
            let (a0, b0, t0) = (off.read()?, on.read()?, chrono::Utc::now());
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            let (a1, b1, t1) = (off.read()?, on.read()?, chrono::Utc::now());
            let camera_minutes = cameras as f64 * (t1 - t0).as_seconds_f64() / 60.0;
            let camera_hours = camera_minutes / 60.0;
            // The window's last segments are indexed as they close.
            tokio::time::sleep(Duration::from_secs(6)).await;
            let stream = on.recorded(t0, t1).await? / camera_hours;
            let (off_nodes, on_nodes) = (
                (a1.nodes - a0.nodes) / camera_minutes,
                (b1.nodes - b0.nodes) / camera_minutes,
            );
            let window = Window {
                off_nodes,
                on_nodes,
                off_all: off_nodes
                    + cpu_seconds_between(&a0.postgres, &a1.postgres) / camera_minutes,
                on_all: on_nodes + cpu_seconds_between(&b0.postgres, &b1.postgres) / camera_minutes,
                link: (b1.link.saturating_sub(b0.link) as f64
                    - a1.link.saturating_sub(a0.link) as f64)
                    / camera_hours,
                stream,
            };
            println!(
                "  round {round} window {w}: CPU-s per camera-minute, nodes off {:.4} on {:.4} ({:.2}×); with PostgreSQL off {:.4} on {:.4} ({:.2}×)",
                window.off_nodes,
                window.on_nodes,
                (window.on_nodes - window.off_nodes) / window.off_nodes,
                window.off_all,
                window.on_all,
                (window.on_all - window.off_all) / window.off_all,
            );
            all.push(window);
        }
        drop((off, on));
    }
    let ratios = |on: fn(&Window) -> f64, off: fn(&Window) -> f64| -> (f64, f64) {
        let per: Vec<f64> = all.iter().map(|w| (on(w) - off(w)) / off(w)).collect();
        let mean_on = all.iter().map(on).sum::<f64>() / all.len() as f64;
        let mean_off = all.iter().map(off).sum::<f64>() / all.len() as f64;
        (percentile(&per, 50.0), (mean_on - mean_off) / mean_off)
    };
    let mean = |f: fn(&Window) -> f64| all.iter().map(f).sum::<f64>() / all.len() as f64;
    let (nodes_median, nodes_mean) = ratios(|w| w.on_nodes, |w| w.off_nodes);
    let (all_median, all_mean) = ratios(|w| w.on_all, |w| w.off_all);
    let mib = |b: f64| b / f64::from(1 << 20);
    println!(
        "mirror_cost: {cameras} cameras per cluster, 2 nodes each, {} windows of {seconds} s in {rounds} rounds",
        all.len()
    );
    println!(
        "  CPU-s per camera-minute, nodes: off {:.4}, on {:.4}; mirroring/recording: median {nodes_median:.2}, of the means {nodes_mean:.2}",
        mean(|w| w.off_nodes),
        mean(|w| w.on_nodes),
    );
    println!(
        "  CPU-s per camera-minute, nodes + PostgreSQL: off {:.4}, on {:.4}; mirroring/recording: median {all_median:.2}, of the means {all_mean:.2}",
        mean(|w| w.off_all),
        mean(|w| w.on_all),
    );
    println!(
        "  link MiB per camera-hour, on - off: {:.1}; stream {:.1} MiB per camera-hour; ratio {:.3}",
        mib(mean(|w| w.link)),
        mib(mean(|w| w.stream)),
        mean(|w| w.link) / mean(|w| w.stream)
    );
    Ok(())
}
