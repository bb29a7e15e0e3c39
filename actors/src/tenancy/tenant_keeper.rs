//! [`TenantKeeper`]: runs this node's [`TenantActor`]s, one for each tenant whose home this node is
//! (`tenancy::home`, over the nodes its membership view has up and PostgreSQL has undrained), and
//! stops those whose home moved. Two views that differ may both start a tenant's actor for a
//! while; the tenant's lease lets only one of them lead. The tenant list and the drained nodes are
//! read every [`READ_EVERY`]; the plan is evaluated every [`ROUND`]. Each round the keeper also
//! renews the leases of all its actors in one statement and tells each actor what came of its own,
//! so a node's lease writes do not grow with its tenants.

use super::home::tenant_home;
use super::tenant_actor::{
    LEASE_TTL, ROUND, TenantActor, TenantActorArgs, TenantActorMsg, tenant_actor_name,
};
use crate::children::{ChildEnd, forget_ended};
use crate::cluster::local::LocalActors;
use crate::cluster::membership::Membership;
use crate::cluster_auth::ClusterAuth;
use crate::context::NodeContext;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::{NodeState, TenantId};
use vms_store::tenant_lease;

/// Registered name of the keeper.
pub const TENANT_KEEPER: &str = "tenant-keeper";
/// How often the tenants and the drained nodes are read from PostgreSQL.
const READ_EVERY: Duration = Duration::from_secs(5);

/// Places this node's tenant actors.
pub struct TenantKeeper;

/// What the keeper works with.
pub struct TenantKeeperArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// This node's view of the cluster.
    pub membership: Arc<Membership>,
    /// Signs the hints the tenant actors send.
    pub auth: Arc<ClusterAuth>,
    /// This node's actors.
    pub actors: Arc<dyn LocalActors>,
}

/// Messages of the keeper.
pub enum TenantKeeperMsg {
    /// Compare the tenant actors running here with the plan.
    Round,
}

impl ractor::Message for TenantKeeperMsg {}

/// The keeper's state.
pub struct TenantKeeperState {
    args: TenantKeeperArgs,
    running: HashMap<TenantId, ActorRef<TenantActorMsg>>,
    tenants: Vec<TenantId>,
    drained: HashSet<String>,
    read: Option<Instant>,
}

impl TenantKeeperState {
    /// The nodes a tenant may call home: up (this one included) and not drained.
    fn homes(&self) -> Vec<String> {
        let me = self.args.ctx.node_id();
        self.args
            .membership
            .nodes()
            .into_iter()
            .filter(|n| n.id != me && n.state == NodeState::Up)
            .map(|n| n.id)
            .chain(std::iter::once(me.to_string()))
            .filter(|n| !self.drained.contains(n))
            .collect()
    }

    async fn read(&mut self) {
        let store = &self.args.ctx.store;
        match (store.tenant_ids().await, store.drained_nodes().await) {
            (Ok(tenants), Ok(drained)) => {
                self.tenants = tenants;
                self.drained = drained;
                self.read = Some(Instant::now());
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "cannot read the tenants; keeping the last list")
            }
        }
    }

    /// Renews the leases of the actors running here, and tells each what came of its own.
    async fn renew(&self) {
        if self.running.is_empty() {
            return;
        }
        let names: Vec<String> = self.running.keys().map(|t| tenant_lease(*t)).collect();
        let asked = Instant::now();
        let store = &self.args.ctx.store;
        let renewed: HashMap<String, i64> = match store
            .renew_leases(&names, self.args.ctx.node_id(), LEASE_TTL)
            .await
        {
            Ok(r) => r.into_iter().collect(),
            Err(e) => {
                // Unrenewed, each actor stops leading once its lease has run out.
                tracing::debug!(error = %e, "cannot renew the tenant leases");
                return;
            }
        };
        // `names` follows `running`'s order: the map is unchanged since.
        for (actor, name) in self.running.values().zip(&names) {
            let epoch = renewed.get(name).copied();
            let _ = actor.cast(TenantActorMsg::Renewal { epoch, asked });
        }
    }

    async fn round(&mut self, myself: &ActorRef<TenantKeeperMsg>) {
        if self.read.is_none_or(|at| at.elapsed() >= READ_EVERY) {
            self.read().await;
        }
        self.renew().await;
        let homes = self.homes();
        let me = self.args.ctx.node_id().to_string();
        let wanted: HashSet<TenantId> = self
            .tenants
            .iter()
            .copied()
            .filter(|t| tenant_home(*t, &homes) == Some(&me))
            .collect();
        let extra: Vec<TenantId> = self
            .running
            .keys()
            .filter(|t| !wanted.contains(t))
            .copied()
            .collect();
        for tenant in extra {
            if let Some(actor) = self.running.remove(&tenant) {
                tracing::info!(tenant_id = %tenant, "the tenant's home moved (or it was deleted); stopping its actor here");
                actor.stop(Some("placed elsewhere".into()));
            }
        }
        for tenant in wanted {
            if self.running.contains_key(&tenant) {
                continue;
            }
            let args = TenantActorArgs {
                ctx: Arc::clone(&self.args.ctx),
                membership: Arc::clone(&self.args.membership),
                auth: Arc::clone(&self.args.auth),
                actors: Arc::clone(&self.args.actors),
                tenant,
            };
            match Actor::spawn_linked(
                Some(tenant_actor_name(tenant)),
                TenantActor,
                args,
                myself.get_cell(),
            )
            .await
            {
                Ok((actor, _)) => {
                    self.running.insert(tenant, actor);
                }
                // Its previous actor may still be stopping: the next round tries again.
                Err(e) => {
                    tracing::debug!(tenant_id = %tenant, error = %e, "tenant actor did not start; next round")
                }
            }
        }
    }
}

impl Actor for TenantKeeper {
    type Msg = TenantKeeperMsg;
    type State = TenantKeeperState;
    type Arguments = TenantKeeperArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(ROUND, || TenantKeeperMsg::Round);
        Ok(TenantKeeperState {
            args,
            running: HashMap::new(),
            tenants: Vec::new(),
            drained: HashSet::new(),
            read: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TenantKeeperMsg::Round => state.round(&myself).await,
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let ChildEnd::Failed(e) = forget_ended(&mut state.running, &event) {
            tracing::warn!(error = %e, "a tenant actor failed; it starts again next round");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for actor in state.running.values() {
            let _ = actor
                .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(2)))
                .await;
        }
        Ok(())
    }
}
