//! What the API needs from the node, one service trait per resource. The node implements them with
//! its store and actors; a handler's unit test implements the one its handler takes with a fake. Every method that touches a tenant's objects takes the caller's
//! [`TenantScope`], and the implementation applies it in its queries.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use uuid::Uuid;
use vms_messages::EventFilter;
use vms_messages::TenantUsage;
use vms_messages::{
    ApiKey, ApiKeyId, AuditPage, CameraCreate, CameraId, CameraStorage, CameraUpdate, CameraView,
    DetectorList, Event, EventPage, EventView, Rule, RuleCreate, RulePage, RuleUpdate, Segment,
    SegmentContainer, SegmentPage, SimilarEvents, Tenant, TenantCreate, TenantId, TenantScope,
    TenantUpdate, User, UserId, UserPage,
};
use vms_messages::{AuditRecord, KeyCredentials, NewApiKey, NewUser, SigningKey, UserChange};
use vms_messages::{
    Channel, ChannelCreate, ChannelPage, ChannelUpdate, Delivery, DeliveryPage, DeliveryState,
};
use vms_messages::{Export, ExportCreate, ExportKey, ExportPage, SignedManifest, Timeline};
use vms_messages::{Hold, HoldCreate, HoldPage, LiveFeed};
use vms_messages::{Principal, TicketAction, TicketPage, TicketState, TicketView};

/// A page of tenants.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantPage {
    /// Tenants, ordered by id.
    pub items: Vec<Tenant>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of cameras with their live status.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraPage {
    /// Cameras, ordered by id.
    pub items: Vec<CameraView>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where a list starts and how long it is.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Items wanted (validated: 1-1000).
    pub limit: i64,
}

/// Defines [`Backend`], the sum of the services, and [`register_services`], which registers each
/// for the handlers, from one list.
macro_rules! services {
    ($($service:ident),+) => {
        /// The node as the API sees it: every service below. Handlers and middleware take only the
        /// one service they use (a handler's unit test fakes that one); the node implements them all.
        pub trait Backend: $($service +)+ 'static {}

        impl<T: $($service +)+ 'static> Backend for T {}

        /// Registers each service of `backend` as the app data its handlers take.
        pub fn register_services(cfg: &mut actix_web::web::ServiceConfig, backend: &std::sync::Arc<dyn Backend>) {
            $(
                cfg.app_data(crate::Service::<dyn $service>::from(
                    std::sync::Arc::clone(backend) as std::sync::Arc<dyn $service>
                ));
            )+
        }
    };
}

services!(
    HealthService,
    TenantService,
    CameraService,
    HoldService,
    VideoService,
    ExportService,
    EventService,
    RuleService,
    TicketService,
    NotificationService,
    ClusterService,
    CredentialService,
    UserService,
    AuditService
);

/// Whether the node can serve. Every method is given validated input.
#[async_trait::async_trait]
pub trait HealthService: Send + Sync + 'static {
    /// Whether the node can serve (database reachable, actors running); the error says why not.
    async fn ready(&self) -> Result<(), String>;
}

/// Tenants and their licences (platform admins). Every method is given validated input.
#[async_trait::async_trait]
pub trait TenantService: Send + Sync + 'static {
    /// Creates a tenant.
    async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError>;

    /// Lists the tenants within `scope`.
    async fn list_tenants(&self, scope: TenantScope, page: Page) -> Result<TenantPage, ApiError>;

    /// One tenant within `scope`.
    async fn get_tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, ApiError>;

    /// Changes a tenant.
    async fn update_tenant(&self, id: TenantId, req: TenantUpdate) -> Result<Tenant, ApiError>;

    /// Deletes a tenant without cameras.
    async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError>;

    /// What the tenant (within `scope`) used from `from` to `to`.
    async fn tenant_usage(
        &self,
        scope: TenantScope,
        id: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<TenantUsage, ApiError>;
}

/// Cameras, with their live status, and their recorded segments. Every method is given validated input.
#[async_trait::async_trait]
pub trait CameraService: Send + Sync + 'static {
    /// Adds a camera to `tenant` (within `scope`) and starts recording it.
    async fn create_camera(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: CameraCreate,
    ) -> Result<CameraView, ApiError>;

    /// Lists the cameras within `scope`, optionally of one tenant.
    async fn list_cameras(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        page: Page,
    ) -> Result<CameraPage, ApiError>;

    /// One camera within `scope`, with live status.
    async fn get_camera(&self, scope: TenantScope, id: CameraId) -> Result<CameraView, ApiError>;

    /// Changes a camera within `scope`, live.
    async fn update_camera(
        &self,
        scope: TenantScope,
        id: CameraId,
        req: CameraUpdate,
    ) -> Result<CameraView, ApiError>;

    /// Deletes a camera within `scope` and its recordings.
    async fn delete_camera(&self, scope: TenantScope, id: CameraId) -> Result<(), ApiError>;

    /// A page of a camera's segments overlapping `[from, to)`.
    async fn list_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<SegmentPage, ApiError>;

    /// One segment's index entry within `scope`.
    async fn get_segment(&self, scope: TenantScope, id: i64) -> Result<Segment, ApiError>;

    /// Where the bytes of a segment within `scope` are read from.
    async fn segment_source(&self, scope: TenantScope, id: i64) -> Result<SegmentSource, ApiError>;

    /// Where a camera's footage within `scope` is kept: bytes per tier and the oldest footage.
    async fn camera_storage(
        &self,
        scope: TenantScope,
        id: CameraId,
    ) -> Result<CameraStorage, ApiError>;
}

/// Evidence holds. Every method is given validated input.
#[async_trait::async_trait]
pub trait HoldService: Send + Sync + 'static {
    /// Places a hold on a camera within `scope` (404 when the camera is not in it).
    async fn create_hold(
        &self,
        scope: TenantScope,
        req: HoldCreate,
        created_by: String,
    ) -> Result<Hold, ApiError>;

    /// A page of the holds within `scope`, optionally of one camera.
    async fn list_holds(
        &self,
        scope: TenantScope,
        camera: Option<CameraId>,
        page: Page,
    ) -> Result<HoldPage, ApiError>;

    /// One hold within `scope`.
    async fn get_hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, ApiError>;

    /// Releases a hold within `scope`.
    async fn release_hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, ApiError>;

    /// Holds an event within `scope` and the footage around it; `false` when it was held already.
    async fn hold_event(
        &self,
        scope: TenantScope,
        event: Uuid,
        created_by: String,
    ) -> Result<(Hold, bool), ApiError>;
}

/// Where a segment's bytes are read from.
pub enum SegmentSource {
    /// A file on this node's disk (its own recording, or its copy as the camera's standby).
    File(PathBuf),
    /// A copy elsewhere (the object store), read by byte range.
    Remote {
        /// Its length in bytes.
        len: u64,
        /// What the bytes hold.
        container: SegmentContainer,
        /// Reads its byte ranges.
        reader: std::sync::Arc<dyn RangeReader>,
    },
}

/// Reads byte ranges of one stored object.
#[async_trait::async_trait]
pub trait RangeReader: Send + Sync + 'static {
    /// The bytes of `range` (within the object's length).
    async fn read(&self, range: std::ops::Range<u64>) -> Result<bytes::Bytes, ApiError>;
}

/// Recorded video of one camera: HLS playback, the timeline, snapshots. Every method is given
/// validated input, and answers 404 for a camera outside `scope`.
#[async_trait::async_trait]
pub trait VideoService: Send + Sync + 'static {
    /// The camera's segments overlapping `from..to`, oldest first (the range is at most
    /// [`vms_messages::MAX_PLAYBACK_HOURS`] long).
    async fn playback_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Segment>, ApiError>;

    /// A segment of `camera` as an HLS media segment: its bytes from whichever copy is reachable,
    /// with each fragment's decode time moved onto the camera's wall-clock timeline (so a
    /// playlist of consecutive segments plays without discontinuities). Same length as the file.
    async fn vod_segment(
        &self,
        scope: TenantScope,
        camera: CameraId,
        id: i64,
    ) -> Result<(bytes::Bytes, SegmentContainer), ApiError>;

    /// The camera's recorded spans, gaps (with why), events and `buckets` buckets over `from..to`.
    async fn timeline(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Timeline, ApiError>;

    /// A JPEG of the frame nearest `at` (the latest recorded one when `None`), decoded from the
    /// keyframe that starts its fragment.
    async fn snapshot(
        &self,
        scope: TenantScope,
        camera: CameraId,
        at: Option<DateTime<Utc>>,
    ) -> Result<Vec<u8>, ApiError>;

    /// A subscription to `camera`'s live video: its current group of pictures, then each frame as
    /// the node receives it. 404 for a camera outside `scope`; 503 naming the node that records
    /// it when that is another node.
    async fn live(&self, scope: TenantScope, camera: CameraId) -> Result<LiveFeed, ApiError>;
}

/// Exports and their signed manifests. Every method is given validated input.
#[async_trait::async_trait]
pub trait ExportService: Send + Sync + 'static {
    /// Starts an export (its cameras all within `scope`, else 404; its range within
    /// `exports.max_hours`, else 400) and holds its footage.
    async fn create_export(
        &self,
        scope: TenantScope,
        req: ExportCreate,
        created_by: String,
    ) -> Result<Export, ApiError>;

    /// A page of the exports within `scope`, newest first.
    async fn list_exports(&self, scope: TenantScope, page: Page) -> Result<ExportPage, ApiError>;

    /// One export with its progress.
    async fn get_export(&self, scope: TenantScope, id: Uuid) -> Result<Export, ApiError>;

    /// Deletes an export's files and releases the holds it placed.
    async fn delete_export(&self, scope: TenantScope, id: Uuid) -> Result<Export, ApiError>;

    /// Where a written export file is (409 while it is being written).
    async fn export_file(
        &self,
        scope: TenantScope,
        id: Uuid,
        camera: CameraId,
    ) -> Result<SegmentSource, ApiError>;

    /// A written file's signed manifest.
    async fn export_manifest(
        &self,
        scope: TenantScope,
        id: Uuid,
        camera: CameraId,
    ) -> Result<SignedManifest, ApiError>;

    /// The cluster's export signing key (public half).
    fn export_key(&self) -> ExportKey;
}

/// Detection events, their snapshots and look-alikes, and the live feed. Every method is given validated input.
#[async_trait::async_trait]
pub trait EventService: Send + Sync + 'static {
    /// A page of events within `scope`, newest first.
    async fn list_events(
        &self,
        scope: TenantScope,
        filter: EventFilter,
        page: Page,
    ) -> Result<EventPage, ApiError>;

    /// One event within `scope`, with the segments that cover it.
    async fn get_event(&self, scope: TenantScope, id: Uuid) -> Result<EventView, ApiError>;

    /// Events within `scope` that look like event `id` (appearance similarity at least `min`).
    async fn similar_events(
        &self,
        scope: TenantScope,
        id: Uuid,
        min: f32,
        limit: i64,
    ) -> Result<SimilarEvents, ApiError>;

    /// An event's JPEG snapshot within `scope`.
    async fn event_snapshot(&self, scope: TenantScope, id: Uuid) -> Result<Vec<u8>, ApiError>;

    /// Live events as they are published on JetStream; `None` when this node has no feed.
    fn event_feed(&self) -> Option<tokio::sync::broadcast::Receiver<Event>>;
}

/// The detectors a node runs and the rules that use them. Every method is given validated input.
#[async_trait::async_trait]
pub trait RuleService: Send + Sync + 'static {
    /// The detectors of the model zoo, and which one this node runs.
    async fn detectors(&self) -> Result<DetectorList, ApiError>;

    /// Adds a rule to a camera within `scope`; the detector must be known and allowed by the licence.
    async fn create_rule(
        &self,
        scope: TenantScope,
        camera: CameraId,
        req: RuleCreate,
    ) -> Result<Rule, ApiError>;

    /// A camera's rules within `scope`.
    async fn list_rules(&self, scope: TenantScope, camera: CameraId) -> Result<RulePage, ApiError>;

    /// One rule within `scope`.
    async fn get_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError>;

    /// Changes a rule within `scope`.
    async fn update_rule(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: RuleUpdate,
    ) -> Result<Rule, ApiError>;

    /// Deletes a rule within `scope`.
    async fn delete_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError>;
}

/// Tickets raised by rules, their workflow and comments. Every method is given validated input.
#[async_trait::async_trait]
pub trait TicketService: Send + Sync + 'static {
    /// A page of tickets within `scope`, newest first.
    async fn list_tickets(
        &self,
        scope: TenantScope,
        state: Option<TicketState>,
        page: Page,
    ) -> Result<TicketPage, ApiError>;

    /// One ticket with its history, within `scope`.
    async fn get_ticket(&self, scope: TenantScope, id: Uuid) -> Result<TicketView, ApiError>;

    /// Moves a ticket within `scope` on behalf of `actor`.
    async fn move_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        action: TicketAction,
        actor: &Principal,
    ) -> Result<TicketView, ApiError>;

    /// Comments on a ticket within `scope`.
    async fn comment_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        actor: &Principal,
        text: String,
    ) -> Result<TicketView, ApiError>;
}

/// Notification channels and their deliveries. Every method is given validated input.
#[async_trait::async_trait]
pub trait NotificationService: Send + Sync + 'static {
    /// Adds a notification channel to `tenant` (within `scope`); `secret` signs a webhook's deliveries.
    async fn create_channel(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: ChannelCreate,
        secret: Option<String>,
    ) -> Result<Channel, ApiError>;

    /// The notification channels within `scope`.
    async fn list_channels(&self, scope: TenantScope, page: Page) -> Result<ChannelPage, ApiError>;

    /// One channel within `scope`.
    async fn get_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError>;

    /// Changes a channel within `scope`; fields that do not fit its kind are refused.
    async fn update_channel(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: ChannelUpdate,
    ) -> Result<Channel, ApiError>;

    /// Deletes a channel within `scope`.
    async fn delete_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError>;

    /// A page of a channel's deliveries within `scope`, newest first.
    async fn list_deliveries(
        &self,
        scope: TenantScope,
        channel: Uuid,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<DeliveryPage, ApiError>;

    /// Queues a dead letter within `scope` again.
    async fn retry_delivery(&self, scope: TenantScope, id: Uuid) -> Result<Delivery, ApiError>;
}

/// The cluster's nodes and the placement of cameras on them. Every method is given validated input.
#[async_trait::async_trait]
pub trait ClusterService: Send + Sync + 'static {
    /// The cluster's nodes as this node sees them.
    async fn nodes(&self) -> Result<vms_messages::NodeList, ApiError>;

    /// Drains (`true`) or undrains a node; its view after the change.
    async fn drain_node(&self, id: &str, drained: bool)
    -> Result<vms_messages::NodeView, ApiError>;

    /// Removes a drained, stopped node that holds no camera.
    async fn remove_node(&self, id: &str) -> Result<(), ApiError>;

    /// A page of the placement map after camera `after`, optionally one node's.
    async fn placement(
        &self,
        after: Option<vms_messages::CameraId>,
        node: Option<String>,
        limit: i64,
    ) -> Result<vms_messages::PlacementView, ApiError>;
}

/// What authentication reads and writes: signing keys, password hashes, sessions, API key secrets. Every method is given validated input.
#[async_trait::async_trait]
pub trait CredentialService: Send + Sync + 'static {
    /// Signing keys still good for verification, newest first.
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, ApiError>;

    /// Adds a signing key that signs from now on; the others retire after `grace` (never when `None`).
    async fn add_signing_key(
        &self,
        kid: &str,
        secret: &[u8],
        grace: Option<Duration>,
    ) -> Result<(), ApiError>;

    /// An enabled user and its password hash, by e-mail.
    async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>, ApiError>;

    /// Opens a session; returns its id.
    async fn create_session(
        &self,
        user: UserId,
        refresh_hash: &[u8],
        expires_at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<Uuid, ApiError>;

    /// Swaps a live session's refresh token for a new one.
    async fn refresh_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<Option<(Uuid, User)>, ApiError>;

    /// Ends a session.
    async fn revoke_session(&self, id: Uuid) -> Result<(), ApiError>;

    /// The enabled user of a live session.
    async fn session_user(&self, id: Uuid) -> Result<Option<User>, ApiError>;

    /// A live API key by prefix, with its user.
    async fn api_key_credentials(&self, prefix: &str) -> Result<Option<KeyCredentials>, ApiError>;

    /// Whether API key `id` still works (not revoked or expired, its user enabled).
    async fn api_key_live(&self, id: ApiKeyId) -> Result<bool, ApiError>;
}

/// Users and API keys, as administrators manage them. Every method is given validated input.
#[async_trait::async_trait]
pub trait UserService: Send + Sync + 'static {
    /// Creates a user; its tenant must be within `scope`.
    async fn create_user(&self, scope: TenantScope, user: NewUser) -> Result<User, ApiError>;

    /// One user within `scope`.
    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError>;

    /// Lists the users within `scope`.
    async fn list_users(&self, scope: TenantScope, page: Page) -> Result<UserPage, ApiError>;

    /// Changes a user within `scope`.
    async fn update_user(
        &self,
        scope: TenantScope,
        id: UserId,
        change: UserChange,
    ) -> Result<User, ApiError>;

    /// Deletes a user within `scope`.
    async fn delete_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError>;

    /// Stores an API key.
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, ApiError>;

    /// Lists API keys within `scope`, optionally only `owner`'s.
    async fn list_api_keys(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        page: Page,
    ) -> Result<(Vec<ApiKey>, Option<String>), ApiError>;

    /// Revokes an API key within `scope` (and `owner`'s, when given).
    async fn revoke_api_key(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        id: ApiKeyId,
    ) -> Result<ApiKey, ApiError>;
}

/// The audit log. Every method is given validated input.
#[async_trait::async_trait]
pub trait AuditService: Send + Sync + 'static {
    /// Appends to the audit log.
    async fn append_audit(&self, entry: AuditRecord) -> Result<(), ApiError>;

    /// Reads the audit log within `scope`, newest first.
    async fn list_audit(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<AuditPage, ApiError>;
}
