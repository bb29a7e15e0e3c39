//! `vms bench events`: frame-to-event latency. A node process watches N simulated cameras where a
//! person walks through every 10 s, one rule per camera (cooldown 1 s, so most sightings raise an
//! event); afterwards the events' capture time (`at`, when the keyframe arrived) is compared with the
//! time PostgreSQL stored them (`created_at`): p50, p99 and max, over every event of the run.

use crate::process::{SimOptions, SimProcess, spawn_bench_node, terminate};
use anyhow::Context;
use std::time::Duration;
use vms_actors::Store;
use vms_actors::store::{create_database, drop_database, with_database};
use vms_messages::{CameraCreate, RuleCreate, TenantCreate, TenantScope};

/// Options of `vms bench events`.
#[derive(Clone, Debug, clap::Args)]
pub struct EventsBenchArgs {
    /// Simulated cameras watched at once.
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Seconds measured (after a warm-up of 10 s).
    #[arg(long, default_value_t = 40)]
    pub seconds: u64,
    /// RTSP port of the simulator.
    #[arg(long, default_value_t = 18564)]
    pub sim_port: u16,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
    /// Detector sessions of the node (`analytics.workers`).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Every camera's keyframes at the same instant (the simulator's worst case) instead of spread
    /// over the keyframe interval as independent cameras are.
    #[arg(long)]
    pub aligned: bool,
}

/// Runs the benchmark.
pub async fn events(args: EventsBenchArgs) -> anyhow::Result<()> {
    let scratch = format!("vms_bench_events_{}", std::process::id());
    let db_url = with_database(&args.postgres, &scratch);
    create_database(&args.postgres, &scratch)
        .await
        .context("cannot create the scratch database")?;
    let dir = std::env::temp_dir().join(format!("vms-bench-events-{}", std::process::id()));
    let result = run(&args, &db_url, &dir).await;
    let _ = drop_database(&args.postgres, &scratch).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(args: &EventsBenchArgs, db_url: &str, dir: &std::path::Path) -> anyhow::Result<()> {
    let sim = SimProcess::start(&SimOptions {
        cameras: args.cameras,
        port: args.sim_port,
        resolution: "720p".into(),
        scene: "person".into(),
        aligned: args.aligned,
    })
    .await?;
    let store = Store::connect(db_url, 4)?;
    store.migrate().await?;
    let tenant = store
        .create_tenant(&TenantCreate {
            name: "bench".into(),
            max_cameras: Some(u32::try_from(args.cameras).unwrap_or(u32::MAX)),
            allowed_detectors: vec!["person".into()],
            ..Default::default()
        })
        .await?;
    for i in 0..args.cameras {
        let camera = store
            .create_camera(
                TenantScope::All,
                tenant.id,
                &CameraCreate {
                    tenant_id: Some(tenant.id),
                    name: format!("cam{i}"),
                    url: sim.url(i),
                    username: None,
                    password: None,
                    enabled: true,
                    retention_days: None,
                    labels: Default::default(),
                    sample_fps: None,
                },
            )
            .await?;
        store
            .create_rule(
                TenantScope::All,
                camera.id,
                &RuleCreate {
                    name: "all".into(),
                    detector: "person".into(),
                    classes: vec![],
                    min_score: Some(0.5),
                    zone: None,
                    cooldown_seconds: Some(1),
                    enabled: Some(true),
                    ..RuleCreate::default()
                },
            )
            .await?;
    }
    let mut node = spawn_bench_node(
        dir,
        db_url,
        &[
            ("VMS_ANALYTICS__WORKERS", args.workers.to_string()),
            ("VMS_ANALYTICS__MODELS", "person".to_string()),
        ],
    )?;
    let pid = node.id().context("node exited")?;
    eprintln!(
        "[bench] {} cameras with a person walking through ({} keyframes), {} s (after 10 s warm-up)",
        args.cameras,
        if args.aligned { "aligned" } else { "spread" },
        args.seconds
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let started = chrono::Utc::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    terminate(pid);
    let _ = tokio::time::timeout(Duration::from_secs(20), node.wait()).await;
    sim.stop().await;
    let (url, _) = (db_url.to_string(), ());
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*)::bigint,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - at)),
                    percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - at)),
                    max(extract(epoch FROM created_at - at))::float8
             FROM events WHERE at >= $1",
            &[&started],
        )
        .await?;
    let n: i64 = row.get(0);
    let ms = |i: usize| {
        row.get::<_, Option<f64>>(i)
            .map_or(f64::NAN, |v| v * 1000.0)
    };
    println!(
        "cameras          {} ({} keyframes, {} workers)",
        args.cameras,
        if args.aligned { "aligned" } else { "spread" },
        args.workers
    );
    println!("events           {n} in {} s", args.seconds);
    println!(
        "latency p50      {:>8.1} ms  (keyframe arrival to row stored)",
        ms(1)
    );
    println!("latency p99      {:>8.1} ms  (target <= 250 ms)", ms(2));
    println!("latency max      {:>8.1} ms", ms(3));
    Ok(())
}
