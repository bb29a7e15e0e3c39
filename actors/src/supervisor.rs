//! `NodeSupervisor`: the root actor of a node. Starts a `TenantCameras` per tenant and the node's
//! singletons (retention, notifier, ticket keeper), routes configuration changes to them, and
//! restarts any of them that crashes.

use crate::analytics::outbox::Outbox;
use crate::clock::Clock;
use crate::cluster::local::LocalActors;
use crate::context::NodeContext;
use crate::media::mirror::MirrorSink;
use crate::notify::notifier::{NOTIFIER_ACTOR, NotifierActor};
use crate::notify::ticket_keeper::{KeeperArgs, KeeperMsg, TICKET_KEEPER, TicketKeeper};
use crate::ownership::Ownership;
use crate::recording::analysis::KeyframeAnalysis;
use crate::recording::camera::CameraMsg;
use crate::recording::object_tier::ObjectTier;
use crate::recording::retention::{RETENTION_ACTOR, RetentionActor, RetentionArgs};
use crate::recording::tenant_cameras::{TenantCameras, TenantCamerasArgs, TenantCamerasMsg};
use crate::recording::uploader::{UPLOADER_ACTOR, UploaderActor, UploaderArgs};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use vms_messages::{Camera, CameraId, Tenant, TenantId};

/// Registry name of the node supervisor.
pub const NODE_SUPERVISOR: &str = "node-supervisor";
const RESTART_DELAY: Duration = Duration::from_millis(500);

/// Arguments of [`NodeSupervisor`]: the node context and the collaborators it hands down.
#[derive(Clone)]
pub struct NodeArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The cameras this node records (every camera without placement).
    pub ownership: Arc<Ownership>,
    /// The node's analytics, when it runs any.
    pub analysis: Option<Arc<dyn KeyframeAnalysis>>,
    /// The event outbox (ticket escalations are queued there).
    pub outbox: Arc<Outbox>,
    /// Where the actors read time.
    pub clock: Arc<dyn Clock>,
    /// What carries each camera's durable writes to its standby (with placement).
    pub mirror: Option<Arc<dyn MirrorSink>>,
    /// The object store segments move to (`[storage]`), when one is set.
    pub tier: Option<Arc<ObjectTier>>,
    /// Where the node's cameras publish their live video.
    pub live: Arc<crate::media::live::LiveHub>,
}

/// Messages of [`NodeSupervisor`].
pub enum NodeMsg {
    /// A tenant was created or changed.
    TenantUpserted(Tenant),
    /// A tenant was deleted.
    TenantRemoved(TenantId),
    /// A camera was created or changed.
    CameraUpserted(Camera),
    /// A camera was deleted.
    CameraRemoved {
        /// Camera.
        camera: CameraId,
        /// Its tenant.
        tenant: TenantId,
    },
    /// (Re)start a tenant's cameras actor, loading the tenant from the store.
    StartTenant(TenantId),
    /// (Re)start one of the node's singleton actors.
    StartSingleton(Singleton),
    /// A camera is recorded by another node now: stop it here (its files stay).
    CameraReleased(CameraId),
    /// Bring every tenant, camera and rule in line with PostgreSQL (periodically, and after NATS
    /// reconnects: the change hints sent meanwhile may be lost).
    Reconcile,
    /// A message for a camera's actor, through its tenant's; dropped (with any reply port in it)
    /// when the camera does not run here.
    ToCamera {
        /// Camera.
        camera: CameraId,
        /// Its tenant.
        tenant: TenantId,
        /// The message.
        msg: CameraMsg,
    },
    /// A camera's analytics rules changed: its actor, if it runs here, re-reads them.
    RulesChanged(CameraId),
    /// The tenant keeps more footage than its quota: retention sweeps now.
    OverQuota(TenantId),
}

/// The actors a node runs once, beside its tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Singleton {
    /// [`RetentionActor`].
    Retention,
    /// [`NotifierActor`] (when `notifications.enabled`).
    Notifier,
    /// [`TicketKeeper`] and its ticket actors (when `notifications.enabled`).
    Tickets,
    /// [`UploaderActor`] (when an object store is set).
    Uploader,
}

impl Singleton {
    /// The singletons a node with `node`'s arguments runs.
    fn wanted(node: &NodeArgs) -> Vec<Self> {
        let mut all = vec![Self::Retention];
        if node.ctx.config.notifications.enabled {
            all.extend([Self::Notifier, Self::Tickets]);
        }
        if node.tier.is_some() {
            all.push(Self::Uploader);
        }
        all
    }

    async fn spawn(
        self,
        node: &NodeArgs,
        disk_full: &Arc<Notify>,
        supervisor: ActorCell,
    ) -> Result<ActorCell, ractor::SpawnErr> {
        let ctx = Arc::clone(&node.ctx);
        let cell = match self {
            Self::Retention => Actor::spawn_linked(
                Some(RETENTION_ACTOR.into()),
                RetentionActor,
                RetentionArgs {
                    ctx,
                    ownership: Arc::clone(&node.ownership),
                    disk_full: Arc::clone(disk_full),
                    clock: Arc::clone(&node.clock),
                    tier: node.tier.clone(),
                },
                supervisor,
            )
            .await?
            .0
            .get_cell(),
            Self::Uploader => {
                let Some(tier) = node.tier.clone() else {
                    return Err(ractor::SpawnErr::StartupFailed(
                        "no object store is set".into(),
                    ));
                };
                Actor::spawn_linked(
                    Some(UPLOADER_ACTOR.into()),
                    UploaderActor,
                    UploaderArgs { ctx, tier },
                    supervisor,
                )
                .await?
                .0
                .get_cell()
            }
            Self::Notifier => {
                Actor::spawn_linked(Some(NOTIFIER_ACTOR.into()), NotifierActor, ctx, supervisor)
                    .await?
                    .0
                    .get_cell()
            }
            Self::Tickets => Actor::spawn_linked(
                Some(TICKET_KEEPER.into()),
                TicketKeeper,
                KeeperArgs {
                    ctx,
                    outbox: Arc::clone(&node.outbox),
                    ownership: Arc::clone(&node.ownership),
                    clock: Arc::clone(&node.clock),
                },
                supervisor,
            )
            .await?
            .0
            .get_cell(),
        };
        Ok(cell)
    }
}

impl ractor::Message for NodeMsg {}

/// The cluster layer drives this node's actors through the supervisor.
impl LocalActors for ActorRef<NodeMsg> {
    fn upsert_tenant(&self, tenant: Tenant) {
        let _ = self.cast(NodeMsg::TenantUpserted(tenant));
    }

    fn remove_tenant(&self, tenant: TenantId) {
        let _ = self.cast(NodeMsg::TenantRemoved(tenant));
    }

    fn upsert_camera(&self, camera: Camera) {
        let _ = self.cast(NodeMsg::CameraUpserted(camera));
    }

    fn remove_camera(&self, camera: CameraId, tenant: TenantId) {
        let _ = self.cast(NodeMsg::CameraRemoved { camera, tenant });
    }

    fn release(&self, camera: CameraId) {
        let _ = self.cast(NodeMsg::CameraReleased(camera));
    }

    fn rules_changed(&self, camera: CameraId) {
        let _ = self.cast(NodeMsg::RulesChanged(camera));
    }

    fn storage_over_quota(&self, tenant: TenantId) {
        let _ = self.cast(NodeMsg::OverQuota(tenant));
    }
}

/// State of [`NodeSupervisor`].
pub struct NodeState {
    ctx: Arc<NodeContext>,
    /// What the supervisor hands to the actors it starts.
    args: NodeArgs,
    tenants: HashMap<TenantId, ActorRef<TenantCamerasMsg>>,
    by_actor: HashMap<ActorId, TenantId>,
    singletons: HashMap<Singleton, ActorCell>,
    /// Cameras tell it when the disk is full; retention listens.
    disk_full: Arc<Notify>,
}

/// Root of a node's actors; see the module docs.
pub struct NodeSupervisor;

impl NodeState {
    async fn start_tenant(&mut self, myself: &ActorRef<NodeMsg>, tenant: Tenant) {
        let id = tenant.id;
        if self.tenants.contains_key(&id) {
            return;
        }
        let args = TenantCamerasArgs {
            tenant,
            ctx: Arc::clone(&self.ctx),
            ownership: Arc::clone(&self.args.ownership),
            analysis: self.args.analysis.clone(),
            clock: Arc::clone(&self.args.clock),
            disk_full: Arc::clone(&self.disk_full),
            mirror: self.args.mirror.clone(),
            live: Arc::clone(&self.args.live),
        };
        match Actor::spawn_linked(
            Some(format!("tenant-cameras:{id}")),
            TenantCameras,
            args,
            myself.get_cell(),
        )
        .await
        {
            Ok((actor, _)) => {
                self.by_actor.insert(actor.get_id(), id);
                self.tenants.insert(id, actor);
            }
            Err(e) => {
                tracing::warn!(tenant_id = %id, error = %e, "tenant cameras actor did not start; retrying");
                myself.send_after(RESTART_DELAY * 4, move || NodeMsg::StartTenant(id));
            }
        }
    }

    /// Brings the tenant cameras actors in line with PostgreSQL: starts the missing, updates the rest (each
    /// then reconciles its cameras and rules), stops those whose tenant is gone.
    async fn reconcile(&mut self, myself: &ActorRef<NodeMsg>) {
        let tenants = match self.ctx.store.all_tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "cannot reconcile with the database yet");
                return;
            }
        };
        let known: std::collections::HashSet<TenantId> = tenants.iter().map(|t| t.id).collect();
        let gone: Vec<TenantId> = self
            .tenants
            .keys()
            .filter(|id| !known.contains(id))
            .copied()
            .collect();
        for id in gone {
            tracing::info!(tenant_id = %id, "tenant deleted (reconciled); stopping it here");
            if let Some(actor) = self.tenants.remove(&id) {
                self.by_actor.remove(&actor.get_id());
                let _ = actor
                    .stop_and_wait(None, Some(Duration::from_secs(20)))
                    .await;
            }
        }
        for tenant in tenants {
            match self.tenants.get(&tenant.id) {
                Some(actor) => {
                    let _ = actor.cast(TenantCamerasMsg::Updated(tenant));
                    let _ = actor.cast(TenantCamerasMsg::Reconcile);
                }
                None => self.start_tenant(myself, tenant).await,
            }
        }
    }

    async fn load_and_start_tenant(&mut self, myself: &ActorRef<NodeMsg>, id: TenantId) {
        match self
            .ctx
            .store
            .tenant(vms_messages::TenantScope::All, id)
            .await
        {
            Ok(tenant) => self.start_tenant(myself, tenant).await,
            Err(vms_store::StoreError::NotFound(_)) => {}
            Err(e) => {
                tracing::warn!(tenant_id = %id, error = %e, "cannot load tenant; retrying");
                myself.send_after(RESTART_DELAY * 4, move || NodeMsg::StartTenant(id));
            }
        }
    }
}

impl Actor for NodeSupervisor {
    type Msg = NodeMsg;
    type State = NodeState;
    type Arguments = NodeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(NodeState {
            ctx: Arc::clone(&args.ctx),
            args,
            tenants: HashMap::new(),
            by_actor: HashMap::new(),
            singletons: HashMap::new(),
            disk_full: Arc::default(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let tenants = state.ctx.store.all_tenants().await?;
        for tenant in tenants {
            state.start_tenant(&myself, tenant).await;
        }
        for singleton in Singleton::wanted(&state.args) {
            let _ = myself.cast(NodeMsg::StartSingleton(singleton));
        }
        let every = Duration::from_secs(u64::from(state.ctx.config.cluster.reconcile_seconds));
        myself.send_interval(every, || NodeMsg::Reconcile);
        tracing::info!(node_id = %state.ctx.node_id(), tenants = state.tenants.len(), "node supervisor started");
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.by_actor.clear();
        for (_, cell) in state.singletons.drain() {
            cell.stop(None);
        }
        let stops: Vec<_> = state
            .tenants
            .drain()
            .map(|(_, a)| {
                tokio::spawn(
                    async move { a.stop_and_wait(None, Some(Duration::from_secs(20))).await },
                )
            })
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeMsg::TenantUpserted(tenant) => {
                // Its acknowledgement limit may have changed: the ticket actors read it again.
                if let Some(keeper) = state.singletons.get(&Singleton::Tickets) {
                    let _ =
                        ActorRef::<KeeperMsg>::from(keeper.clone()).cast(KeeperMsg::LicenceChanged);
                }
                match state.tenants.get(&tenant.id) {
                    Some(actor) => {
                        let _ = actor.cast(TenantCamerasMsg::Updated(tenant));
                    }
                    None => state.start_tenant(&myself, tenant).await,
                }
            }
            NodeMsg::TenantRemoved(id) => {
                if let Some(actor) = state.tenants.remove(&id) {
                    state.by_actor.remove(&actor.get_id());
                    let _ = actor
                        .stop_and_wait(None, Some(Duration::from_secs(20)))
                        .await;
                }
            }
            NodeMsg::CameraUpserted(camera) => {
                if !state.tenants.contains_key(&camera.tenant_id) {
                    // The tenant cameras actor loads its cameras, this one included.
                    state.load_and_start_tenant(&myself, camera.tenant_id).await;
                } else if let Some(actor) = state.tenants.get(&camera.tenant_id) {
                    let _ = actor.cast(TenantCamerasMsg::CameraUpserted(camera));
                }
            }
            NodeMsg::CameraRemoved { camera, tenant } => {
                if let Some(actor) = state.tenants.get(&tenant) {
                    let _ = actor.cast(TenantCamerasMsg::CameraRemoved(camera));
                }
            }
            NodeMsg::StartTenant(id) => state.load_and_start_tenant(&myself, id).await,
            NodeMsg::Reconcile => state.reconcile(&myself).await,
            NodeMsg::CameraReleased(camera) => {
                for actor in state.tenants.values() {
                    let _ = actor.cast(TenantCamerasMsg::Release(camera));
                }
            }
            NodeMsg::ToCamera {
                camera,
                tenant,
                msg,
            } => {
                if let Some(actor) = state.tenants.get(&tenant) {
                    let _ = actor.cast(TenantCamerasMsg::ToCamera(camera, msg));
                }
            }
            NodeMsg::RulesChanged(camera) => {
                for actor in state.tenants.values() {
                    let _ = actor.cast(TenantCamerasMsg::ToCamera(camera, CameraMsg::RulesChanged));
                }
            }
            NodeMsg::OverQuota(tenant) => {
                tracing::info!(tenant_id = %tenant, "tenant over its storage quota; retention sweeps now");
                // The retention actor sweeps at once on this notice (a full disk gives the same).
                state.disk_full.notify_one();
            }
            NodeMsg::StartSingleton(which) => {
                match which
                    .spawn(&state.args, &state.disk_full, myself.get_cell())
                    .await
                {
                    Ok(cell) => {
                        state.singletons.insert(which, cell);
                    }
                    Err(e) => {
                        tracing::warn!(actor = ?which, error = %e, "actor did not start; retrying");
                        myself
                            .send_after(RESTART_DELAY * 4, move || NodeMsg::StartSingleton(which));
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let cell = match &evt {
            SupervisionEvent::ActorFailed(cell, err) => {
                tracing::error!(actor = ?cell.get_name(), error = %err, "child actor failed; restarting it");
                cell
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => cell,
            _ => return Ok(()),
        };
        let singleton = state
            .singletons
            .iter()
            .find(|(_, c)| c.get_id() == cell.get_id())
            .map(|(s, _)| *s);
        if let Some(which) = singleton {
            state.singletons.remove(&which);
            myself.send_after(RESTART_DELAY, move || NodeMsg::StartSingleton(which));
        } else if let Some(id) = state.by_actor.remove(&cell.get_id()) {
            state.tenants.remove(&id);
            myself.send_after(RESTART_DELAY, move || NodeMsg::StartTenant(id));
        }
        Ok(())
    }
}
