//! [`ReplicaKeeper`]: starts and stops this node's model worker replicas as the replica plan says
//! (`cluster::replica_plan`, on this node's view of the membership and the drained nodes), supervises
//! them (one that fails is started again at the next round), and reports them with their load in
//! this node's heartbeat, which is how every other node's router learns where replicas run. A node
//! without the `inference` role runs none, and loads no session at all.

use crate::analytics::Analytics;
use crate::children::{ChildEnd, forget_ended};
use crate::cluster::membership::Membership;
use crate::cluster::replica::{LocalReplicas, ModelReplica, ReplicaArgs, ReplicaMsg, replica_name};
use crate::cluster::replica_plan::{INFERENCE_ROLE, InferenceNode, replica_nodes};
use crate::context::NodeContext;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::NodeState;

/// Registered name of the keeper.
pub const REPLICA_KEEPER: &str = "replica-keeper";
/// Time between rounds.
const ROUND: Duration = Duration::from_millis(500);
/// How long a replica that did not start waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How often the drained nodes are read from PostgreSQL (every few rounds, not every one).
const DRAINED_EVERY: Duration = Duration::from_secs(2);

/// Places this node's replicas.
pub struct ReplicaKeeper;

/// What the keeper works with.
pub struct ReplicaKeeperArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// This node's view of the cluster.
    pub membership: Arc<Membership>,
    /// The node's models.
    pub analytics: Arc<Analytics>,
    /// Where the router finds this node's replicas.
    pub local: Arc<LocalReplicas>,
}

/// Messages of the keeper.
pub enum ReplicaKeeperMsg {
    /// Compare the replicas running here with the plan.
    Round,
}

impl ractor::Message for ReplicaKeeperMsg {}

/// The keeper's state.
pub struct ReplicaKeeperState {
    args: ReplicaKeeperArgs,
    running: HashMap<String, ActorRef<ReplicaMsg>>,
    drained: HashSet<String>,
    /// When the drained nodes were last read.
    drained_read: Option<Instant>,
    /// Replicas that did not start, and when.
    failed: HashMap<String, Instant>,
}

impl ReplicaKeeperState {
    /// The inference nodes up, undrained: this node (its own config) and the others (membership).
    fn inference_nodes(&self) -> Vec<InferenceNode> {
        let c = &self.args.ctx.config;
        let me = c.node_id.as_str();
        let mut nodes: Vec<InferenceNode> = self
            .args
            .membership
            .nodes()
            .into_iter()
            .filter(|n| {
                n.id != me
                    && n.state == NodeState::Up
                    && n.roles.iter().any(|r| r == INFERENCE_ROLE)
            })
            .map(|n| InferenceNode {
                id: n.id,
                labels: n.labels,
            })
            .collect();
        if c.cluster.roles.iter().any(|r| r == INFERENCE_ROLE) {
            nodes.push(InferenceNode {
                id: me.to_string(),
                labels: c.cluster.labels.clone(),
            });
        }
        nodes.retain(|n| !self.drained.contains(&n.id));
        nodes
    }

    /// The models whose replicas the plan puts on this node.
    fn wanted(&self) -> HashSet<String> {
        let nodes = self.inference_nodes();
        let c = &self.args.ctx.config;
        self.args
            .analytics
            .pooled_models()
            .filter(|model| {
                let count = c.analytics.replicas.get(*model).copied().unwrap_or(0);
                let needs = c.analytics.labels_for(model);
                replica_nodes(model, count, &needs, &nodes)
                    .iter()
                    .any(|n| n == &c.node_id)
            })
            .map(str::to_string)
            .collect()
    }

    async fn round(&mut self, myself: &ActorRef<ReplicaKeeperMsg>) {
        if self
            .drained_read
            .is_none_or(|at| at.elapsed() >= DRAINED_EVERY)
        {
            match self.args.ctx.store.drained_nodes().await {
                Ok(d) => {
                    self.drained = d;
                    self.drained_read = Some(Instant::now());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cannot read drained nodes; keeping the last list")
                }
            }
        }
        let wanted = self.wanted();
        let extra: Vec<String> = self
            .running
            .keys()
            .filter(|m| !wanted.contains(*m))
            .cloned()
            .collect();
        for model in extra {
            if let Some(actor) = self.running.remove(&model) {
                tracing::info!(model = %model, "the replica plan moved this model's replica; stopping it here");
                actor.stop(Some("placed elsewhere".into()));
            }
        }
        for model in wanted {
            if self.running.contains_key(&model)
                || self
                    .failed
                    .get(&model)
                    .is_some_and(|at| at.elapsed() < RETRY_AFTER)
            {
                continue;
            }
            let args = ReplicaArgs {
                ctx: Arc::clone(&self.args.ctx),
                analytics: Arc::clone(&self.args.analytics),
                local: Arc::clone(&self.args.local),
                model: model.clone(),
            };
            match Actor::spawn_linked(
                Some(replica_name(&model)),
                ModelReplica,
                args,
                myself.get_cell(),
            )
            .await
            {
                Ok((actor, _)) => {
                    self.failed.remove(&model);
                    self.running.insert(model, actor);
                }
                Err(e) => {
                    tracing::warn!(model = %model, error = %e, retry_in_s = RETRY_AFTER.as_secs(), "model replica did not start; frames for it go to other nodes' replicas");
                    self.failed.insert(model, Instant::now());
                }
            }
        }
        self.args.membership.set_replicas(self.args.local.loads());
    }
}

impl Actor for ReplicaKeeper {
    type Msg = ReplicaKeeperMsg;
    type State = ReplicaKeeperState;
    type Arguments = ReplicaKeeperArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = ReplicaKeeperState {
            args,
            running: HashMap::new(),
            drained: HashSet::new(),
            drained_read: None,
            failed: HashMap::new(),
        };
        // The first round runs before the node's cameras start, so their first frames find the
        // replicas this node runs.
        state.round(&myself).await;
        myself.send_interval(ROUND, || ReplicaKeeperMsg::Round);
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReplicaKeeperMsg::Round => state.round(&myself).await,
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
            tracing::warn!(error = %e, "a model replica failed; it starts again next round");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for actor in state.running.values() {
            actor.stop(None);
        }
        state.args.membership.set_replicas(Vec::new());
        Ok(())
    }
}
