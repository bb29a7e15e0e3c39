//! ractor_cluster links between the nodes of a cluster, for calls to the actors of another node.
//!
//! Every node runs a `NodeServer` on `cluster.link_port` (cookie: the cluster cookie) and publishes
//! `cluster.advertise_host:link_port` in its heartbeat. What ractor_cluster does not do, this module
//! does, driven by membership:
//! - **dial and redial**: the node with the lower id dials every `up` member that has no session with
//!   it, with per-peer exponential backoff;
//! - **failure detection**: a member that membership reports down (silent past `down_after_ms`: dead,
//!   frozen or cut off, which ractor_cluster never notices) has its session force-closed; a session
//!   that drops by itself (a killed process closes its sockets at once) makes membership report the
//!   peer down as soon as a heartbeat is overdue (1.5 heartbeats) instead of after `down_after_ms`;
//! - **routing**: each node's [`NodeRpc`] actor joins the process group `vms.node.<id>`; a call for an
//!   entity goes to the member of its owner's group ([`camera_status`]).
//!
//! A peer with another cookie fails ractor_cluster's handshake: no session comes up and the dialer
//! logs it. Video travels over these links as live frames and segment byte ranges for another node
//! serving them, each answer under 12 MiB: a message over 16 MiB tears a link down. Footage for a
//! camera's standby goes over the mirror stream instead (`cluster::mirror_stream`).

use crate::cluster::membership::Membership;
use crate::cluster::{live_relay, segment_read};
use crate::context::NodeContext;
use crate::media::live::LiveHub;
use crate::recording::camera::{CameraMsg, camera_actor_name};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use ractor_cluster::{NodeServer, NodeServerMessage, RactorClusterMessage};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::{CameraId, CameraStatus, NodeState};

/// How long a call over a link may take.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(800);
/// Longest wait between dials of one peer.
const MAX_REDIAL: Duration = Duration::from_secs(30);

/// The node id in a ractor_cluster peer name (`<node id>@<host>`).
fn node_of(peer_name: &str) -> &str {
    peer_name.split('@').next().unwrap_or(peer_name)
}

/// The process group of node `id`'s [`NodeRpc`] actor.
pub fn group(node: &str) -> String {
    format!("vms.node.{node}")
}

/// Calls a node answers for its peers.
#[derive(RactorClusterMessage)]
pub enum NodeRpcMsg {
    /// The live status of a camera this node runs, as JSON (empty: not running here).
    #[rpc]
    CameraStatus(String, RpcReplyPort<String>),
    /// A byte range of a segment this node holds the only reachable copy of, for a node serving
    /// it (`cluster::segment_read`): `0` and the bytes, or `1` and why not.
    #[rpc]
    ReadSegment(Vec<u8>, RpcReplyPort<Vec<u8>>),
    /// A camera's live frames after a time, for a node relaying its live view
    /// (`cluster::live_relay`): `0` and the frames, or `1` and why not.
    #[rpc]
    ReadLive(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

/// Answers [`NodeRpcMsg`] calls for this node.
pub struct NodeRpc;

/// What [`NodeRpc`] answers with.
pub struct NodeRpcState {
    ctx: Arc<NodeContext>,
    live: Arc<LiveHub>,
}

impl Actor for NodeRpc {
    type Msg = NodeRpcMsg;
    type State = NodeRpcState;
    type Arguments = (Arc<NodeContext>, Arc<LiveHub>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (ctx, live): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        ractor::pg::join(group(ctx.node_id()), vec![myself.get_cell()]);
        Ok(NodeRpcState { ctx, live })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NodeRpcMsg::ReadSegment(request, reply) => {
                let ctx = Arc::clone(&state.ctx);
                tokio::spawn(async move {
                    let _ = reply.send(segment_read::answer(&ctx, &request).await);
                });
            }
            NodeRpcMsg::ReadLive(request, reply) => {
                let live = Arc::clone(&state.live);
                tokio::spawn(async move {
                    let _ = reply.send(live_relay::answer(&live, &request).await);
                });
            }
            NodeRpcMsg::CameraStatus(camera, reply) => {
                let status = match camera.parse::<CameraId>() {
                    Ok(id) => local_status(id).await,
                    Err(_) => None,
                };
                let json = status
                    .and_then(|s| serde_json::to_string(&s).ok())
                    .unwrap_or_default();
                let _ = reply.send(json);
            }
        }
        Ok(())
    }
}

/// The status of a camera actor running here.
pub async fn local_status(camera: CameraId) -> Option<CameraStatus> {
    let actor: ActorRef<CameraMsg> = ractor::registry::where_is(camera_actor_name(camera))?.into();
    ractor::call_t!(actor, CameraMsg::GetStatus, 2000).ok()
}

/// The `NodeRpc` actor of `node` across this node's link to it, when there is a link.
pub(crate) fn link_to(node: &str) -> Option<ActorRef<NodeRpcMsg>> {
    ractor::pg::get_members(&group(node))
        .into_iter()
        .find(|c| !c.get_id().is_local())
        .map(Into::into)
}

/// The live status of `camera` from `node` over its link; `None` without a link or an answer.
pub async fn camera_status(node: &str, camera: CameraId) -> Option<CameraStatus> {
    let actor = link_to(node)?;
    let json = ractor::call_t!(
        actor,
        NodeRpcMsg::CameraStatus,
        u64::try_from(CALL_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        camera.to_string()
    )
    .ok()?;
    serde_json::from_str(&json).ok()
}

/// This node's links; they close with the value.
pub struct Links {
    server: ActorRef<NodeServerMessage>,
    rpc: ActorRef<NodeRpcMsg>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Links {
    fn drop(&mut self) {
        self.task.abort();
        self.rpc.stop(None);
        self.server.stop(None);
    }
}

/// Tells membership when a link drops: a killed peer's sockets close at once, long before its
/// heartbeats are missed.
struct LinkWatch {
    membership: Arc<Membership>,
}

impl ractor_cluster::NodeEventSubscription for LinkWatch {
    fn node_session_opened(&self, _: ractor_cluster::node::NodeServerSessionInformation) {}

    fn node_session_disconnected(&self, ses: ractor_cluster::node::NodeServerSessionInformation) {
        if let Some(peer) = ses.peer_name {
            let node = node_of(&peer.name);
            tracing::info!(node_id = %node, "link dropped; the node is down unless it heartbeats");
            self.membership.suspect(node);
        }
    }

    fn node_session_authenticated(&self, _: ractor_cluster::node::NodeServerSessionInformation) {}
}

struct Peer {
    next_dial: Instant,
    backoff: Duration,
    warned: bool,
    dialed: bool,
}

impl Links {
    /// Starts the node server, the RPC actor and the dialer; `None` when `cluster.link_port` is 0
    /// or the server cannot start (the node runs on without links, and says so).
    pub async fn start(
        ctx: &Arc<NodeContext>,
        membership: Arc<Membership>,
        live: Arc<LiveHub>,
    ) -> Option<Self> {
        let c = &ctx.config.cluster;
        if c.link_port == 0 {
            return None;
        }
        let cookie = c.resolve_cookie().ok().flatten().unwrap_or_default();
        let Some(listen) = link_listen_addr(c) else {
            tracing::warn!(advertise_host = %c.advertise_host, "cluster links disabled: cannot tell which address to bind; set cluster.link_listen");
            return None;
        };
        let node_server = NodeServer::new(
            c.link_port,
            cookie,
            ctx.node_id().to_string(),
            c.advertise_host.clone(),
            None,
            None,
        )
        .with_listen_addr(listen);
        let server = match Actor::spawn(None, node_server, ()).await {
            Ok((server, _)) => server,
            Err(e) => {
                tracing::warn!(port = c.link_port, error = %e, "cluster links disabled: the node server did not start");
                return None;
            }
        };
        let rpc = match Actor::spawn(None, NodeRpc, (Arc::clone(ctx), live)).await {
            Ok((rpc, _)) => rpc,
            Err(e) => {
                tracing::warn!(error = %e, "cluster links disabled: the RPC actor did not start");
                server.stop(None);
                return None;
            }
        };
        let _ = server.cast(NodeServerMessage::SubscribeToEvents {
            id: "membership".into(),
            subscription: Box::new(LinkWatch {
                membership: Arc::clone(&membership),
            }),
        });
        let me = ctx.node_id().to_string();
        let task = {
            let server = server.clone();
            tokio::spawn(async move {
                let mut peers: HashMap<String, Peer> = HashMap::new();
                let mut tick = tokio::time::interval(Duration::from_millis(500));
                let mut last_pass = Instant::now();
                loop {
                    tick.tick().await;
                    // After a stall (the process was frozen) the view is stale until heartbeats
                    // arrive again: close nothing on it.
                    let stale = last_pass.elapsed() > Duration::from_secs(2);
                    last_pass = Instant::now();
                    maintain(&server, &membership, &me, &mut peers, stale).await;
                }
            })
        };
        tracing::info!(address = %listen, port = c.link_port, "cluster links listening");
        Some(Self { server, rpc, task })
    }
}

/// One pass of the dialer: dial up members without a session, close sessions of members down.
async fn maintain(
    server: &ActorRef<NodeServerMessage>,
    membership: &Membership,
    me: &str,
    peers: &mut HashMap<String, Peer>,
    stale: bool,
) {
    let Ok(sessions) = ractor::call_t!(server, NodeServerMessage::GetSessions, 500) else {
        return;
    };
    let by_name: HashMap<String, _> = sessions
        .into_values()
        .filter_map(|s| {
            let name = node_of(&s.peer_name.as_ref()?.name).to_string();
            Some((name, s))
        })
        .collect();
    crate::metrics::CLUSTER_LINKS.set(i64::try_from(by_name.len()).unwrap_or(i64::MAX));
    for node in membership.nodes() {
        if node.id == me {
            continue;
        }
        let session = by_name.get(&node.id);
        if node.state != NodeState::Up {
            if let Some(s) = session
                && !stale
            {
                tracing::warn!(node_id = %node.id, "closing the link to a node that is down");
                s.actor.stop(Some("peer down".into()));
            }
            continue;
        }
        if session.is_some() {
            if let Some(p) = peers.remove(&node.id)
                && p.warned
            {
                tracing::info!(node_id = %node.id, "link up again");
            }
            continue;
        }
        // The lower id dials, so two nodes open one session between them.
        let (Some(addr), true) = (node.link.clone(), me < node.id.as_str()) else {
            continue;
        };
        let peer = peers.entry(node.id.clone()).or_insert(Peer {
            next_dial: Instant::now(),
            // A session takes a moment to authenticate: the first redial waits 2 s.
            backoff: Duration::from_secs(2),
            warned: false,
            dialed: false,
        });
        if Instant::now() < peer.next_dial {
            continue;
        }
        if peer.dialed && !peer.warned {
            // Dialled before and still no session: the handshake was refused.
            tracing::warn!(node_id = %node.id, link = %addr, "the link to a node did not come up (handshake refused: another cluster cookie?); redialling with backoff");
            peer.warned = true;
        }
        peer.dialed = true;
        if let Err(e) = ractor_cluster::client_connect(server, addr.as_str()).await
            && !peer.warned
        {
            tracing::warn!(node_id = %node.id, link = %addr, error = %e, "cannot link to a node; redialling with backoff");
            peer.warned = true;
        }
        // A session that does not come up (a refused cookie) is dialled again later.
        peer.next_dial = Instant::now() + peer.backoff;
        peer.backoff = (peer.backoff * 2).min(MAX_REDIAL);
    }
}

/// The address the link server binds: `cluster.link_listen`, else `cluster.advertise_host` (as an
/// address, or the first address its name resolves to). Never every interface.
pub(crate) fn link_listen_addr(c: &vms_config::ClusterConfig) -> Option<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    if let Ok(ip) = c.link_listen.parse() {
        return Some(ip);
    }
    if let Ok(ip) = c.advertise_host.parse() {
        return Some(ip);
    }
    (c.advertise_host.as_str(), c.link_port)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|a| a.ip())
}
