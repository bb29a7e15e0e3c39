//! Types that cross an actor, node, NATS or HTTP boundary: ids, tenants, cameras, segments, camera
//! status, events on NATS and the API's error shape. Everything here is plain serde data.

pub mod auth;
pub mod camera;
pub mod error;
pub mod event;
pub mod ids;
pub mod node;
pub mod notify;
pub mod placement;
pub mod rule;
pub mod segment;
pub mod subjects;
pub mod tenant;
pub mod ticket;
pub mod validate;

pub use auth::{
    ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage, AuditEntry, AuditPage, Credential,
    LoginRequest, Me, Permission, Principal, RefreshRequest, Role, SigningKeyRotated, TenantScope,
    TokenPair, User, UserCreate, UserPage, UserUpdate,
};
pub use camera::{Camera, CameraCreate, CameraState, CameraStatus, CameraUpdate, CameraView};
pub use error::{ErrorBody, ErrorDetail, FieldError};
pub use event::{Event, EventPage, EventView, SimilarEvent, SimilarEvents};
pub use ids::{ApiKeyId, CameraId, TenantId, UserId};
pub use node::{Change, ClusterChange, Heartbeat, NodeList, NodeState, NodeView};
pub use notify::{
    Channel, ChannelCreate, ChannelCreated, ChannelKind, ChannelPage, ChannelUpdate, Delivery,
    DeliveryPage, DeliveryState,
};
pub use placement::{PlacementEntry, PlacementView};
pub use rule::{
    CrossingDirection, DetectorInfo, DetectorList, Rule, RuleCreate, RuleKind, RulePage,
    RuleUpdate, ScheduleWindow, Weekday,
};
pub use segment::{JobPriority, Segment, SegmentOrigin, SegmentPage, SegmentReady, VideoJob};
pub use tenant::{Tenant, TenantCreate, TenantUpdate};
pub use ticket::{
    Ticket, TicketAction, TicketComment, TicketHistoryEntry, TicketPage, TicketState, TicketView,
};

/// Version of the wire format carried by NATS payloads; bumped on incompatible changes.
pub const WIRE_VERSION: u32 = 1;
