//! The node's implementation of the API's [`Backend`]: the store for configuration and the index, the
//! actors for live status and for starting, changing and stopping cameras. Work runs on the node's
//! runtime (where the actors and the database pool live), not on the HTTP workers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ractor::ActorRef;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use uuid::Uuid;
use vms_actors::NodeContext;
use vms_actors::camera::{CameraMsg, camera_actor_name};
use vms_actors::cluster_auth::ClusterAuth;
use vms_actors::ownership::Ownership;
use vms_actors::supervisor::NodeMsg;
use vms_api::{ApiError, Backend, CameraPage, Page, TenantPage};
use vms_messages::auth::{AuditRecord, KeyCredentials, NewApiKey, NewUser, SigningKey, UserChange};
use vms_messages::event::EventFilter;
use vms_messages::{
    ApiKey, ApiKeyId, AuditPage, Camera, CameraCreate, CameraId, CameraState, CameraStatus,
    CameraUpdate, CameraView, DetectorInfo, DetectorList, Event, EventPage, EventView, Rule,
    RuleCreate, RulePage, RuleUpdate, Segment, SegmentPage, SimilarEvents, Tenant, TenantCreate,
    TenantId, TenantScope, TenantUpdate, User, UserId, UserPage,
};
use vms_messages::{Change, Principal, TicketAction, TicketPage, TicketState, TicketView};
use vms_messages::{
    Channel, ChannelCreate, ChannelPage, ChannelUpdate, Delivery, DeliveryPage, DeliveryState,
};
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
    membership: Option<Arc<vms_actors::membership::Membership>>,
    ownership: Arc<Ownership>,
    models: Arc<[String]>,
    cluster_auth: Arc<ClusterAuth>,
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
    pub membership: Option<Arc<vms_actors::membership::Membership>>,
    /// The cameras this node records (placement on or off).
    pub ownership: Arc<Ownership>,
    /// The detector models this node runs (none with analytics off).
    pub models: Vec<String>,
    /// Signs the changes this node tells the others of.
    pub cluster_auth: Arc<ClusterAuth>,
}

impl NodeBackend {
    /// A backend over the node's context, supervisor and collaborators.
    pub fn new(args: BackendArgs) -> Self {
        Self {
            ctx: args.ctx,
            supervisor: args.supervisor,
            runtime: args.runtime,
            feed: args.feed,
            membership: args.membership,
            ownership: args.ownership,
            models: args.models.into(),
            cluster_auth: args.cluster_auth,
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
        if let Some(cell) = ractor::registry::where_is(camera_actor_name(camera.id)) {
            let actor: ActorRef<CameraMsg> = cell.into();
            if let Ok(status) = ractor::call_t!(actor, CameraMsg::GetStatus, STATUS_TIMEOUT_MS) {
                return status;
            }
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

    fn membership(&self) -> Result<&Arc<vms_actors::membership::Membership>, ApiError> {
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
                        s.lease_holder(vms_actors::placement::LEASE).await?,
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

    /// The models this node runs (none with analytics off).
    fn models(&self) -> Vec<String> {
        self.models.to_vec()
    }

    /// Tells the camera's actor, if it runs here, to re-read its rules (and the node running it,
    /// if another).
    fn rules_changed(&self, camera: CameraId) {
        if let Some(cell) = ractor::registry::where_is(camera_actor_name(camera)) {
            let actor: ActorRef<CameraMsg> = cell.into();
            let _ = actor.cast(CameraMsg::RulesChanged);
        }
        self.broadcast(Change::Rules { camera_id: camera });
    }

    /// Tells the other nodes of a change made here (in the background: the caller has its answer).
    fn broadcast(&self, change: Change) {
        let ctx = Arc::clone(&self.ctx);
        let auth = Arc::clone(&self.cluster_auth);
        self.runtime.spawn(async move {
            vms_actors::changes::publish(&ctx, &auth, change).await;
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
                if let Some(s) =
                    vms_actors::changes::remote_status(&self.ctx, &node, camera.id).await
                {
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
impl Backend for NodeBackend {
    async fn ready(&self) -> Result<(), String> {
        self.db(|s| async move { s.ping().await })
            .await
            .map_err(|e| format!("database unavailable: {}", e.body.error.message))
    }

    async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError> {
        let tenant = self
            .db(|s| async move { s.create_tenant(&req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::TenantUpserted(tenant.clone()));
        self.broadcast(Change::Tenant {
            tenant_id: tenant.id,
        });
        Ok(tenant)
    }

    async fn list_tenants(&self, scope: TenantScope, page: Page) -> Result<TenantPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.tenants(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(TenantPage { items, next_cursor })
    }

    async fn get_tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, ApiError> {
        self.db(move |s| async move { s.tenant(scope, id).await })
            .await
    }

    async fn update_tenant(&self, id: TenantId, req: TenantUpdate) -> Result<Tenant, ApiError> {
        let tenant = self
            .db(move |s| async move { s.update_tenant(id, &req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::TenantUpserted(tenant.clone()));
        self.broadcast(Change::Tenant {
            tenant_id: tenant.id,
        });
        Ok(tenant)
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError> {
        self.db(move |s| async move { s.delete_tenant(id).await })
            .await?;
        let _ = self.supervisor.cast(NodeMsg::TenantRemoved(id));
        self.broadcast(Change::TenantRemoved { tenant_id: id });
        Ok(())
    }

    async fn create_camera(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: CameraCreate,
    ) -> Result<CameraView, ApiError> {
        let camera = self
            .db(move |s| async move { s.create_camera(scope, tenant, &req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::CameraUpserted(camera.clone()));
        self.broadcast(Change::Camera {
            camera_id: camera.id,
        });
        let mut status = CameraStatus::unknown();
        status.state = if camera.enabled {
            CameraState::Connecting
        } else {
            CameraState::Disabled
        };
        status.reason = None;
        status.node = Some(self.ctx.node_id().to_string());
        Ok(CameraView { camera, status })
    }

    async fn list_cameras(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<CameraPage, ApiError> {
        self.on_runtime(move |b| async move {
            let (cameras, next_cursor) = b
                .ctx
                .store
                .cameras(scope, tenant, page.cursor.as_deref(), page.limit)
                .await
                .map_err(api_error)?;
            // Statuses of cameras other nodes run are asked for at once.
            let items =
                futures_util::future::join_all(cameras.into_iter().map(|c| b.view(c))).await;
            Ok(CameraPage { items, next_cursor })
        })
        .await
    }

    async fn get_camera(&self, scope: TenantScope, id: CameraId) -> Result<CameraView, ApiError> {
        self.on_runtime(move |b| async move {
            let camera = b.ctx.store.camera(scope, id).await.map_err(api_error)?;
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn update_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
        req: CameraUpdate,
    ) -> Result<CameraView, ApiError> {
        self.on_runtime(move |b| async move {
            let camera = b
                .ctx
                .store
                .update_camera(scope, id, &req)
                .await
                .map_err(api_error)?;
            let _ = b.supervisor.cast(NodeMsg::CameraUpserted(camera.clone()));
            b.broadcast(Change::Camera {
                camera_id: camera.id,
            });
            Ok(b.view(camera).await)
        })
        .await
    }

    async fn delete_camera(&self, scope: TenantScope, id: CameraId) -> Result<(), ApiError> {
        let camera = self
            .db(move |s| async move { s.delete_camera(scope, id).await })
            .await?;
        let _ = self.supervisor.cast(NodeMsg::CameraRemoved {
            camera: camera.id,
            tenant: camera.tenant_id,
        });
        self.broadcast(Change::CameraRemoved {
            camera_id: camera.id,
            tenant_id: camera.tenant_id,
        });
        Ok(())
    }

    async fn list_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<SegmentPage, ApiError> {
        self.db(move |s| async move {
            // 404 for an unknown (or another tenant's) camera rather than an empty list.
            s.camera(scope, camera).await?;
            let (items, next_cursor) = s
                .segments(scope, camera, from, to, page.cursor.as_deref(), page.limit)
                .await?;
            Ok(SegmentPage { items, next_cursor })
        })
        .await
    }

    async fn get_segment(&self, scope: TenantScope, id: i64) -> Result<Segment, ApiError> {
        self.db(move |s| async move { Ok(s.segment(scope, id).await?.segment) })
            .await
    }

    async fn segment_file(&self, scope: TenantScope, id: i64) -> Result<PathBuf, ApiError> {
        let file = self
            .db(move |s| async move { s.segment(scope, id).await })
            .await?;
        // Only files under this node's segment folder are served, whatever the index says.
        if !file.path.starts_with(self.ctx.config.segments_dir())
            || file
                .path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            tracing::error!(path = %file.path.display(), "segment path outside the data folder refused");
            return Err(ApiError::not_found("segment file"));
        }
        Ok(file.path)
    }

    async fn list_events(
        &self,
        scope: TenantScope,
        filter: EventFilter,
        page: Page,
    ) -> Result<EventPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.events(scope, &filter, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(EventPage { items, next_cursor })
    }

    async fn get_event(&self, scope: TenantScope, id: Uuid) -> Result<EventView, ApiError> {
        let overlap =
            chrono::Duration::seconds(i64::from(self.ctx.config.recording.overlap_seconds.max(1)));
        self.db(move |s| async move {
            let event = s.event(scope, id).await?;
            let (segments, _) = s
                .segments(
                    scope,
                    event.camera_id,
                    Some(event.at - overlap),
                    Some(event.at + overlap),
                    None,
                    16,
                )
                .await?;
            Ok(EventView { event, segments })
        })
        .await
    }

    async fn similar_events(
        &self,
        scope: TenantScope,
        id: Uuid,
        min: f32,
        limit: i64,
    ) -> Result<SimilarEvents, ApiError> {
        let found = self
            .db(move |s| async move { s.similar_events(scope, id, min, limit).await })
            .await?;
        Ok(SimilarEvents {
            items: found
                .into_iter()
                .map(|(event, similarity)| vms_messages::SimilarEvent { event, similarity })
                .collect(),
        })
    }

    async fn event_snapshot(&self, scope: TenantScope, id: Uuid) -> Result<Vec<u8>, ApiError> {
        self.db(move |s| async move { s.event_snapshot(scope, id).await })
            .await
    }

    async fn detectors(&self) -> Result<DetectorList, ApiError> {
        let running = self.models();
        let zoo = self
            .ctx
            .config
            .analytics
            .zoo_dir
            .clone()
            .unwrap_or_else(vms_models::registry::default_zoo);
        let (manifests, failed) =
            tokio::task::spawn_blocking(move || vms_models::registry::manifests(&zoo))
                .await
                .map_err(|_| ApiError::internal())?;
        for e in failed {
            tracing::warn!(error = %e, "model manifest refused");
        }
        let mut items: Vec<DetectorInfo> = manifests
            .into_iter()
            .filter(|m| m.family != vms_models::Family::Embedding)
            .map(|m| DetectorInfo {
                running: running.contains(&m.name),
                name: m.name,
                version: m.version,
                family: m.family.to_string(),
                labels: m.labels,
                licence: m.licence,
                input: [m.input.width, m.input.height],
            })
            .collect();
        items.extend(vms_models::builtin::NAMES.iter().map(|name| {
            DetectorInfo {
                name: (*name).to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                family: "builtin".into(),
                labels: vms_models::builtin::labels(name)
                    .iter()
                    .map(|l| (*l).to_string())
                    .collect(),
                licence: "Apache-2.0".into(),
                input: [320, 180],
                running: running.iter().any(|r| r == name),
            }
        }));
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DetectorList { items })
    }

    async fn create_rule(
        &self,
        scope: TenantScope,
        camera: CameraId,
        req: RuleCreate,
    ) -> Result<Rule, ApiError> {
        let known = self.models();
        if !known.contains(&req.detector) {
            return Err(ApiError::invalid(
                "detector",
                format!(
                    "unknown detector {:?}; this node runs: {}",
                    req.detector,
                    if known.is_empty() {
                        "none (analytics are off)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        let rule = self
            .db(move |s| async move { s.create_rule(scope, camera, &req).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }

    async fn list_rules(&self, scope: TenantScope, camera: CameraId) -> Result<RulePage, ApiError> {
        let items = self
            .db(move |s| async move { s.camera_rules(scope, camera).await })
            .await?;
        Ok(RulePage { items })
    }

    async fn get_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError> {
        self.db(move |s| async move { s.rule(scope, id).await })
            .await
    }

    async fn update_rule(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: RuleUpdate,
    ) -> Result<Rule, ApiError> {
        let current = self.get_rule(scope, id).await?;
        if let Some(kind) = vms_messages::RuleKind::parse(&current.kind) {
            req.check_kind(kind)?;
        }
        let rule = self
            .db(move |s| async move { s.update_rule(scope, id, &req).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }

    async fn delete_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError> {
        let rule = self
            .db(move |s| async move { s.delete_rule(scope, id).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }

    async fn create_channel(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: ChannelCreate,
        secret: Option<String>,
    ) -> Result<Channel, ApiError> {
        self.db(move |s| async move {
            s.create_channel(scope, tenant, &req, secret.as_deref())
                .await
        })
        .await
    }

    async fn list_channels(&self, scope: TenantScope, page: Page) -> Result<ChannelPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.channels(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(ChannelPage { items, next_cursor })
    }

    async fn get_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError> {
        self.db(move |s| async move { s.channel(scope, id).await })
            .await
    }

    async fn update_channel(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: ChannelUpdate,
    ) -> Result<Channel, ApiError> {
        let current = self.get_channel(scope, id).await?;
        req.check_kind(current.kind)?;
        self.db(move |s| async move { s.update_channel(scope, id, &req).await })
            .await
    }

    async fn delete_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError> {
        self.db(move |s| async move { s.delete_channel(scope, id).await })
            .await
    }

    async fn list_deliveries(
        &self,
        scope: TenantScope,
        channel: Uuid,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<DeliveryPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.deliveries(scope, channel, state, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(DeliveryPage { items, next_cursor })
    }

    async fn retry_delivery(&self, scope: TenantScope, id: Uuid) -> Result<Delivery, ApiError> {
        self.db(move |s| async move { s.retry_delivery(scope, id).await })
            .await
    }

    async fn nodes(&self) -> Result<vms_messages::NodeList, ApiError> {
        Ok(vms_messages::NodeList {
            items: self.node_views().await?,
        })
    }

    async fn drain_node(
        &self,
        id: &str,
        drained: bool,
    ) -> Result<vms_messages::NodeView, ApiError> {
        if !self.ownership.is_placed() {
            return Err(ApiError::conflict(
                "cluster.placement",
                "cameras are not placed across nodes (cluster.placement is off), so there is nothing to drain",
            ));
        }
        let nodes = self.node_views().await?;
        let Some(node) = nodes.iter().find(|n| n.id == id) else {
            return Err(ApiError::not_found("node"));
        };
        if drained && !node.drained {
            let others = nodes
                .iter()
                .filter(|n| {
                    n.id != id
                        && n.state == vms_messages::NodeState::Up
                        && !n.drained
                        && n.roles.iter().any(|r| r == "ingest")
                })
                .count();
            if others == 0 && node.placed > 0 {
                return Err(ApiError::conflict(
                    "id",
                    format!(
                        "node {id} is the last up, undrained ingest node: its {} cameras would have nowhere to record; start or undrain another node first",
                        node.placed
                    ),
                ));
            }
        }
        let node_id = id.to_string();
        self.db(move |s| async move { s.set_drained(&node_id, drained).await })
            .await?;
        tracing::info!(node_id = %id, drained, "node drain changed");
        let mut view = node.clone();
        view.drained = drained;
        Ok(view)
    }

    async fn remove_node(&self, id: &str) -> Result<(), ApiError> {
        let membership = self.membership()?;
        let nodes = self.node_views().await?;
        let Some(node) = nodes.iter().find(|n| n.id == id) else {
            return Err(ApiError::not_found("node"));
        };
        if !node.drained {
            return Err(ApiError::conflict(
                "id",
                format!("node {id} is not drained; drain it first (POST /api/v1/nodes/{id}/drain)"),
            ));
        }
        let node_id = id.to_string();
        let holds = self
            .db(move |s| async move { s.node_holds_cameras(&node_id).await })
            .await?;
        if holds > 0 {
            return Err(ApiError::conflict(
                "id",
                format!(
                    "node {id} still holds {holds} cameras; wait until the drain has moved them (GET /api/v1/placement?node={id})"
                ),
            ));
        }
        if node.state == vms_messages::NodeState::Up {
            return Err(ApiError::conflict(
                "id",
                format!("node {id} is still running; stop its process first"),
            ));
        }
        membership.forget(id).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot remove a node's heartbeat");
            ApiError::unavailable("NATS unavailable; retry shortly")
        })?;
        let node_id = id.to_string();
        self.db(move |s| async move { s.forget_node(&node_id).await })
            .await?;
        tracing::info!(node_id = %id, "node removed from the cluster");
        Ok(())
    }

    async fn placement(
        &self,
        after: Option<CameraId>,
        node: Option<String>,
        limit: i64,
    ) -> Result<vms_messages::PlacementView, ApiError> {
        self.db(move |s| async move {
            let leader = s.lease_holder(vms_actors::placement::LEASE).await?;
            let totals = s.placement_totals().await?;
            let items = s.placement_page(after, node.as_deref(), limit).await?;
            let next_cursor = (items.len() as i64 == limit)
                .then(|| items.last().map(|e| e.camera_id.to_string()))
                .flatten();
            Ok(vms_messages::PlacementView {
                leader_epoch: leader.as_ref().map(|l| l.epoch),
                leader: leader.map(|l| l.holder),
                moves: totals.moves,
                unplaced: totals.unplaced,
                handovers: totals.handovers,
                items,
                next_cursor,
            })
        })
        .await
    }

    fn event_feed(&self) -> Option<tokio::sync::broadcast::Receiver<Event>> {
        self.feed
            .as_ref()
            .map(tokio::sync::broadcast::Sender::subscribe)
    }

    async fn list_tickets(
        &self,
        scope: TenantScope,
        state: Option<TicketState>,
        page: Page,
    ) -> Result<TicketPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.tickets(scope, state, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(TicketPage { items, next_cursor })
    }

    async fn get_ticket(&self, scope: TenantScope, id: Uuid) -> Result<TicketView, ApiError> {
        self.db(move |s| async move { s.ticket(scope, id).await })
            .await
    }

    async fn move_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        action: TicketAction,
        actor: &Principal,
    ) -> Result<TicketView, ApiError> {
        let (email, user) = (actor.email.clone(), actor.user_id);
        self.db(
            move |s| async move { s.move_ticket(scope, id, action, (&email, user), None).await },
        )
        .await
    }

    async fn comment_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        actor: &Principal,
        text: String,
    ) -> Result<TicketView, ApiError> {
        let email = actor.email.clone();
        self.db(move |s| async move { s.comment_ticket(scope, id, &email, &text).await })
            .await
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>, ApiError> {
        self.db(|s| async move { s.signing_keys().await }).await
    }

    async fn add_signing_key(
        &self,
        kid: &str,
        secret: &[u8],
        grace: Option<Duration>,
    ) -> Result<(), ApiError> {
        let (kid, secret) = (kid.to_string(), secret.to_vec());
        self.db(move |s| async move { s.add_signing_key(&kid, &secret, grace).await })
            .await
    }

    async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>, ApiError> {
        let email = email.to_string();
        self.db(move |s| async move { s.user_credentials(&email).await })
            .await
    }

    async fn create_session(
        &self,
        user: UserId,
        refresh_hash: &[u8],
        expires_at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<Uuid, ApiError> {
        let (hash, ip) = (refresh_hash.to_vec(), ip.map(str::to_string));
        self.db(move |s| async move {
            s.create_session(user, &hash, expires_at, ip.as_deref())
                .await
        })
        .await
    }

    async fn refresh_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<Option<(Uuid, User)>, ApiError> {
        let (old, new) = (old_hash.to_vec(), new_hash.to_vec());
        self.db(move |s| async move { s.refresh_session(&old, &new, expires_at).await })
            .await
    }

    async fn revoke_session(&self, id: Uuid) -> Result<(), ApiError> {
        self.db(move |s| async move { s.revoke_session(id).await })
            .await
    }

    async fn session_user(&self, id: Uuid) -> Result<Option<User>, ApiError> {
        self.db(move |s| async move { s.session_user(id).await })
            .await
    }

    async fn api_key_credentials(&self, prefix: &str) -> Result<Option<KeyCredentials>, ApiError> {
        let prefix = prefix.to_string();
        self.db(move |s| async move { s.api_key_credentials(&prefix).await })
            .await
    }

    async fn api_key_live(&self, id: ApiKeyId) -> Result<bool, ApiError> {
        self.db(move |s| async move { s.api_key_live(id).await })
            .await
    }

    async fn create_user(&self, scope: TenantScope, user: NewUser) -> Result<User, ApiError> {
        self.db(move |s| async move { s.create_user(scope, &user).await })
            .await
    }

    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError> {
        self.db(move |s| async move { s.user(scope, id).await })
            .await
    }

    async fn list_users(&self, scope: TenantScope, page: Page) -> Result<UserPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.users(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(UserPage { items, next_cursor })
    }

    async fn update_user(
        &self,
        scope: TenantScope,
        id: UserId,
        change: UserChange,
    ) -> Result<User, ApiError> {
        self.db(move |s| async move { s.update_user(scope, id, &change).await })
            .await
    }

    async fn delete_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError> {
        self.db(move |s| async move { s.delete_user(scope, id).await })
            .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, ApiError> {
        self.db(move |s| async move { s.create_api_key(&key).await })
            .await
    }

    async fn list_api_keys(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        page: Page,
    ) -> Result<(Vec<ApiKey>, Option<String>), ApiError> {
        self.db(move |s| async move {
            s.api_keys(scope, owner, page.cursor.as_deref(), page.limit)
                .await
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        id: ApiKeyId,
    ) -> Result<ApiKey, ApiError> {
        self.db(move |s| async move { s.revoke_api_key(scope, owner, id).await })
            .await
    }

    async fn append_audit(&self, entry: AuditRecord) -> Result<(), ApiError> {
        self.db(move |s| async move { s.append_audit(&entry).await })
            .await
    }

    async fn list_audit(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<AuditPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.audit(scope, tenant, from, to, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(AuditPage { items, next_cursor })
    }
}
