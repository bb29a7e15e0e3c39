//! Types that cross an actor, node, NATS or HTTP boundary: ids, tenants, cameras, segments, camera
//! status, events on NATS and the API's error shape. Everything here is plain serde data.

mod auth;
mod camera;
mod error;
mod event;
mod export;
mod hold;
mod ids;
mod live;
mod node;
mod notify;
mod placement;
mod rule;
mod segment;
pub mod subjects;
mod tenant;
mod ticket;
pub mod validate;
mod video;

// `subjects` (NATS subject names) and `validate` (input checks) are public namespaces of functions;
// the other modules are private and every wire type is re-exported here.
pub use auth::{
    ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyPage, AuditEntry, AuditPage, AuditRecord,
    Credential, KeyCredentials, LoginRequest, MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS,
    MIN_PASSWORD_CHARS, Me, NewApiKey, NewUser, Permission, Principal, RefreshRequest, Role,
    SigningKey, SigningKeyRotated, TenantScope, TokenPair, User, UserChange, UserCreate, UserPage,
    UserUpdate, validate_email, validate_password,
};
pub use camera::{
    Camera, CameraCreate, CameraState, CameraStatus, CameraUpdate, CameraView,
    MAX_CREDENTIAL_CHARS, MAX_SAMPLE_FPS, RtspCredentials, RtspTransport, StandbyStatus,
    StandbySync,
};
pub use error::{ErrorBody, ErrorDetail, FieldError};
pub use event::{
    ESCALATION_KIND, Event, EventFilter, EventPage, EventView, SimilarEvent, SimilarEvents,
    escalation_event_id, event_id,
};
pub use export::{
    Export, ExportCreate, ExportFile, ExportKey, ExportManifest, ExportPage, ExportState,
    MANIFEST_FORMAT, MAX_EXPORT_CAMERAS, ManifestFile, ManifestSegment, SignedManifest,
};
pub use hold::{EVENT_HOLD_MARGIN_SECONDS, Hold, HoldCreate, HoldPage, MAX_HOLD_DAYS};
pub use ids::{ApiKeyId, CameraId, TenantId, UserId};
pub use live::{
    LiveAudio, LiveAudioCodec, LiveAudioTrack, LiveFeed, LiveFrame, LiveTrack, RtpPayloads,
};
pub use node::{
    Change, ClusterChange, DiskUse, Heartbeat, NodeList, NodeState, NodeView, ReplicaLoad,
};
pub use notify::{
    Channel, ChannelCreate, ChannelCreated, ChannelKind, ChannelPage, ChannelUpdate,
    DELIVERY_HEADER, Delivery, DeliveryPage, DeliveryState, MAX_RECIPIENTS, SIGNATURE_HEADER,
    TIMESTAMP_HEADER, delivery_id, validate_email_address, validate_webhook_url,
};
pub use placement::{
    ModelPlacement, PlacementEntry, PlacementView, ReplicaPlacement, TenantPlacement,
};
pub use rule::{
    CrossingDirection, DetectorInfo, DetectorList, MAX_ZONE_POINTS, Rule, RuleCreate, RuleKind,
    RulePage, RulePriority, RuleUpdate, ScheduleWindow, Weekday, contains, in_schedule,
    validate_zone,
};
pub use segment::{
    CameraStorage, JobPriority, Segment, SegmentContainer, SegmentCopies, SegmentFragment,
    SegmentMedia, SegmentOrigin, SegmentPage, SegmentReady, VideoJob,
};
pub use tenant::{
    ACK_SLA_RANGE, DEFAULT_INFERENCE_SHARE, DEFAULT_MAX_CAMERAS, DEFAULT_RETENTION_DAYS,
    INFERENCE_SHARE_RANGE, MAX_CAMERAS_LIMIT, MAX_RETENTION_DAYS, MAX_STORAGE_QUOTA_BYTES,
    MIN_STORAGE_QUOTA_BYTES, Tenant, TenantCreate, TenantUpdate, TenantUsage, validate_detectors,
    validate_usage_period,
};
pub use ticket::{
    Ticket, TicketAction, TicketComment, TicketHistoryEntry, TicketPage, TicketState, TicketView,
};

pub use video::{
    DEFAULT_STREAM_TOKEN_SECONDS, GapReason, MAX_PLAYBACK_HOURS, MAX_STREAM_TOKEN_SECONDS,
    MAX_TIMELINE_BUCKETS, MIN_STREAM_TOKEN_SECONDS, StreamToken, StreamTokenRequest, Timeline,
    TimelineBucket, TimelineEvent, TimelineGap, TimelineSpan, validate_range,
};

/// Version of the wire format carried by NATS payloads; bumped on incompatible changes.
pub const WIRE_VERSION: u32 = 1;
