//! `vms demo`: one node with embedded defaults and simulated cameras. Prints where to look and a line
//! per recorded segment; Ctrl-C stops everything cleanly.

use crate::node;
use crate::process::{SimOptions, SimProcess};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use vms_api::Authenticator;
use vms_config::NodeConfig;
use vms_messages::NewUser;
use vms_messages::{
    CameraCreate, CameraUpdate, Role, SegmentReady, Tenant, TenantCreate, TenantScope,
};
use vms_store::Store;

/// E-mail of the demo tenant's admin.
const DEMO_ADMIN: &str = "demo-admin@vms.local";

/// The demo tenant admin's sign-in for this run: a fresh random password (the last run's stops
/// working) and a fresh API key valid one day; the user is created if needed.
async fn demo_sign_in(store: &Store, tenant: &Tenant) -> anyhow::Result<(String, String)> {
    let password = crate::bootstrap::random_password();
    let hash = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || vms_api::hash_password_blocking(&password))
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?
    };
    let user = match store.user_credentials(DEMO_ADMIN).await? {
        Some((user, _)) => {
            let change = vms_messages::UserChange {
                password_hash: Some(hash),
                ..Default::default()
            };
            store
                .update_user(TenantScope::All, user.id, &change)
                .await?
        }
        None => {
            let user = NewUser {
                email: DEMO_ADMIN.into(),
                password_hash: hash,
                role: Role::TenantAdmin,
                tenant_id: Some(tenant.id),
            };
            store.create_user(TenantScope::All, &user).await?
        }
    };
    let expires = chrono::Utc::now() + chrono::Duration::days(1);
    let (secret, key) =
        Authenticator::new_api_key(user.id, "demo".into(), Role::TenantAdmin, Some(expires));
    store.create_api_key(&key).await?;
    Ok((password, secret))
}

/// Options of `vms demo`.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoArgs {
    /// Simulated cameras to record.
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// RTSP port of the simulator.
    #[arg(long, default_value_t = 8554)]
    pub sim_port: u16,
    /// API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Data folder.
    #[arg(long, default_value = ".vms-data")]
    pub data_dir: PathBuf,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// Where `scripts/setup.sh` keeps its Garage instance (`VMS_GARAGE_DIR` overrides).
fn garage_dir() -> PathBuf {
    std::env::var_os("VMS_GARAGE_DIR")
        .map_or_else(|| PathBuf::from("/var/lib/vms-garage"), PathBuf::from)
}

/// Tiers the demo's segments to the Garage instance `scripts/setup.sh` started, when it did: a
/// minute after they end, so the tier shows within the demo.
fn use_local_garage(config: &mut NodeConfig) {
    let dir = garage_dir();
    let Ok(key_id) = std::fs::read_to_string(dir.join("access_key_id")) else {
        return;
    };
    let storage = &mut config.storage;
    storage.s3_endpoint = "http://127.0.0.1:3900".into();
    storage.s3_access_key_id = key_id.trim().to_string();
    storage.s3_secret_access_key_file = Some(dir.join("secret_access_key"));
    storage.tier_after_seconds = 60;
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut config = NodeConfig {
        node_id: "demo".into(),
        data_dir: args.data_dir.clone(),
        ..NodeConfig::default()
    };
    config.api.listen = args.listen.clone();
    use_local_garage(&mut config);
    let config = config.with_environment()?;
    config.validate()?;

    println!(
        "vms demo: starting {} simulated cameras on rtsp://127.0.0.1:{}/cam0 …",
        args.cameras, args.sim_port
    );
    let sim = SimProcess::start(&SimOptions {
        cameras: args.cameras,
        port: args.sim_port,
        resolution: "720p".into(),
        scene: "person".into(),
        aligned: false,
        codec: "h264".into(),
        audio: None,
        tls_cert: None,
        extra_args: Vec::new(),
        cpus: None,
    })
    .await?;
    let node = node::start(config.clone()).await?;
    let ctx = node.ctx.clone();

    let tenant = match ctx
        .store
        .all_tenants()
        .await?
        .into_iter()
        .find(|t| t.name == "demo")
    {
        Some(t) if t.allowed_detectors.iter().any(|d| d == "person") => t,
        Some(t) => {
            let req = vms_messages::TenantUpdate {
                allowed_detectors: Some(vec!["person".into()]),
                ..Default::default()
            };
            vms_api::TenantService::update_tenant(&node.backend, t.id, req)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
        None => {
            let req = TenantCreate {
                name: "demo".into(),
                max_cameras: Some(64),
                retention_days: Some(1),
                allowed_detectors: vec!["person".into()],
                ..TenantCreate::default()
            };
            vms_api::TenantService::create_tenant(&node.backend, req)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    let existing = ctx.store.tenant_cameras(tenant.id).await?;
    let mut names = HashMap::new();
    for i in 0..args.cameras {
        let name = format!("cam{i}");
        let url = sim.url(i);
        let camera = match existing.iter().find(|c| c.name == name) {
            Some(c) => {
                let req = CameraUpdate {
                    url: Some(url),
                    enabled: Some(true),
                    ..CameraUpdate::default()
                };
                vms_api::CameraService::update_camera(&node.backend, TenantScope::All, c.id, req)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .camera
            }
            None => {
                let req = CameraCreate {
                    tenant_id: Some(tenant.id),
                    name: name.clone(),
                    url,
                    username: None,
                    password: None,
                    enabled: true,
                    retention_days: None,
                    labels: Default::default(),
                    sample_fps: None,
                    transport: Default::default(),
                };
                vms_api::CameraService::create_camera(
                    &node.backend,
                    TenantScope::All,
                    tenant.id,
                    req,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .camera
            }
        };
        let rules = ctx.store.camera_rules(TenantScope::All, camera.id).await?;
        if node.analytics && rules.is_empty() {
            let rule = vms_messages::RuleCreate {
                name: "floor".into(),
                detector: "person".into(),
                classes: vec!["person".into()],
                min_score: Some(0.6),
                zone: Some(vec![[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]),
                cooldown_seconds: Some(30),
                enabled: Some(true),
                ..vms_messages::RuleCreate::default()
            };
            vms_api::RuleService::create_rule(&node.backend, TenantScope::All, camera.id, rule)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        names.insert(camera.id, name);
    }

    let (password, key) = demo_sign_in(&ctx.store, &tenant).await?;
    let api = format!("http://{}", args.listen);
    println!();
    // Standard output, not the log: shown to whoever started the demo, new each run.
    println!("  console      {api}/   sign in as {DEMO_ADMIN} with {password}");
    println!("  API key      {key}");
    println!(
        "               (tenant admin of the demo tenant, valid one day; send it as a bearer token)"
    );
    println!("  try          curl -H 'Authorization: Bearer {key}' {api}/api/v1/cameras");
    println!(
        "  one camera   {api}/api/v1/cameras/<id>   (live status: state, fps, bitrate, last frame)"
    );
    println!("  segments     {api}/api/v1/cameras/<id>/segments");
    println!(
        "  events       {api}/api/v1/events   (a person walks through every 10 s; rule: {api}/api/v1/cameras/<id>/rules)"
    );
    println!("  OpenAPI      {api}/api/v1/openapi.json");
    println!("  metrics      {api}/metrics   (platform admins)");
    println!("  recordings   {}", config.segments_dir().display());
    if !config.storage.s3_endpoint.is_empty() {
        println!(
            "  object tier  {}/{} (segments move there {} s after they end; {api}/api/v1/cameras/<id>/storage)",
            config.storage.s3_endpoint, config.storage.s3_bucket, config.storage.tier_after_seconds
        );
    }
    println!();
    println!(
        "first segments appear after about {} s; Ctrl-C stops",
        config.recording.segment_seconds
    );

    let mut segments = ctx
        .nats
        .subscribe(vms_messages::subjects::tenant_segments(tenant.id))
        .await?;
    let mut events = ctx
        .nats
        .subscribe(vms_messages::subjects::tenant_events(tenant.id))
        .await?;
    if !node.analytics {
        println!("(analytics are off: the detector model could not be loaded; see the log)");
    }
    let stop = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => node::shutdown_signal().await,
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            msg = segments.next() => {
                let Some(msg) = msg else { break };
                if let Ok(ready) = serde_json::from_slice::<SegmentReady>(&msg.payload) {
                    let s = ready.segment;
                    let name = names.get(&s.camera_id).map_or("?", String::as_str);
                    println!("segment {name} #{:<5} {:>5.2} s {:>8.1} KiB  {api}{}", s.seq, s.duration_ms as f64 / 1000.0, s.bytes as f64 / 1024.0, vms_api::segment_media_url(s.id));
                }
            }
            msg = events.next() => {
                let Some(msg) = msg else { break };
                if let Ok(e) = serde_json::from_slice::<vms_messages::Event>(&msg.payload) {
                    let name = names.get(&e.camera_id).map_or("?", String::as_str);
                    println!("event   {name} {} {} {:.2}  {api}/api/v1/events/{}", e.kind, e.label, e.score, e.id);
                }
            }
        }
    }
    println!("stopping …");
    node.stop().await;
    sim.stop().await;
    println!("stopped");
    Ok(())
}
