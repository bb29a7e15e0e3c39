//! The `vms` binary: run a node, the demo, the camera simulator, migrations, config checks, the
//! admin CLI. The benchmarks are the dev-only `vms-bench` binary (`nodes/bench`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use vms_config::NodeConfig;
use vms_node::{
    CtlArgs, DemoArgs, SimArgs, connect_store, init_tracing, run_ctl, run_demo, run_node, run_sim,
};

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
    Demo(DemoArgs),
    /// Serve simulated RTSP cameras.
    Sim(SimArgs),
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
    Ctl(CtlArgs),
    /// Check an exported MP4 against its signed manifest, offline: the signature, then the file's
    /// size and SHA-256. Exits 0 when both hold, 1 when not.
    Verify {
        /// The exported MP4.
        file: PathBuf,
        /// Its manifest (`manifest.json` from the export).
        manifest: PathBuf,
        /// The cluster's export key (base64, from `GET /api/v1/export-key`) the manifest must be
        /// signed with; without it, any key the manifest names is accepted and printed.
        #[arg(long)]
        public_key: Option<String>,
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

/// `vms verify`: prints what the export states, or why it does not verify (exit 1).
fn verify(file: &Path, manifest: &Path, public_key: Option<&str>) -> anyhow::Result<()> {
    let json = std::fs::read(manifest)
        .with_context(|| format!("cannot read the manifest {}", manifest.display()))?;
    let mp4 = std::fs::File::open(file)
        .with_context(|| format!("cannot read the export {}", file.display()))?;
    match vms_actors::verify_export(&json, std::io::BufReader::new(mp4), public_key) {
        Ok(ok) => {
            let m = &ok.manifest;
            println!(
                "OK: {} is export {} of camera {} ({}), {} to {}, {} bytes, SHA-256 {}, {} segments, exported by {} at {}, signed by key {}",
                file.display(),
                m.export_id,
                m.camera_name,
                m.camera_id,
                m.from.to_rfc3339(),
                m.to.to_rfc3339(),
                m.file.bytes,
                m.file.sha256,
                m.segments.len(),
                m.exported_by,
                m.exported_at.to_rfc3339(),
                ok.public_key
            );
            Ok(())
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            std::process::exit(1);
        }
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
            runtime()?.block_on(run_node(config))
        }
        Command::Demo(args) => {
            init_tracing(cli.log_json, "warn");
            runtime()?.block_on(run_demo(args))
        }
        Command::Sim(args) => {
            init_tracing(cli.log_json, "warn");
            run_sim(args)
        }
        Command::Migrate { config } => {
            init_tracing(cli.log_json, "info");
            let config = NodeConfig::load(config.as_deref())?;
            config.validate()?;
            runtime()?.block_on(async {
                connect_store(&config).await?;
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
        Command::Verify {
            file,
            manifest,
            public_key,
        } => verify(&file, &manifest, public_key.as_deref()),
        Command::Ctl(args) => {
            init_tracing(cli.log_json, "warn");
            match runtime()?.block_on(run_ctl(args)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(1);
                }
            }
        }
    }
}
