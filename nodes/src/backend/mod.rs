//! The node's implementation of the API's services (one file per resource): the store for
//! configuration and the index, the actors for live status and for starting, changing and stopping
//! cameras. Work runs on the node's runtime (where the actors and the database pool live), not on the
//! HTTP workers.

mod audit;
mod cameras;
mod cluster;
mod credentials;
mod events;
mod exports;
mod holds;
mod notify;
mod rules;
mod tenants;
mod tickets;
mod users;
mod video;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ractor::ActorRef;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use uuid::Uuid;
use vms_actors::CameraMsg;
use vms_actors::ClusterAuth;
use vms_actors::NodeContext;
use vms_actors::NodeMsg;
use vms_actors::Ownership;
use vms_api::{
    ApiError, AuditService, CameraPage, CameraService, ClusterService, CredentialService,
    EventService, HealthService, HoldService, NotificationService, Page, RuleService,
    SegmentSource, TenantPage, TenantService, TicketService, UserService,
};
use vms_messages::EventFilter;
use vms_messages::{
    ApiKey, ApiKeyId, AuditPage, Camera, CameraCreate, CameraId, CameraState, CameraStatus,
    CameraStorage, CameraUpdate, CameraView, DetectorInfo, DetectorList, Event, EventPage,
    EventView, Rule, RuleCreate, RulePage, RuleUpdate, Segment, SegmentPage, SimilarEvents, Tenant,
    TenantCreate, TenantId, TenantScope, TenantUpdate, User, UserId, UserPage,
};
use vms_messages::{AuditRecord, KeyCredentials, NewApiKey, NewUser, SigningKey, UserChange};
use vms_messages::{Change, Principal, TicketAction, TicketPage, TicketState, TicketView};
use vms_messages::{
    Channel, ChannelCreate, ChannelPage, ChannelUpdate, Delivery, DeliveryPage, DeliveryState,
};
use vms_messages::{Hold, HoldCreate, HoldPage};
use vms_store::Store;
use vms_store::StoreError;

/// How long the API waits for a camera actor's status.
const STATUS_TIMEOUT_MS: u64 = 1000;

/// The node as the API sees it.
#[derive(Clone)]
pub struct NodeBackend {
    ctx: Arc<NodeContext>,
    supervisor: ActorRef<NodeMsg>,
    runtime: Handle,
    feed: Option<tokio::sync::broadcast::Sender<Event>>,
    membership: Option<Arc<vms_actors::Membership>>,
    ownership: Arc<Ownership>,
    models: Arc<[String]>,
    cluster_auth: Arc<ClusterAuth>,
    tier: Option<Arc<vms_actors::ObjectTier>>,
    live: Arc<vms_actors::LiveHub>,
    /// Export files written at once (`exports.concurrency`).
    export_slots: Arc<tokio::sync::Semaphore>,
}

/// What a [`NodeBackend`] works with.
pub struct BackendArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The node's supervisor (configuration changes go to it).
    pub supervisor: ActorRef<NodeMsg>,
    /// Where the backend's work runs.
    pub runtime: Handle,
    /// Live events for SSE clients.
    pub feed: Option<tokio::sync::broadcast::Sender<Event>>,
    /// The cluster's nodes.
    pub membership: Option<Arc<vms_actors::Membership>>,
    /// The cameras this node records (placement on or off).
    pub ownership: Arc<Ownership>,
    /// The detector models this node runs (none with analytics off).
    pub models: Vec<String>,
    /// Signs the changes this node tells the others of.
    pub cluster_auth: Arc<ClusterAuth>,
    /// The object store segments move to, when one is set.
    pub tier: Option<Arc<vms_actors::ObjectTier>>,
    /// Where the node's cameras publish their live video.
    pub live: Arc<vms_actors::LiveHub>,
}

impl NodeBackend {
    /// A backend over the node's context, supervisor and collaborators.
    pub fn new(args: BackendArgs) -> Self {
        let slots = usize::try_from(args.ctx.config.exports.concurrency).unwrap_or(1);
        Self {
            export_slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            ctx: args.ctx,
            supervisor: args.supervisor,
            runtime: args.runtime,
            feed: args.feed,
            membership: args.membership,
            ownership: args.ownership,
            models: args.models.into(),
            cluster_auth: args.cluster_auth,
            tier: args.tier,
            live: args.live,
        }
    }

    async fn on_runtime<T, F>(&self, work: impl FnOnce(Self) -> F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, ApiError>> + Send + 'static,
    {
        match self.runtime.spawn(work(self.clone())).await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "api task failed");
                Err(ApiError::internal())
            }
        }
    }

    /// Runs a store call on the node's runtime, mapping its error.
    async fn db<T, F, Fut>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(Store) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.on_runtime(|b| async move { work(b.ctx.store.clone()).await.map_err(api_error) })
            .await
    }

    async fn status(&self, camera: &Camera) -> CameraStatus {
        let asked = ractor::call_t!(
            self.supervisor,
            |reply| NodeMsg::ToCamera {
                camera: camera.id,
                tenant: camera.tenant_id,
                msg: CameraMsg::GetStatus(reply),
            },
            STATUS_TIMEOUT_MS
        );
        if let Ok(status) = asked {
            return status;
        }
        let mut status = CameraStatus::unknown();
        if camera.enabled
            && let Some(placed) = self.placed_status(camera).await
        {
            return placed;
        }
        if !camera.enabled {
            status.state = CameraState::Disabled;
            status.reason = Some("camera is disabled".into());
        } else if let Ok(tenant) = self
            .ctx
            .store
            .tenant(TenantScope::All, camera.tenant_id)
            .await
            && let Some(at) = tenant
                .expires_at
                .filter(|_| tenant.licence_expired(chrono::Utc::now()))
        {
            status.state = CameraState::Suspended;
            status.reason = Some(format!(
                "tenant licence expired at {}; recording stopped, recordings are kept",
                at.to_rfc3339()
            ));
        }
        status
    }

    fn membership(&self) -> Result<&Arc<vms_actors::Membership>, ApiError> {
        self.membership.as_ref().ok_or_else(|| {
            ApiError::unavailable("this node has no cluster membership (no NATS connection)")
        })
    }

    /// The nodes membership sees, with what the placement map says of each (placed, drained, leader).
    async fn node_views(&self) -> Result<Vec<vms_messages::NodeView>, ApiError> {
        let mut nodes = self.membership()?.nodes();
        if self.ownership.is_placed() {
            let (placed, drained, leader) = self
                .db(|s| async move {
                    Ok((
                        s.placed_per_node().await?,
                        s.drained_nodes().await?,
                        s.lease_holder(vms_actors::PLACEMENT_LEASE).await?,
                    ))
                })
                .await?;
            for n in &mut nodes {
                n.placed = placed.get(&n.id).copied().unwrap_or(0);
                n.drained = drained.contains(&n.id);
                n.leader = leader.as_ref().is_some_and(|l| l.holder == n.id);
            }
        }
        Ok(nodes)
    }

    /// Tells the camera's actor, if it runs here, to re-read its rules (and the node running it,
    /// if another).
    fn rules_changed(&self, camera: CameraId) {
        let _ = self.supervisor.cast(NodeMsg::RulesChanged(camera));
        self.broadcast(Change::Rules { camera_id: camera });
    }

    /// Tells the other nodes of a change made here (in the background: the caller has its answer).
    fn broadcast(&self, change: Change) {
        let ctx = Arc::clone(&self.ctx);
        let auth = Arc::clone(&self.cluster_auth);
        self.runtime.spawn(async move {
            vms_actors::publish_change(&ctx, &auth, change).await;
        });
    }

    /// The status of a camera another node runs, or why none does.
    async fn placed_status(&self, camera: &Camera) -> Option<CameraStatus> {
        if !self.ownership.is_placed() {
            return None;
        }
        let (node, unplaced) = self.ctx.store.placement_of(camera.id).await.ok()??;
        let mut status = CameraStatus::unknown();
        match node {
            Some(node) if node != self.ctx.node_id() => {
                if let Some(s) = vms_actors::remote_status(&self.ctx, &node, camera.id).await {
                    return Some(s);
                }
                status.reason = Some(format!(
                    "node {node} records this camera and does not answer (it is moving or down); retry in a few seconds"
                ));
                status.node = Some(node);
            }
            Some(_) => {
                status.state = CameraState::Connecting;
                status.reason = Some("placed on this node; starting".into());
                status.node = Some(self.ctx.node_id().to_string());
            }
            None => {
                status.reason = Some(format!(
                    "cannot be placed: {}",
                    unplaced.unwrap_or_else(|| "no node can take it".into())
                ));
            }
        }
        Some(status)
    }

    async fn view(&self, camera: Camera) -> CameraView {
        let status = self.status(&camera).await;
        CameraView { camera, status }
    }
}

/// Maps a store failure to the API's answer; server faults are logged here and not shown to clients.
pub fn api_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound(what) => ApiError::not_found(what),
        StoreError::Conflict { field, message } => ApiError::conflict(field, message),
        StoreError::QuotaExceeded { limit, message } => ApiError::quota(limit, message),
        StoreError::UnknownReference { field, message } => ApiError::invalid(field, message),
        StoreError::LicenceExpired { message } => ApiError::licence_expired(message),
        StoreError::InvalidCursor => ApiError::invalid(
            "cursor",
            "invalid cursor; pass next_cursor from the previous page",
        ),
        e if e.is_unavailable() => {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::unavailable("database unavailable; retry shortly")
        }
        e => {
            tracing::error!(error = ?e, "store failure");
            ApiError::internal()
        }
    }
}

#[async_trait]
impl HealthService for NodeBackend {
    async fn ready(&self) -> Result<(), String> {
        self.db(|s| async move { s.ping().await })
            .await
            .map_err(|e| format!("database unavailable: {}", e.body.error.message))
    }
}
