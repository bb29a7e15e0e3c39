//! `vms node`: wires configuration, PostgreSQL, NATS, the actor tree and the HTTP API into one node.

use crate::backend::{BackendArgs, NodeBackend};
use anyhow::Context;
use ractor::{Actor, ActorRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_actors::ClusterAuth;
use vms_actors::NodeContext;
use vms_actors::Ownership;
use vms_actors::{NODE_SUPERVISOR, NodeArgs, NodeMsg, NodeSupervisor};
use vms_config::NodeConfig;
use vms_store::Store;

/// How long a starting node waits for PostgreSQL before giving up.
const DB_WAIT: Duration = Duration::from_secs(60);

/// A running node.
pub struct RunningNode {
    /// Shared context.
    pub ctx: Arc<NodeContext>,
    /// Root actor.
    pub supervisor: ActorRef<NodeMsg>,
    /// API backend (also usable in-process, e.g. by the demo).
    pub backend: NodeBackend,
    /// Whether detection runs (analytics enabled and a model loaded).
    pub analytics: bool,
    api: actix_web::dev::ServerHandle,
    api_task: tokio::task::JoinHandle<std::io::Result<()>>,
    membership: Arc<vms_actors::Membership>,
    placement: Option<tokio::task::JoinHandle<()>>,
    changes: tokio::task::JoinHandle<()>,
    /// The sweep of deleted exports' files.
    export_sweep: tokio::task::JoinHandle<()>,
    /// Adds detector time per tenant to PostgreSQL.
    usage: tokio::task::JoinHandle<()>,
    reconnects: tokio::task::JoinHandle<()>,
    links: Option<vms_actors::Links>,
    /// Takes the footage of the cameras this node stands by for.
    mirror_server: Option<vms_actors::MirrorServer>,
    /// Runs this node's model worker replicas.
    replicas: Option<ActorRef<vms_actors::ReplicaKeeperMsg>>,
    /// Runs the leased actors of the tenants whose home this node is.
    tenants: ActorRef<vms_actors::TenantKeeperMsg>,
}

use vms_messages::validate::redacted_url;
use vms_store::error_chain;

/// NATS connection options with the credentials and TLS settings of `nats`.
pub fn nats_options(nats: &vms_config::NatsConfig) -> anyhow::Result<async_nats::ConnectOptions> {
    use vms_config::NatsAuth;
    let mut options = match nats.auth()? {
        NatsAuth::None => async_nats::ConnectOptions::new(),
        NatsAuth::UserPassword(user, password) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        NatsAuth::Token(token) => async_nats::ConnectOptions::with_token(token),
        NatsAuth::NKey(seed) => async_nats::ConnectOptions::with_nkey(seed),
    };
    if let Some(ca) = &nats.tls_ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if nats.tls_required {
        options = options.require_tls(true);
    }
    // A server that silently stops answering is given up after two unanswered pings (about 4 s)
    // and reconnected to, instead of after the default two minutes; requests give up after 5 s.
    Ok(options
        .ping_interval(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(5))))
}

/// Connects to PostgreSQL (waiting for it with progress output) and applies migrations.
pub async fn connect_store(config: &NodeConfig) -> anyhow::Result<Store> {
    let store = Store::connect_with(
        &config.postgres.url,
        config.postgres.pool_size,
        config.postgres.tls_ca_file.as_deref(),
    )
    .context("invalid postgres.url")?;
    let started = Instant::now();
    loop {
        match store.migrate().await {
            Ok(applied) => {
                if applied > 0 {
                    tracing::info!(applied, "database migrated");
                }
                return Ok(store);
            }
            Err(e) if e.is_unavailable() && started.elapsed() < DB_WAIT => {
                tracing::warn!(error = %error_chain(&e), url = %redacted_url(&config.postgres.url), "waiting for postgresql");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot use postgresql at {}",
                    redacted_url(&config.postgres.url)
                )));
            }
        }
    }
}

/// How often a start step that has not finished says so.
const STEP_WARN_EVERY: Duration = Duration::from_secs(15);

/// Runs one step of starting a node, warning every [`STEP_WARN_EVERY`] while it has not finished,
/// so a start that hangs says where.
async fn step<T>(name: &str, work: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + STEP_WARN_EVERY,
        STEP_WARN_EVERY,
    );
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = tick.tick() => tracing::warn!(
                step = name,
                waited_s = started.elapsed().as_secs(),
                "node start is still waiting on this step"
            ),
        }
    }
}

/// Asks `supervisor` to reconcile with the database each time NATS (re)connects.
async fn reconcile_on_connect(
    mut connected: tokio::sync::mpsc::UnboundedReceiver<()>,
    supervisor: ActorRef<NodeMsg>,
) {
    while connected.recv().await.is_some() {
        tracing::info!("connected to NATS; reconciling with the database");
        let _ = supervisor.cast(NodeMsg::Reconcile);
    }
}

/// Starts a node: store, NATS, actors, API. Returns once the API listens.
pub async fn start(config: NodeConfig) -> anyhow::Result<RunningNode> {
    config.validate()?;
    gstreamer::init().context("cannot initialise gstreamer")?;
    let segments = config.segments_dir();
    std::fs::create_dir_all(&segments)
        .with_context(|| format!("cannot create data folder {}", segments.display()))?;
    let store = step("postgresql", connect_store(&config)).await?;
    step("admin", crate::bootstrap::ensure_admin(&config, &store)).await?;
    step("node row", store.node_started(&config.node_id))
        .await
        .context("cannot record this node as a member")?;
    // Change hints published while this node was disconnected are lost: each (re)connection asks
    // the supervisor, once it runs, to reconcile.
    let (connected_tx, connected) = tokio::sync::mpsc::unbounded_channel();
    let connecting = nats_options(&config.nats)?
        .event_callback(move |event| {
            if matches!(event, async_nats::Event::Connected) {
                let _ = connected_tx.send(());
            }
            async {}
        })
        .retry_on_initial_connect()
        .name(format!("vms-{}", config.node_id))
        .connect(config.nats.url.as_str());
    let nats = step("nats", connecting)
        .await
        .with_context(|| format!("invalid nats.url {}", redacted_url(&config.nats.url)))?;
    // Refuses a node id another running node uses; a crashed run's id is taken over.
    let membership = Arc::new(
        step("cluster join", vms_actors::Membership::join(&nats, &config))
            .await
            .context("cannot join the cluster")?,
    );
    if let Err(e) = step(
        "events stream",
        vms_actors::ensure_stream(&nats, &config.nats),
    )
    .await
    {
        tracing::warn!(error = %e, "cannot create the JetStream events stream; events are stored but not published");
    }
    let outbox = vms_actors::Outbox::open(&config.data_dir.join("outbox")).with_context(|| {
        format!(
            "cannot create the event outbox in {}",
            config.data_dir.display()
        )
    })?;
    let _drainer = outbox.spawn_drainer(store.clone(), Some(nats.clone()));
    let analytics = if config.analytics.enabled {
        let cfg = config.analytics.clone();
        let analytics_outbox = Arc::clone(&outbox);
        let inference = config
            .cluster
            .roles
            .iter()
            .any(|r| r == vms_actors::INFERENCE_ROLE);
        let loading = tokio::task::spawn_blocking(move || {
            vms_actors::Analytics::start(&cfg, analytics_outbox, inference)
        });
        match step("models", loading).await? {
            Ok(a) => Some(Arc::new(a)),
            Err(e) => {
                tracing::warn!(error = %e, "analytics disabled: its model could not be loaded; recording goes on");
                None
            }
        }
    } else {
        None
    };
    let ctx = Arc::new(NodeContext {
        config: config.clone(),
        store,
        nats,
    });
    let ownership = Arc::new(if config.cluster.placement {
        Ownership::placed()
    } else {
        Ownership::unplaced()
    });
    let cluster_auth = Arc::new(ClusterAuth::new(
        config.cluster.resolve_cookie()?.unwrap_or_default(),
        config.node_id.clone(),
    ));
    let analytics_running = analytics.is_some();
    let models: Vec<String> = analytics
        .iter()
        .flat_map(|a| a.models().map(str::to_string).collect::<Vec<_>>())
        .collect();
    // This node's model worker replicas, placed before its cameras start so their first frames
    // find them, and the router that sends each frame to a replica here or on another node.
    let local_replicas = Arc::new(vms_actors::LocalReplicas::default());
    let replicas = match &analytics {
        Some(analytics) => {
            let keeper = vms_actors::ReplicaKeeperArgs {
                ctx: Arc::clone(&ctx),
                membership: Arc::clone(&membership),
                analytics: Arc::clone(analytics),
                local: Arc::clone(&local_replicas),
            };
            let spawning = Actor::spawn(
                Some(vms_actors::REPLICA_KEEPER.into()),
                vms_actors::ReplicaKeeper,
                keeper,
            );
            let (keeper, _) = step("model replicas", spawning)
                .await
                .context("the model replica keeper did not start")?;
            Some(keeper)
        }
        None => None,
    };
    let analysis = analytics.map(|analytics| {
        let router = vms_actors::InferenceRouter::new(
            Arc::clone(&ctx),
            Arc::clone(&membership),
            Arc::clone(&local_replicas),
        );
        Arc::new(vms_actors::Detection {
            ctx: Arc::clone(&ctx),
            analytics,
            inference: Arc::new(router),
        }) as Arc<dyn vms_actors::KeyframeAnalysis>
    });
    let tier = match config.storage.object_store()? {
        Some(settings) => Some(Arc::new(
            vms_actors::ObjectTier::connect(&settings).context("storage.s3_endpoint")?,
        )),
        None => None,
    };
    let live = Arc::new(vms_actors::LiveHub::default());
    // Every node stands by for others' cameras: its mirror server takes their footage.
    let mirroring = ownership.is_placed() && ctx.config.cluster.mirror;
    let mirror_server = match mirroring {
        true => step("mirror server", vms_actors::serve_mirror(&ctx, &membership)).await,
        false => None,
    };
    let node_args = NodeArgs {
        tier: tier.clone(),
        live: Arc::clone(&live),
        ctx: Arc::clone(&ctx),
        ownership: Arc::clone(&ownership),
        analysis,
        outbox,
        clock: vms_actors::system_clock(),
        // With placement every camera has a standby, reached over the mirror streams.
        mirror: mirroring.then(|| {
            Arc::new(vms_actors::StreamMirror::new(
                Arc::clone(&ctx),
                Arc::clone(&membership),
            )) as Arc<dyn vms_actors::MirrorSink>
        }),
    };
    let spawning = Actor::spawn(Some(NODE_SUPERVISOR.into()), NodeSupervisor, node_args);
    let (supervisor, _) = step("actors", spawning)
        .await
        .context("node supervisor did not start")?;
    let reconnects = tokio::spawn(reconcile_on_connect(connected, supervisor.clone()));
    let placement = ownership.is_placed().then(|| {
        vms_actors::spawn_placement(
            Arc::clone(&ctx),
            Arc::clone(&membership),
            Arc::clone(&ownership),
            Arc::new(supervisor.clone()),
        )
    });
    let feed = Some(vms_actors::spawn_event_feed(ctx.nats.clone()));
    // Changes made through other nodes' APIs, and status requests for the cameras running here.
    let changes = vms_actors::spawn_changes(
        Arc::clone(&ctx),
        Arc::clone(&cluster_auth),
        Arc::new(supervisor.clone()),
    );
    // The leased tenant actors of the tenants whose home this node is.
    let keeper = vms_actors::TenantKeeperArgs {
        ctx: Arc::clone(&ctx),
        membership: Arc::clone(&membership),
        auth: Arc::clone(&cluster_auth),
        actors: Arc::new(supervisor.clone()),
    };
    let spawning = Actor::spawn(
        Some(vms_actors::TENANT_KEEPER.into()),
        vms_actors::TenantKeeper,
        keeper,
    );
    let (tenants, _) = step("tenant actors", spawning)
        .await
        .context("the tenant keeper did not start")?;
    // ractor_cluster links to the other nodes (calls for the actors they run).
    let links = step(
        "cluster links",
        vms_actors::Links::start(&ctx, Arc::clone(&membership), Arc::clone(&live)),
    )
    .await;
    // Exports this node was writing when it stopped will not finish: say so.
    match step("exports", ctx.store.fail_unfinished_exports(ctx.node_id())).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            files = n,
            "export files left unfinished by the last run marked failed"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot mark unfinished exports failed"),
    }
    let backend = NodeBackend::new(BackendArgs {
        ctx: Arc::clone(&ctx),
        supervisor: supervisor.clone(),
        runtime: tokio::runtime::Handle::current(),
        feed,
        membership: Some(Arc::clone(&membership)),
        ownership,
        models,
        cluster_auth,
        tier,
        live,
    });
    let export_sweep = tokio::spawn(backend.clone().sweep_export_files());
    // Detector time per tenant, added to PostgreSQL for billing.
    let usage = vms_actors::spawn_usage_reporter(Arc::clone(&ctx));
    let server = vms_api::serve(&config, Arc::new(backend.clone()))
        .with_context(|| format!("cannot listen on {}", config.api.listen))?;
    let api = server.handle();
    let api_task = tokio::spawn(server);
    tracing::info!(node_id = %config.node_id, api = %config.api.listen, data_dir = %config.data_dir.display(), "node started");
    Ok(RunningNode {
        ctx,
        supervisor,
        backend,
        analytics: analytics_running,
        api,
        api_task,
        membership,
        placement,
        changes,
        reconnects,
        export_sweep,
        usage,
        links,
        mirror_server,
        replicas,
        tenants,
    })
}

impl RunningNode {
    /// Stops the API, then every actor (finalising open segments), then waits for them.
    pub async fn stop(self) {
        tracing::info!("stopping node");
        for task in self.placement.iter().chain([
            &self.changes,
            &self.reconnects,
            &self.export_sweep,
            &self.usage,
        ]) {
            task.abort();
        }
        drop(self.links);
        drop(self.mirror_server);
        // Its tenant actors give their leases up, so the tenants' next homes lead at once.
        let _ = self
            .tenants
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
            .await;
        self.membership.leave().await;
        self.api.stop(true).await;
        let _ = self.api_task.await;
        if let Err(e) = self
            .supervisor
            .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(30)))
            .await
        {
            tracing::warn!(error = %e, "actors did not stop in time");
        }
        if let Some(keeper) = &self.replicas {
            let _ = keeper
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
                .await;
        }
        let _ = self.ctx.nats.flush().await;
        tracing::info!("node stopped");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs a node until Ctrl-C or SIGTERM.
pub async fn run(config: NodeConfig) -> anyhow::Result<()> {
    let node = start(config).await?;
    shutdown_signal().await;
    node.stop().await;
    Ok(())
}
