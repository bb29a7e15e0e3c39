//! `vms bench ingest`: CPU cost of recording, ours against ffmpeg's segment muxer (how Frigate records),
//! measured in one run against the same simulated cameras. Prints CPU seconds per camera-minute for each
//! and the ratio ours/ffmpeg. For ours it also counts, per camera, the segments indexed over the
//! measured window, and fails when any camera's segments leave a gap in it: a figure for a recorder
//! that did not record is no figure.

use super::context;
use super::coverage::gaps;
use super::node::{BenchNode, metric_sum};
use anyhow::{Context, bail};
use chrono::{DateTime, TimeDelta, Utc};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use vms_config::NodeConfig;
use vms_messages::{CameraCreate, TenantCreate, TenantScope};
use vms_node::{
    SimOptions, SimProcess, cpu_seconds, cpu_seconds_between, cpu_seconds_by_process, rss_mib,
    terminate,
};
use vms_store::MAX_PAGE;
use vms_store::ScratchDatabase;
use vms_store::Store;

/// How far apart two segments of one camera may be and still count as continuous: a few frame
/// intervals at 25 fps.
const GAP_TOLERANCE_MS: i64 = 200;

/// Options of `vms bench ingest`.
#[derive(Clone, Debug, clap::Args)]
pub struct IngestArgs {
    /// Simulated cameras recorded at once.
    #[arg(long, default_value_t = 16)]
    pub cameras: usize,
    /// Seconds measured for each recorder (after a warm-up).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Seconds of warm-up before measuring.
    #[arg(long, default_value_t = 8)]
    pub warmup: u64,
    /// Picture size of the simulated cameras.
    #[arg(long, default_value = "1080p", value_parser = ["720p", "1080p"])]
    pub resolution: String,
    /// Video codec of the simulated cameras.
    #[arg(long, default_value = "h264", value_parser = ["h264", "h265"])]
    pub codec: String,
    /// RTSP port of the simulator.
    #[arg(long, default_value_t = 18554)]
    pub sim_port: u16,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Video bit rate of the simulated cameras in kbit/s (default: the simulator's, 4000 at 1080p).
    #[arg(long)]
    pub bitrate: Option<u32>,
    /// Run our node on these CPUs only (`taskset -c` list: `0` for one core). With `--sim-cpus`
    /// on the others, this measures cameras per core.
    #[arg(long)]
    pub node_cpus: Option<String>,
    /// Run the simulator on these CPUs only (`taskset -c` list).
    #[arg(long)]
    pub sim_cpus: Option<String>,
    /// Measure our node only, without the ffmpeg comparison.
    #[arg(long)]
    pub no_ffmpeg: bool,
}

/// How many CPUs a `taskset -c` list names (`0`, `0-3`, `0,2`); `None` when it cannot be read.
fn cpu_count(list: &str) -> Option<usize> {
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    a.trim().parse::<usize>().ok()?,
                    b.trim().parse::<usize>().ok()?,
                );
                b.checked_sub(a).map(|n| n + 1)
            }
            None => part.trim().parse::<usize>().ok().map(|_| 1),
        })
        .sum()
}

/// One recorder's measurement.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// CPU seconds used over the window.
    pub cpu_seconds: f64,
    /// CPU seconds per camera-minute.
    pub per_camera_minute: f64,
}

fn measurement(cpu: f64, cameras: usize, seconds: u64) -> Measurement {
    let camera_minutes = cameras as f64 * seconds as f64 / 60.0;
    Measurement {
        cpu_seconds: cpu,
        per_camera_minute: cpu / camera_minutes,
    }
}

/// Whether a process is one of those a recorder makes work for besides its own: PostgreSQL (the
/// index), NATS (events), and the kernel threads that write back, journal and take network
/// interrupts.
fn is_service(comm: &str) -> bool {
    comm == "postgres"
        || comm == "nats-server"
        || ["jbd2/", "kworker/", "ksoftirqd/"]
            .iter()
            .any(|p| comm.starts_with(p))
}

/// CPU used over a measured window: by the recorder's own processes, by the simulator serving it, and
/// by the services it makes work for ([`is_service`]).
#[derive(Clone, Copy, Debug)]
struct Window {
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    process: f64,
    simulator: f64,
    services: f64,
}

async fn measure(
    pids: &[u32],
    sim_pid: u32,
    warmup: u64,
    seconds: u64,
    what: &str,
) -> anyhow::Result<Window> {
    eprintln!("[bench] {what}: warming up {warmup} s");
    tokio::time::sleep(Duration::from_secs(warmup)).await;
    let sum = |pids: &[u32]| -> anyhow::Result<f64> { pids.iter().map(|p| cpu_seconds(*p)).sum() };
    let (before, sim_before, services_before) = (
        sum(pids)?,
        cpu_seconds(sim_pid)?,
        cpu_seconds_by_process(is_service),
    );
    eprintln!("[bench] {what}: measuring {seconds} s");
    let started = Utc::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    Ok(Window {
        started,
        ended: Utc::now(),
        process: sum(pids)? - before,
        simulator: cpu_seconds(sim_pid)? - sim_before,
        services: cpu_seconds_between(&services_before, &cpu_seconds_by_process(is_service)),
    })
}

async fn wait_exit(child: &mut Child) {
    if tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// One camera's recording over the measured window.
#[derive(Clone, Debug)]
struct Coverage {
    camera: String,
    /// Segments indexed that overlap the window.
    segments: usize,
    /// Uncovered parts of the window, in seconds.
    gaps: Vec<f64>,
}

/// What our node's own metrics say of its fragments over the run.
#[derive(Clone, Copy, Debug, Default)]
struct Fragments {
    /// Fragments made durable.
    durable: f64,
    /// Of them, those durable more than 1.5 s after their first frame arrived.
    late: f64,
    /// Mean time of one write and fdatasync, in milliseconds.
    write_ms: f64,
}

impl Fragments {
    fn from_metrics(text: &str) -> Self {
        let durable = metric_sum(text, "vms_fragment_durable_seconds_count", None);
        let within = metric_sum(
            text,
            "vms_fragment_durable_seconds_bucket",
            Some("le=\"1.5\""),
        );
        let writes = metric_sum(text, "vms_fragment_write_seconds_count", None);
        let write_s = metric_sum(text, "vms_fragment_write_seconds_sum", None);
        Self {
            durable,
            late: durable - within,
            write_ms: 1000.0 * write_s / writes.max(1.0),
        }
    }
}

/// Records with our node (a separate `vms node` process) and returns its CPU over the window, its
/// resident memory at the window's end (MiB), its fragments, and each camera's coverage of the
/// window.
async fn run_ours(
    args: &IngestArgs,
    sim: &SimProcess,
    dir: &Path,
    db_url: &str,
) -> anyhow::Result<(Window, f64, Fragments, Vec<Coverage>)> {
    let store = Store::connect(db_url, 4)?;
    store.migrate().await?;
    let max = u32::try_from(args.cameras).unwrap_or(u32::MAX);
    let tenant = store
        .create_tenant(&TenantCreate {
            name: "bench".into(),
            max_cameras: Some(max),
            retention_days: Some(1),
            ..Default::default()
        })
        .await?;
    for i in 0..args.cameras {
        let req = CameraCreate::new(tenant.id, format!("cam{i}"), sim.url(i));
        store
            .create_camera(TenantScope::All, tenant.id, &req)
            .await?;
    }
    let node = BenchNode::spawn_on(&dir.join("ours"), db_url, &[], args.node_cpus.as_deref())?;
    let pid = node.pid().context("node exited")?;
    let cpu = measure(
        &[pid],
        sim.pid().unwrap_or(0),
        args.warmup,
        args.seconds,
        "vms node",
    )
    .await;
    let rss = rss_mib(pid).unwrap_or(0.0);
    // The segment open at the window's end is indexed when it closes, one segment later.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let fragments = match node.admin_token().await {
        Ok(token) => Fragments::from_metrics(&node.metrics(&token).await.unwrap_or_default()),
        Err(e) => {
            eprintln!("[bench] cannot read the node's metrics: {e}");
            Fragments::default()
        }
    };
    node.stop().await;
    let cpu = cpu?;
    let mut coverage = Vec::new();
    for camera in store.tenant_cameras(tenant.id).await? {
        let (segments, _) = store
            .segments(
                TenantScope::All,
                camera.id,
                Some(cpu.started),
                Some(cpu.ended),
                None,
                MAX_PAGE,
            )
            .await?;
        let spans: Vec<_> = segments.iter().map(|s| (s.start, s.end)).collect();
        coverage.push(Coverage {
            camera: camera.name,
            segments: segments.len(),
            gaps: gaps(
                &spans,
                cpu.started,
                cpu.ended,
                TimeDelta::milliseconds(GAP_TOLERANCE_MS),
            )
            .iter()
            .map(|(a, b)| (*b - *a).as_seconds_f64())
            .collect(),
        });
    }
    Ok((cpu, rss, fragments, coverage))
}

/// Records with one ffmpeg segment muxer per camera and returns their CPU over the window.
async fn run_ffmpeg(
    args: &IngestArgs,
    sim: &SimProcess,
    dir: &Path,
) -> anyhow::Result<(Window, usize)> {
    let mut children = Vec::new();
    for i in 0..args.cameras {
        let out = dir.join("ffmpeg").join(format!("cam{i}"));
        std::fs::create_dir_all(&out)?;
        let child = Command::new("ffmpeg")
            .args([
                "-nostdin",
                "-loglevel",
                "fatal",
                "-rtsp_transport",
                "tcp",
                "-i",
                &sim.url(i),
            ])
            // As Frigate records: stream copy into 5 s MP4 segments.
            .args([
                "-c",
                "copy",
                "-f",
                "segment",
                "-segment_time",
                "5",
                "-segment_format",
                "mp4",
                "-reset_timestamps",
                "1",
            ])
            .arg(out.join("%06d.mp4"))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot run ffmpeg (install the ffmpeg package)")?;
        children.push(child);
    }
    let pids: Vec<u32> = children.iter().filter_map(Child::id).collect();
    if pids.len() != children.len() {
        bail!("an ffmpeg process exited at once");
    }
    let cpu = measure(
        &pids,
        sim.pid().unwrap_or(0),
        args.warmup,
        args.seconds,
        "ffmpeg",
    )
    .await;
    for pid in &pids {
        terminate(*pid);
    }
    for child in &mut children {
        wait_exit(child).await;
    }
    let files = walk_count(&dir.join("ffmpeg"));
    Ok((cpu?, files))
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_count(&e.path())
            } else {
                1
            }
        })
        .sum()
}

/// Runs the ingest benchmark and prints the figures.
pub async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    context::print();
    NodeConfig::default().validate()?;
    let dir: PathBuf = std::env::temp_dir().join(format!("vms-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = ScratchDatabase::create(&args.postgres, "vms_bench")
        .await
        .context("cannot create the scratch database")?;
    eprintln!(
        "[bench] {} {} {} cameras, {} s per recorder",
        args.cameras, args.resolution, args.codec, args.seconds
    );
    let sim = SimProcess::start(&SimOptions {
        cameras: args.cameras,
        port: args.sim_port,
        resolution: args.resolution.clone(),
        scene: "plain".into(),
        aligned: false,
        codec: args.codec.clone(),
        audio: None,
        tls_cert: None,
        extra_args: args
            .bitrate
            .iter()
            .flat_map(|k| ["--bitrate".to_string(), k.to_string()])
            .collect(),
        cpus: args.sim_cpus.clone(),
    })
    .await?;
    let sim_pid = sim.pid().context("sim exited")?;
    // Baseline: the services' CPU with only the simulator running (and whatever else runs here).
    let baseline = measure(
        &[],
        sim_pid,
        args.warmup.min(3),
        args.seconds,
        "baseline (no recorder)",
    )
    .await?;
    let ours = run_ours(&args, &sim, &dir, &db.url).await;
    let theirs = if args.no_ffmpeg {
        None
    } else {
        Some(run_ffmpeg(&args, &sim, &dir).await)
    };
    sim.stop().await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    let (ours, rss, fragments, coverage) = ours?;
    let segments: usize = coverage.iter().map(|c| c.segments).sum();
    let theirs = theirs.transpose()?;
    // Machine-wide: the recorder's own processes plus the work it makes for PostgreSQL, NATS and
    // the kernel (writeback, journal, network), less what those services spent in the baseline.
    let machine = |window: &Window| {
        measurement(
            window.process + (window.services - baseline.services).max(0.0),
            args.cameras,
            args.seconds,
        )
    };
    let a = measurement(ours.process, args.cameras, args.seconds);
    let am = machine(&ours);
    println!(
        "ingest benchmark: {} x {} {} cameras{}, {} s measured per recorder",
        args.cameras,
        args.resolution,
        args.codec,
        args.bitrate
            .map_or_else(String::new, |k| format!(" at {k} kbit/s")),
        args.seconds
    );
    println!(
        "  CPU-s per camera-minute: own processes | machine-wide (own + PostgreSQL, NATS, kernel threads over their baseline)"
    );
    println!(
        "  (a) vms node          {:8.3} | {:8.3}   ({segments} segments indexed over the window)",
        a.per_camera_minute, am.per_camera_minute
    );
    if let Some((theirs, files)) = &theirs {
        let b = measurement(theirs.process, args.cameras, args.seconds);
        let bm = machine(theirs);
        println!(
            "  (b) ffmpeg -f segment {:8.3} | {:8.3}   ({files} files)",
            b.per_camera_minute, bm.per_camera_minute
        );
        println!(
            "  ratio a/b             {:8.3} | {:8.3}",
            a.per_camera_minute / b.per_camera_minute.max(1e-9),
            am.per_camera_minute / bm.per_camera_minute.max(1e-9)
        );
    }
    println!(
        "  vms node RSS          {rss:8.1} MiB at the window's end ({:.2} MiB per camera; growth per added camera: compare two camera counts)",
        rss / args.cameras as f64
    );
    println!(
        "  fragments durable     {:8.0} over the run, {:.0} later than 1.5 s after their first frame; write + fdatasync {:.2} ms each on average",
        fragments.durable, fragments.late, fragments.write_ms
    );
    println!(
        "  simulator serving     {:8.3} % of a core per camera",
        100.0 * ours.simulator / args.seconds as f64 / args.cameras as f64
    );
    println!(
        "  segments indexed over the window, per camera (gaps over {GAP_TOLERANCE_MS} ms fail the run):"
    );
    for c in &coverage {
        let gaps: Vec<String> = c.gaps.iter().map(|g| format!("{g:.2} s")).collect();
        println!(
            "    {:<8} {:>3} segments  {}",
            c.camera,
            c.segments,
            if gaps.is_empty() {
                "no gap".to_string()
            } else {
                format!("GAPS: {}", gaps.join(", "))
            }
        );
    }
    let broken = coverage.iter().filter(|c| !c.gaps.is_empty()).count();
    if let Some(cpus) = &args.node_cpus {
        let cores = cpu_count(cpus).unwrap_or(1).max(1);
        println!(
            "  cameras per core      {:8.1}   (node on CPUs {cpus}, {:.1} % of its cores busy; {})",
            args.cameras as f64 / cores as f64,
            100.0 * ours.process / args.seconds as f64 / cores as f64,
            if broken == 0 && fragments.late == 0.0 {
                "every camera recorded, no fragment late: PASS"
            } else {
                "FAIL"
            }
        );
    }
    if broken > 0 {
        bail!(
            "{broken} of {} cameras were not recorded through the whole measured window",
            coverage.len()
        );
    }
    if args.node_cpus.is_some() && fragments.late > 0.0 {
        bail!(
            "{:.0} fragments were durable later than 1.5 s after their first frame",
            fragments.late
        );
    }
    Ok(())
}
