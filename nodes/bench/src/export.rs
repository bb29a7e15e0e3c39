//! `vms-bench export`: how fast an export is written. The simulator's 1080p camera is recorded for
//! a short while with the node's own writer (real H.264 in 1 s fragments, 5 s segments); its whole
//! segments are then laid end to end, on the wall clock, until they make `--minutes` of footage,
//! and exported with [`vms_actors::write_export`] (the node's export path: both passes, the hash,
//! the final fsync). The baseline, on the same files in the same run, is ffmpeg's concat demuxer
//! remuxing them into one faststart MP4 (`-c copy -movflags +faststart`).
//! The goal: an hour of 1080p exported at 50× real time or faster.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vms_actors::{ClosedFragments, ExportInput, FragmentRecorder, IngestOptions, SegmentLayout};
use vms_node::{SimOptions, SimProcess};

/// Arguments of `vms-bench export`.
#[derive(clap::Args, Debug)]
pub struct ExportBenchArgs {
    /// Minutes of footage to export.
    #[arg(long, default_value_t = 60)]
    pub minutes: u64,
    /// Seconds of the simulator to record (its whole segments are repeated to fill the minutes).
    #[arg(long, default_value_t = 22)]
    pub record_seconds: u64,
    /// The simulator's bitrate in kbit/s.
    #[arg(long, default_value_t = 4000)]
    pub bitrate: u32,
    /// The simulator's RTSP port.
    #[arg(long, default_value_t = 18554)]
    pub sim_port: u16,
    /// The goal, in times real time.
    #[arg(long, default_value_t = 50.0)]
    pub goal: f64,
}

/// Records `seconds` of `url` into `dir`; the segments closed.
async fn record(url: &str, seconds: u64, dir: &Path) -> anyhow::Result<Vec<ClosedFragments>> {
    let options = IngestOptions {
        url: url.parse()?,
        credentials: None,
        transport: vms_messages::RtspTransport::Tcp,
        watchdog: Duration::from_secs(5),
        keyframes: None,
        tls: None,
    };
    let mut recorder = FragmentRecorder::new(
        SegmentLayout {
            camera_dir: dir.to_path_buf(),
            first_seq: 1,
        },
        Duration::from_secs(5),
        Duration::from_secs(1),
    );
    let (closed, result) = vms_actors::record_rtsp_for(&options, &mut recorder, seconds).await;
    result.context("recording the simulator")?;
    Ok(closed)
}

/// Runs the benchmark and prints its figures.
pub async fn export(args: ExportBenchArgs) -> anyhow::Result<()> {
    crate::context::print();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("vms-bench-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sim = SimProcess::start(&SimOptions {
        resolution: "1080p".into(),
        extra_args: vec!["--bitrate".into(), args.bitrate.to_string()],
        ..SimOptions::plain(1, args.sim_port)
    })
    .await?;
    let closed = record(&sim.url(0), args.record_seconds, &dir.join("rec")).await;
    sim.stop().await;
    let closed = closed?;
    // Whole segments only (the first starts mid-stream, the last may be cut short).
    let whole: Vec<&ClosedFragments> = closed
        .iter()
        .skip(1)
        .filter(|c| (c.end - c.start).num_milliseconds() >= 4500)
        .collect();
    anyhow::ensure!(!whole.is_empty(), "no whole segment recorded: {closed:?}");
    let wanted = Duration::from_secs(args.minutes * 60);
    let mut inputs = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut at = 0i64;
    let mut footage = Duration::ZERO;
    while footage < wanted {
        let c = whole[files.len() % whole.len()];
        let length = (c.end - c.start).to_std().unwrap_or_default();
        inputs.push(ExportInput {
            id: i64::try_from(files.len()).unwrap_or(i64::MAX),
            start_micros: 1_800_000_000_000_000 + at,
        });
        files.push(c.path.clone());
        at += i64::try_from(length.as_micros()).unwrap_or(0);
        footage += length;
    }
    let source_bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    eprintln!(
        "[bench] {} segments, {:.1} min of 1080p at {} kbit/s, {:.1} MiB",
        files.len(),
        footage.as_secs_f64() / 60.0,
        args.bitrate,
        source_bytes as f64 / 1048576.0
    );
    // Warm the page cache for both, so neither pays the first read.
    for f in &whole {
        let _ = std::fs::read(&f.path);
    }

    let ours_out = dir.join("ours.mp4");
    let paths = files.clone();
    let read = |id: i64| {
        let path = usize::try_from(id).ok().and_then(|i| paths.get(i)).cloned();
        async move {
            let path = path.ok_or("no such segment")?;
            tokio::fs::read(&path)
                .await
                .map(bytes::Bytes::from)
                .map_err(|e| e.to_string())
        }
    };
    let started = Instant::now();
    let written = vms_actors::write_export(&inputs, None, read, |_| async {}, &ours_out)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let ours = started.elapsed().as_secs_f64();

    let list = dir.join("concat.txt");
    let lines: String = files
        .iter()
        .map(|f| format!("file '{}'\n", f.display()))
        .collect();
    std::fs::write(&list, lines)?;
    let theirs_out = dir.join("ffmpeg.mp4");
    let started = Instant::now();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&theirs_out)
        .status()
        .context("ffmpeg")?;
    let theirs = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "ffmpeg failed: {status}");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(&ours_out)
        .output()?;
    let probed = String::from_utf8_lossy(&probe.stdout).replace('\n', " ");

    let real = footage.as_secs_f64();
    println!(
        "export: {:.1} min of 1080p H.264 ({:.0} MiB) → one MP4 of {:.0} MiB in {ours:.2} s = {:.0}× real time (goal ≥ {:.0}×: {:.2}× the goal)",
        real / 60.0,
        source_bytes as f64 / 1048576.0,
        written.bytes as f64 / 1048576.0,
        real / ours,
        args.goal,
        real / ours / args.goal
    );
    println!(
        "export: ffmpeg concat + faststart on the same files: {theirs:.2} s = {:.0}× real time; ours takes {:.2}× ffmpeg's time",
        real / theirs,
        ours / theirs
    );
    println!("export: ffprobe reads ours as {probed}(footage {real:.1} s)");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
