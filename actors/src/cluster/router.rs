//! [`InferenceRouter`]: where a camera's frame for a model goes. Among the model's replicas (this
//! node's own, and the others' from their heartbeats) it picks the one with the shortest expected
//! wait: frames queued there (as the replica last said, plus this node's frames in flight to it)
//! shared among its sessions, times its recent time per frame, plus the measured cost of crossing to
//! it. A frame for this node's replica goes straight to its worker; one for another node's goes over
//! their ractor_cluster link, or over NATS where no link exists (`cluster::frame_wire`).
//!
//! A replica that goes away while it holds a frame (its node's link dropped or the node is down, or
//! the replica was moved) does not answer: the frame is sent again to the next replica at once, as
//! long as its deadline allows. When no replica is known, the frame waits for one until its
//! deadline. A frame is never run after its deadline: the replica refuses it as expired.

use crate::analytics::inference::{Inference, Routed};
use crate::cluster::frame_wire::{self, FrameHeader, LINK_LIMIT};
use crate::cluster::membership::Membership;
use crate::cluster::replica::{LocalReplicas, ReplicaMsg, replica_group};
use crate::context::NodeContext;
use futures_util::future::BoxFuture;
use ractor::ActorRef;
use ractor::rpc::CallResult;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use vms_messages::{NodeState, subjects};
use vms_models::{DetectorError, ModelWorker, OwnedFrame, Priority, Submission, WorkerLoad};

/// Time per frame assumed for a replica that has not run one yet.
const UNMEASURED_SERVICE: Duration = Duration::from_millis(50);
/// Cost of crossing to another node assumed before one was measured.
const UNMEASURED_CROSSING: Duration = Duration::from_millis(2);
/// How often an in-flight frame checks that its replica is still there.
const GONE_POLL: Duration = Duration::from_millis(50);
/// A replica's own report of its load is preferred to its heartbeat's for this long.
const REPORT_FRESH: Duration = Duration::from_secs(2);
/// How often a frame with no replica to go to looks again.
const NO_REPLICA_POLL: Duration = Duration::from_millis(100);

/// What this node knows of one (model, node) replica besides its heartbeat.
#[derive(Default)]
struct Route {
    inflight: usize,
    reported: Option<(WorkerLoad, Instant)>,
    crossing: Option<Duration>,
}

/// A replica a frame may go to, with its expected wait.
struct Choice {
    node: String,
    local: Option<Arc<ModelWorker>>,
    wait: Duration,
}

/// Why a try at a remote replica gave no answer.
#[derive(Debug)]
enum Failure {
    /// The replica went away with the frame: send it elsewhere.
    Gone,
    /// The deadline passed.
    Timeout,
    /// The frame could not be sent, or the answer read.
    Transport(String),
}

/// Routes this node's frames to the cluster's model worker replicas.
pub struct InferenceRouter {
    ctx: Arc<NodeContext>,
    membership: Arc<Membership>,
    local: Arc<LocalReplicas>,
    cookie: Arc<str>,
    routes: Mutex<HashMap<(String, String), Route>>,
}

/// Takes a frame off its replica's in-flight count when its try ends.
struct InFlight<'a> {
    router: &'a InferenceRouter,
    key: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut routes = self
            .router
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(r) = routes.get_mut(&self.key) {
            r.inflight = r.inflight.saturating_sub(1);
        }
    }
}

impl InferenceRouter {
    /// A router over `membership`'s view, with this node's replicas in `local`.
    pub fn new(
        ctx: Arc<NodeContext>,
        membership: Arc<Membership>,
        local: Arc<LocalReplicas>,
    ) -> Self {
        let cookie = frame_wire::cookie_of(&ctx);
        Self {
            ctx,
            membership,
            local,
            cookie,
            routes: Mutex::default(),
        }
    }

    /// The replicas of `model` not in `tried`, shortest expected wait first.
    fn choices(&self, model: &str, tried: &HashSet<String>) -> Vec<Choice> {
        let me = self.ctx.node_id();
        let mut out = Vec::new();
        if !tried.contains(me)
            && let Some(worker) = self.local.get(model)
        {
            let wait = worker.load().expected_wait(UNMEASURED_SERVICE);
            out.push(Choice {
                node: me.to_string(),
                local: Some(worker),
                wait,
            });
        }
        let routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        for node in self.membership.nodes() {
            if node.id == me || node.state != NodeState::Up || tried.contains(&node.id) {
                continue;
            }
            let Some(beat) = node.replicas.iter().find(|r| r.model == model) else {
                continue;
            };
            let route = routes.get(&(model.to_string(), node.id.clone()));
            let mut load = match route.and_then(|r| r.reported) {
                Some((load, at)) if at.elapsed() < REPORT_FRESH => load,
                _ => frame_wire::worker_load(beat),
            };
            load.queued += route.map_or(0, |r| r.inflight);
            let crossing = route
                .and_then(|r| r.crossing)
                .unwrap_or(UNMEASURED_CROSSING);
            out.push(Choice {
                node: node.id,
                local: None,
                wait: load.expected_wait(UNMEASURED_SERVICE) + crossing,
            });
        }
        // Ties go to this node's own replica (listed first): no crossing at all.
        out.sort_by_key(|c| c.wait);
        out
    }

    /// Counts a frame in flight to `node`'s replica until the guard drops.
    fn in_flight(&self, model: &str, node: &str) -> InFlight<'_> {
        let key = (model.to_string(), node.to_string());
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .inflight += 1;
        InFlight { router: self, key }
    }

    /// Notes what a replica said of its load and what crossing to it cost this time.
    fn note_answer(
        &self,
        model: &str,
        node: &str,
        answer: &frame_wire::FrameAnswer,
        rtt: Duration,
    ) {
        let crossing = rtt.saturating_sub(Duration::from_micros(answer.spent_us));
        crate::metrics::INFERENCE_CROSSING.observe(crossing.as_secs_f64());
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        let route = routes
            .entry((model.to_string(), node.to_string()))
            .or_default();
        route.reported = Some((frame_wire::worker_load(&answer.load), Instant::now()));
        route.crossing = Some(match route.crossing {
            None => crossing,
            Some(old) => old - old / 8 + crossing / 8,
        });
    }

    /// Sends `request` to `node`'s replica of `model` and waits for its answer, at most `left`.
    async fn send_remote(
        &self,
        model: &str,
        node: &str,
        request: Vec<u8>,
        left: Duration,
    ) -> Result<frame_wire::FrameAnswer, Failure> {
        let group = replica_group(model, node);
        let linked = || {
            ractor::pg::get_members(&group)
                .into_iter()
                .find(|c| !c.get_id().is_local())
        };
        if request.len() <= LINK_LIMIT
            && let Some(cell) = linked()
        {
            let actor: ActorRef<ReplicaMsg> = cell.into();
            let call = actor.call(|port| ReplicaMsg::Detect(request, port), Some(left));
            let gone = async {
                while linked().is_some() {
                    tokio::time::sleep(GONE_POLL).await;
                }
            };
            let bytes = tokio::select! {
                r = call => match r {
                    Ok(CallResult::Success(bytes)) => bytes,
                    Ok(CallResult::Timeout) => return Err(Failure::Timeout),
                    Ok(CallResult::SenderError) | Err(_) => return Err(Failure::Gone),
                },
                () = gone => return Err(Failure::Gone),
            };
            crate::metrics::INFERENCE_ROUTED
                .with_label_values(&[model, "link"])
                .inc();
            return frame_wire::decode_answer(&bytes)
                .map_err(|e| Failure::Transport(e.to_string()));
        }
        let max = self.ctx.nats.server_info().max_payload;
        if request.len() > max {
            return Err(Failure::Transport(format!(
                "a {} byte frame fits neither a link (none to {node}) nor NATS (max {max})",
                request.len()
            )));
        }
        let headers = frame_wire::sealed_headers(&self.cookie, &request);
        let subject = subjects::model_frames(&self.ctx.config.cluster.name, node, model);
        let ask = tokio::time::timeout(
            left,
            self.ctx
                .nats
                .request_with_headers(subject, headers, request.into()),
        );
        let gone = async {
            loop {
                tokio::time::sleep(GONE_POLL).await;
                let up = self
                    .membership
                    .nodes()
                    .iter()
                    .any(|n| n.id == node && n.state == NodeState::Up);
                if !up {
                    return;
                }
            }
        };
        let msg = tokio::select! {
            r = ask => match r {
                Ok(Ok(msg)) => msg,
                Ok(Err(e)) => return Err(Failure::Transport(e.to_string())),
                Err(_) => return Err(Failure::Timeout),
            },
            () = gone => return Err(Failure::Gone),
        };
        if !frame_wire::is_sealed(&self.cookie, &msg) {
            crate::metrics::FRAMES_REFUSED.inc();
            return Err(Failure::Transport("an answer without a valid seal".into()));
        }
        crate::metrics::INFERENCE_ROUTED
            .with_label_values(&[model, "nats"])
            .inc();
        frame_wire::decode_answer(&msg.payload).map_err(|e| Failure::Transport(e.to_string()))
    }

    async fn route(&self, model: &str, frame: OwnedFrame, how: Submission) -> Routed {
        let deadline = how
            .deadline
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(2));
        let mut tried: HashSet<String> = HashSet::new();
        let mut frame = Some(frame);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return if tried.is_empty() {
                    Routed::NoReplica
                } else {
                    Routed::Done(Err(DetectorError::Expired))
                };
            }
            let Some(choice) = self.choices(model, &tried).into_iter().next() else {
                tokio::time::sleep(NO_REPLICA_POLL.min(deadline - now)).await;
                continue;
            };
            if let Some(worker) = choice.local {
                crate::metrics::INFERENCE_ROUTED
                    .with_label_values(&[model, "local"])
                    .inc();
                let Some(frame) = frame.take() else {
                    return Routed::NoReplica;
                };
                return match worker.submit_as(frame, how).await {
                    Ok(result) => Routed::Done(result),
                    Err(_) => Routed::Shed,
                };
            }
            let Some(pixels) = frame.as_ref() else {
                return Routed::NoReplica;
            };
            let left = deadline - now;
            let header = FrameHeader {
                tenant: how.tenant.to_string(),
                share: how.share,
                high: how.priority == Priority::High,
                wait_ms: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
                width: pixels.width,
                height: pixels.height,
            };
            let request = frame_wire::encode_request(&header, &pixels.rgb);
            let _flight = self.in_flight(model, &choice.node);
            let sent = Instant::now();
            match self.send_remote(model, &choice.node, request, left).await {
                Ok(answer) => {
                    self.note_answer(model, &choice.node, &answer, sent.elapsed());
                    return match answer.outcome.answer() {
                        Some(result) => Routed::Done(result),
                        None => Routed::Shed,
                    };
                }
                Err(Failure::Timeout) => return Routed::Done(Err(DetectorError::Expired)),
                Err(failure) => {
                    let why = match failure {
                        Failure::Transport(why) => why,
                        Failure::Gone | Failure::Timeout => "it went away".to_string(),
                    };
                    tracing::info!(model = %model, node_id = %choice.node, why = %why, "a replica did not answer; sending the frame to another");
                    crate::metrics::INFERENCE_RESENT
                        .with_label_values(&[model])
                        .inc();
                    tried.insert(choice.node);
                }
            }
        }
    }
}

impl Inference for InferenceRouter {
    fn detect<'a>(
        &'a self,
        model: &'a str,
        frame: OwnedFrame,
        how: Submission,
    ) -> BoxFuture<'a, Routed> {
        Box::pin(self.route(model, frame, how))
    }
}
