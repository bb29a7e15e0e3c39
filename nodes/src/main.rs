//! The `vms` binary: run a node, the demo, the camera simulator, migrations, config checks, benchmarks.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;
use vms_config::NodeConfig;
use vms_node::bench::{
    auth as bench_auth, detect as bench_detect, events as bench_events, ingest as bench_ingest,
};
use vms_node::{ctl, demo, node, sim};

/// Distributed video management and analytics platform.
#[derive(Parser)]
#[command(name = "vms", version, about)]
struct Cli {
    /// Log as JSON lines.
    #[arg(long, global = true, env = "VMS_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: record cameras and serve the API.
    Node {
        /// Config file (TOML); `VMS_*` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// One node with embedded defaults and simulated cameras.
    Demo(demo::DemoArgs),
    /// Serve simulated RTSP cameras.
    Sim(sim::SimArgs),
    /// Apply database migrations.
    Migrate {
        /// Config file (TOML); `VMS_*` variables override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with a running node's API (tenants, cameras, users, API keys, audit).
    Ctl(ctl::CtlArgs),
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file (with `VMS_*` overrides) and print the result.
    Check {
        /// Config file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// CPU per camera-minute of recording, ours vs ffmpeg.
    Ingest(bench_ingest::IngestArgs),
    /// Cost of a login against an authenticated request.
    Auth(bench_auth::AuthBenchArgs),
    /// Detector throughput through the ModelWorker vs raw ONNX Runtime.
    Detect(bench_detect::DetectBenchArgs),
    /// Frame-to-event latency with N cameras.
    Events(bench_events::EventsBenchArgs),
}

/// Log targets that print secrets below info level.
const SECRET_BEARING_TARGETS: &[&str] = &["tokio_postgres", "postgres_protocol"];

fn init_tracing(json: bool, default: &str) {
    let filter = std::env::var("VMS_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default.to_string());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default));
    // The database driver logs every query's parameters at debug (password hashes, camera
    // credentials): never below info, whatever the filter asks.
    let filter = SECRET_BEARING_TARGETS.iter().fold(filter, |f, target| {
        f.add_directive(
            format!("{target}=info")
                .parse()
                .unwrap_or_else(|_| tracing::Level::INFO.into()),
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vms")
        .build()
        .context("cannot start runtime")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Node { config } => {
            init_tracing(cli.log_json, "info,vms_api::access=warn");
            let config = NodeConfig::load(config.as_deref())?;
            runtime()?.block_on(node::run(config))
        }
        Command::Demo(args) => {
            init_tracing(cli.log_json, "warn");
            runtime()?.block_on(demo::run(args))
        }
        Command::Sim(args) => {
            init_tracing(cli.log_json, "warn");
            sim::run(args)
        }
        Command::Migrate { config } => {
            init_tracing(cli.log_json, "info");
            let config = NodeConfig::load(config.as_deref())?;
            config.validate()?;
            runtime()?.block_on(async {
                node::connect_store(&config).await?;
                println!("database at {} is up to date", config.postgres.url);
                Ok(())
            })
        }
        Command::Config {
            command: ConfigCommand::Check { file },
        } => {
            let config = NodeConfig::load(Some(&file)).and_then(|c| c.validate().map(|()| c));
            match config {
                Ok(c) => {
                    println!(
                        "{} is valid (node_id {}, api {}, data_dir {})",
                        file.display(),
                        c.node_id,
                        c.api.listen,
                        c.data_dir.display()
                    );
                    Ok(())
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
        }
        Command::Bench {
            command: BenchCommand::Ingest(args),
        } => {
            init_tracing(cli.log_json, "warn");
            runtime()?.block_on(bench_ingest::ingest(args))
        }
        Command::Ctl(args) => {
            init_tracing(cli.log_json, "warn");
            match runtime()?.block_on(ctl::run(args)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        Command::Bench {
            command: BenchCommand::Auth(args),
        } => {
            init_tracing(cli.log_json, "warn");
            runtime()?.block_on(bench_auth::auth(args))
        }
        Command::Bench {
            command: BenchCommand::Events(args),
        } => {
            init_tracing(cli.log_json, "warn");
            runtime()?.block_on(bench_events::events(args))
        }
        Command::Bench {
            command: BenchCommand::Detect(args),
        } => {
            init_tracing(cli.log_json, "warn");
            bench_detect::detect(args)
        }
    }
}
