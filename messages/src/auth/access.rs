//! Who may do what: roles, their permissions, tenant scopes, and the authenticated caller.

use crate::ids::{ApiKeyId, CameraId, TenantId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A role: a fixed set of permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, across all tenants: tenants and licences, nodes, placement, signing keys.
    PlatformAdmin,
    /// Its tenant's users, cameras, recordings, API keys and audit log; views its licence.
    TenantAdmin,
    /// Live view, recordings, events and tickets of its tenant.
    Operator,
    /// Read-only access to its tenant's cameras and recordings.
    Viewer,
}

/// Something a caller may be allowed to do; written `area:verb` in the OpenAPI document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read tenants (a tenant's own users see only their tenant and its licence).
    TenantsRead,
    /// Create, change and delete tenants and their licences.
    TenantsWrite,
    /// Read cameras and their status.
    CamerasRead,
    /// Add, change and delete cameras.
    CamerasWrite,
    /// Read the segment index and download recordings.
    RecordingsRead,
    /// Place and release evidence holds on recordings (and mark events as held).
    RecordingsHold,
    /// Watch recorded video: HLS playback, the timeline, snapshots, stream tokens for players.
    VideoPlayback,
    /// Watch live video (WebRTC, MSE over WebSocket).
    VideoLive,
    /// Export recorded video as signed MP4 files (the exports hold their footage).
    VideoExport,
    /// Read analytics events and their snapshots.
    EventsRead,
    /// Read analytics rules.
    RulesRead,
    /// Create, change and delete analytics rules.
    RulesWrite,
    /// Read tickets.
    TicketsRead,
    /// Acknowledge, resolve, close and comment on tickets.
    TicketsWrite,
    /// Read notification channels and their delivery log.
    NotificationsRead,
    /// Create, change and delete notification channels; retry dead letters.
    NotificationsWrite,
    /// Read users.
    UsersRead,
    /// Create, change and delete users.
    UsersWrite,
    /// Read API keys (one's own; a tenant admin's whole tenant).
    ApiKeysRead,
    /// Create and revoke API keys.
    ApiKeysWrite,
    /// Read the audit log.
    AuditRead,
    /// Scrape `/metrics` (it covers every tenant).
    MetricsRead,
    /// Rotate the signing keys of access tokens.
    SigningKeysWrite,
    /// See the cluster's nodes and the placement map.
    NodesRead,
    /// Drain, undrain and remove nodes.
    NodesWrite,
    /// Use one's own session: who am I, log out.
    Session,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 26] = [
        Self::TenantsRead,
        Self::TenantsWrite,
        Self::CamerasRead,
        Self::CamerasWrite,
        Self::RecordingsRead,
        Self::RecordingsHold,
        Self::VideoPlayback,
        Self::VideoLive,
        Self::VideoExport,
        Self::EventsRead,
        Self::RulesRead,
        Self::RulesWrite,
        Self::TicketsRead,
        Self::TicketsWrite,
        Self::NotificationsRead,
        Self::NotificationsWrite,
        Self::UsersRead,
        Self::UsersWrite,
        Self::ApiKeysRead,
        Self::ApiKeysWrite,
        Self::AuditRead,
        Self::MetricsRead,
        Self::SigningKeysWrite,
        Self::NodesRead,
        Self::NodesWrite,
        Self::Session,
    ];

    /// The scope string used in the OpenAPI document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantsRead => "tenants:read",
            Self::TenantsWrite => "tenants:write",
            Self::CamerasRead => "cameras:read",
            Self::CamerasWrite => "cameras:write",
            Self::RecordingsRead => "recordings:read",
            Self::RecordingsHold => "recordings:hold",
            Self::VideoPlayback => "video:playback",
            Self::VideoLive => "video:live",
            Self::VideoExport => "video:export",
            Self::EventsRead => "events:read",
            Self::RulesRead => "rules:read",
            Self::RulesWrite => "rules:write",
            Self::TicketsRead => "tickets:read",
            Self::TicketsWrite => "tickets:write",
            Self::NotificationsRead => "notifications:read",
            Self::NotificationsWrite => "notifications:write",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::ApiKeysRead => "api_keys:read",
            Self::ApiKeysWrite => "api_keys:write",
            Self::AuditRead => "audit:read",
            Self::MetricsRead => "metrics:read",
            Self::SigningKeysWrite => "signing_keys:write",
            Self::NodesRead => "nodes:read",
            Self::NodesWrite => "nodes:write",
            Self::Session => "session",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown permission {s:?}"))
    }
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [
        Self::PlatformAdmin,
        Self::TenantAdmin,
        Self::Operator,
        Self::Viewer,
    ];

    /// The role as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlatformAdmin => "platform_admin",
            Self::TenantAdmin => "tenant_admin",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    /// Whether this role holds `permission`.
    pub fn permits(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::PlatformAdmin => true,
            Self::TenantAdmin => matches!(
                permission,
                TenantsRead
                    | CamerasRead
                    | CamerasWrite
                    | RecordingsRead
                    | RecordingsHold
                    | VideoPlayback
                    | VideoLive
                    | VideoExport
                    | EventsRead
                    | RulesRead
                    | RulesWrite
                    | TicketsRead
                    | TicketsWrite
                    | NotificationsRead
                    | NotificationsWrite
                    | UsersRead
                    | UsersWrite
                    | ApiKeysRead
                    | ApiKeysWrite
                    | AuditRead
                    | Session
            ),
            Self::Operator => {
                matches!(
                    permission,
                    TicketsWrite | NotificationsRead | RecordingsHold | VideoExport
                ) || Self::Viewer.permits(permission)
            }
            Self::Viewer => matches!(
                permission,
                TenantsRead
                    | CamerasRead
                    | RecordingsRead
                    | VideoPlayback
                    | VideoLive
                    | EventsRead
                    | RulesRead
                    | TicketsRead
                    | ApiKeysRead
                    | ApiKeysWrite
                    | Session
            ),
        }
    }

    /// Whether this role may hand out `other` (to a new user or an API key): never more than it has.
    pub fn may_grant(self, other: Role) -> bool {
        self.rank() >= other.rank()
    }

    /// Whether this role ranks strictly above `other`.
    pub fn outranks(self, other: Role) -> bool {
        self.rank() > other.rank()
    }

    /// Whether users of this role belong to one tenant (every role but platform admin).
    pub fn is_tenant_bound(self) -> bool {
        self != Self::PlatformAdmin
    }

    fn rank(self) -> u8 {
        match self {
            Self::PlatformAdmin => 3,
            Self::TenantAdmin => 2,
            Self::Operator => 1,
            Self::Viewer => 0,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}"))
    }
}

/// Which tenants' data a query may touch; applied in SQL, never by filtering afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantScope {
    /// Every tenant (platform admins, the node itself).
    All,
    /// One tenant only.
    Tenant(TenantId),
}

impl TenantScope {
    /// The tenant to filter on; `None` for all.
    pub fn tenant(self) -> Option<TenantId> {
        match self {
            Self::All => None,
            Self::Tenant(t) => Some(t),
        }
    }

    /// Whether an object of `tenant` is within this scope.
    pub fn allows(self, tenant: TenantId) -> bool {
        match self {
            Self::All => true,
            Self::Tenant(t) => t == tenant,
        }
    }
}

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Credential {
    /// A login session (access token); its id.
    Session(Uuid),
    /// An API key; its id.
    ApiKey(ApiKeyId),
    /// A stream token (a media URL's `token`), good for one camera's video only.
    StreamToken(CameraId),
}

impl Credential {
    /// What kind of credential it is, as the audit log and `/auth/me` name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Session(_) => "session",
            Self::ApiKey(_) => "api_key",
            Self::StreamToken(_) => "stream_token",
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user (an API key acts as the user that created it).
    pub user_id: UserId,
    /// The user's e-mail, for the audit log.
    pub email: String,
    /// The user's tenant; `None` for platform admins.
    pub tenant_id: Option<TenantId>,
    /// Effective role (an API key's role, never above its user's).
    pub role: Role,
    /// What the caller presented.
    pub credential: Credential,
}

impl Principal {
    /// The tenants this caller may see.
    pub fn scope(&self) -> TenantScope {
        if let (Credential::StreamToken(_), Some(t)) = (self.credential, self.tenant_id) {
            // A stream token sees its camera's tenant only, whoever issued it.
            return TenantScope::Tenant(t);
        }
        match (self.role, self.tenant_id) {
            (Role::PlatformAdmin, _) => TenantScope::All,
            (_, Some(t)) => TenantScope::Tenant(t),
            // A tenant-bound role without a tenant sees nothing: scope it to a tenant that cannot exist.
            (_, None) => TenantScope::Tenant(TenantId(Uuid::nil())),
        }
    }

    /// Whether this caller holds `permission`. A stream token holds nothing but
    /// [`Permission::VideoPlayback`] and [`Permission::VideoLive`] (of its one camera, which the
    /// guard checks on the path).
    pub fn permits(&self, permission: Permission) -> bool {
        match self.credential {
            Credential::StreamToken(_) => {
                matches!(
                    permission,
                    Permission::VideoPlayback | Permission::VideoLive
                ) && self.role.permits(permission)
            }
            _ => self.role.permits(permission),
        }
    }
}
