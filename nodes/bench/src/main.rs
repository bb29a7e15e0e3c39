//! The `vms-bench` binary: each benchmark prints its figure and the ratio against its baseline,
//! measured in the same run. It drives the `vms` binary beside it.

use clap::{Parser, Subcommand};
use vms_bench::{auth, detect, events, export, fairness, glass, ingest, live};
use vms_node::init_tracing;

/// Benchmarks of the vms node.
#[derive(Parser)]
#[command(name = "vms-bench", version, about)]
struct Cli {
    /// Log as JSON lines.
    #[arg(long, global = true, env = "VMS_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CPU per camera-minute of recording, ours vs ffmpeg.
    Ingest(ingest::IngestArgs),
    /// Cost of a login against an authenticated request.
    Auth(auth::AuthBenchArgs),
    /// Detector throughput through the ModelWorker vs raw ONNX Runtime.
    Detect(detect::DetectBenchArgs),
    /// Two tenants (32 cameras and 2) on an overloaded model worker: fair queueing vs FIFO.
    Fairness(fairness::FairnessBenchArgs),
    /// Frame-to-event latency with N cameras.
    Events(events::EventsBenchArgs),
    /// Export speed: an hour of 1080p remuxed into one MP4, ours vs ffmpeg.
    Export(export::ExportBenchArgs),
    /// CPU per live viewer (WebRTC and MSE) of 1080p cameras, against the 0.5 % goal.
    Live(live::LiveBenchArgs),
    /// Glass-to-glass latency of live view and seek time of playback in real Chromium.
    Glass(glass::GlassBenchArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_json, "warn");
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match cli.command {
        Command::Ingest(args) => runtime()?.block_on(ingest::ingest(args)),
        Command::Auth(args) => runtime()?.block_on(auth::auth(args)),
        Command::Events(args) => runtime()?.block_on(events::events(args)),
        Command::Detect(args) => detect::detect(args),
        Command::Fairness(args) => fairness::fairness(args),
        Command::Export(args) => runtime()?.block_on(export::export(args)),
        Command::Live(args) => runtime()?.block_on(live::live(args)),
        Command::Glass(args) => runtime()?.block_on(glass::glass(args)),
    }
}
