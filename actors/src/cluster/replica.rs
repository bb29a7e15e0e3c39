//! [`ModelReplica`]: one worker replica of one model on this node, a ractor actor that owns the
//! model's [`ModelWorker`] (its ONNX Runtime sessions and fair queues). It joins the process groups
//! `vms.model.<model>` (every replica of the model) and `vms.model.<model>.<node>` (this one), so
//! a camera on another node reaches it over their ractor_cluster link; where no link exists it
//! answers on NATS (`subjects::model_frames`), with each frame and answer sealed under the cluster
//! cookie. Frames from this node's own cameras skip both: the router hands them to the worker
//! through [`LocalReplicas`].

use crate::analytics::Analytics;
use crate::cluster::frame_wire::{self, FrameAnswer, Outcome};
use crate::context::NodeContext;
use futures_util::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use vms_messages::{ReplicaLoad, TenantId, subjects};
use vms_models::{ModelWorker, OwnedFrame, Priority, Submission};

/// The process group of every replica of `model`.
pub fn model_group(model: &str) -> String {
    format!("vms.model.{model}")
}

/// The process group of `model`'s replica on `node`.
pub fn replica_group(model: &str, node: &str) -> String {
    format!("vms.model.{model}.{node}")
}

/// The registered name of this node's replica of `model`.
pub fn replica_name(model: &str) -> String {
    format!("model-replica:{model}")
}

/// Calls a replica answers.
#[derive(RactorClusterMessage)]
pub enum ReplicaMsg {
    /// A frame to run (`frame_wire` request); the answer is a `frame_wire` answer.
    #[rpc]
    Detect(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// The workers of the replicas running on this node, by model: the router gives them this node's
/// own frames directly.
#[derive(Default)]
pub struct LocalReplicas(RwLock<HashMap<String, Arc<ModelWorker>>>);

impl LocalReplicas {
    /// This node's worker of `model`, if it runs a replica of it.
    pub fn get(&self, model: &str) -> Option<Arc<ModelWorker>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(model)
            .cloned()
    }

    /// The load of every replica here, by model.
    pub fn loads(&self) -> Vec<ReplicaLoad> {
        let all = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let mut loads: Vec<ReplicaLoad> = all
            .iter()
            .map(|(model, worker)| frame_wire::reported_load(model, worker.load()))
            .collect();
        loads.sort_by(|a, b| a.model.cmp(&b.model));
        loads
    }

    fn insert(&self, model: &str, worker: Arc<ModelWorker>) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(model.to_string(), worker);
    }

    fn remove(&self, model: &str) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(model);
    }
}

/// One replica of one model on this node.
pub struct ModelReplica;

/// What a replica starts from.
pub struct ReplicaArgs {
    /// Node context (NATS, the cluster's name and cookie).
    pub ctx: Arc<NodeContext>,
    /// The node's models (what the worker is built from).
    pub analytics: Arc<Analytics>,
    /// Where this node's router finds the worker.
    pub local: Arc<LocalReplicas>,
    /// The model.
    pub model: String,
}

/// A running replica.
pub struct ReplicaState {
    worker: Arc<ModelWorker>,
    model: String,
    local: Arc<LocalReplicas>,
    nats: tokio::task::JoinHandle<()>,
}

impl Actor for ModelReplica {
    type Msg = ReplicaMsg;
    type State = ReplicaState;
    type Arguments = ReplicaArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let ReplicaArgs {
            ctx,
            analytics,
            local,
            model,
        } = args;
        let started = Instant::now();
        let name = model.clone();
        let worker = tokio::task::spawn_blocking(move || analytics.start_worker(&name))
            .await
            .map_err(|e| format!("loading {model}: {e}"))??;
        let worker = Arc::new(worker);
        local.insert(&model, Arc::clone(&worker));
        let node = ctx.node_id().to_string();
        ractor::pg::join(model_group(&model), vec![myself.get_cell()]);
        ractor::pg::join(replica_group(&model, &node), vec![myself.get_cell()]);
        let nats = tokio::spawn(serve_nats(
            Arc::clone(&ctx),
            model.clone(),
            Arc::clone(&worker),
        ));
        crate::metrics::MODEL_REPLICAS
            .with_label_values(&[&model])
            .set(1);
        tracing::info!(model = %model, loaded_ms = started.elapsed().as_millis() as u64, "model replica started");
        Ok(ReplicaState {
            worker,
            model,
            local,
            nats,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReplicaMsg::Detect(request, reply) => {
                let worker = Arc::clone(&state.worker);
                tokio::spawn(async move {
                    let _ = reply.send(frame_wire::encode_answer(&answer(&worker, &request).await));
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.nats.abort();
        state.local.remove(&state.model);
        crate::metrics::MODEL_REPLICAS
            .with_label_values(&[&state.model])
            .set(0);
        tracing::info!(model = %state.model, "model replica stopped");
        Ok(())
    }
}

/// Runs a request on `worker` and says what became of it, with the worker's load after it.
async fn answer(worker: &ModelWorker, request: &[u8]) -> FrameAnswer {
    let arrived = Instant::now();
    let outcome = match frame_wire::decode_request(request) {
        Err(e) => Outcome::Failed {
            reason: e.to_string(),
        },
        Ok((header, rgb)) => {
            // Detector time is the tenant's usage, tallied where it is spent.
            let busy = header
                .tenant
                .parse::<TenantId>()
                .ok()
                .map(|t| Arc::clone(&crate::analytics::usage::tally(t).busy_nanos));
            let how = Submission {
                priority: if header.high {
                    Priority::High
                } else {
                    Priority::Standard
                },
                tenant: Arc::from(header.tenant.as_str()),
                share: header.share,
                deadline: Some(arrived + Duration::from_millis(header.wait_ms)),
                busy,
            };
            let frame = OwnedFrame {
                width: header.width,
                height: header.height,
                rgb: rgb.to_vec(),
            };
            match worker.submit_as(frame, how).await {
                Ok(result) => Outcome::of(result),
                Err(_) => Outcome::Shed,
            }
        }
    };
    FrameAnswer {
        outcome,
        load: frame_wire::reported_load(worker.name(), worker.load()),
        spent_us: u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX),
    }
}

/// Answers frames sent over NATS to this replica: each must be sealed under the cluster cookie and
/// recent, or it is dropped (and counted) unread.
async fn serve_nats(ctx: Arc<NodeContext>, model: String, worker: Arc<ModelWorker>) {
    let cookie = frame_wire::cookie_of(&ctx);
    let subject = subjects::model_frames(&ctx.config.cluster.name, ctx.node_id(), &model);
    let mut frames = match ctx.nats.subscribe(subject).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(model = %model, error = %e, "cannot take frames over NATS; only links reach this replica");
            return;
        }
    };
    while let Some(msg) = frames.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        if !frame_wire::is_sealed(&cookie, &msg) {
            crate::metrics::FRAMES_REFUSED.inc();
            tracing::warn!(model = %model, "frame over NATS without a valid seal refused");
            continue;
        }
        let (nats, worker, cookie) = (ctx.nats.clone(), Arc::clone(&worker), Arc::clone(&cookie));
        tokio::spawn(async move {
            let body = frame_wire::encode_answer(&answer(&worker, &msg.payload).await);
            let headers = frame_wire::sealed_headers(&cookie, &body);
            let _ = nats
                .publish_with_headers(reply_to, headers, body.into())
                .await;
        });
    }
}
