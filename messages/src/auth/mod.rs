//! Identities and access: roles, permissions, tenant scopes, users, API keys, sessions and the audit log.
//!
//! The role → permission table here is the one place that decides who may do what; every API route
//! declares the [`Permission`] it needs in its OpenAPI `security` entry.

use crate::error::FieldError;
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (hashing cost does not depend on it, but there is no reason for more).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest e-mail address accepted (RFC 5321).
pub const MAX_EMAIL_CHARS: usize = 254;

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
    pub const ALL: [Permission; 22] = [
        Self::TenantsRead,
        Self::TenantsWrite,
        Self::CamerasRead,
        Self::CamerasWrite,
        Self::RecordingsRead,
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
                matches!(permission, TicketsWrite | NotificationsRead)
                    || Self::Viewer.permits(permission)
            }
            Self::Viewer => matches!(
                permission,
                TenantsRead
                    | CamerasRead
                    | RecordingsRead
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
        match (self.role, self.tenant_id) {
            (Role::PlatformAdmin, _) => TenantScope::All,
            (_, Some(t)) => TenantScope::Tenant(t),
            // A tenant-bound role without a tenant sees nothing: scope it to a tenant that cannot exist.
            (_, None) => TenantScope::Tenant(TenantId(Uuid::nil())),
        }
    }

    /// Whether this caller holds `permission`.
    pub fn permits(&self, permission: Permission) -> bool {
        self.role.permits(permission)
    }
}

/// A user account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// User id.
    pub id: UserId,
    /// Login e-mail, unique.
    pub email: String,
    /// The user's tenant; `null` for platform admins.
    pub tenant_id: Option<TenantId>,
    /// Role.
    pub role: Role,
    /// A disabled user cannot log in and its sessions and keys stop working.
    pub disabled: bool,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create a user.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    /// Login e-mail.
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    /// Password, 12-1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
    /// Role; never more than the caller's own.
    pub role: Role,
    /// Tenant of the user; a tenant admin's users are always in its tenant. Required for tenant
    /// roles created by a platform admin, absent for platform admins.
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

impl UserCreate {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_email("email", &self.email)?;
        validate_password("password", &self.password)
    }
}

/// Request body to change a user; absent fields stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// New role; never more than the caller's own.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable or re-enable; disabling ends the user's sessions.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// New password; ends the user's sessions.
    #[serde(default)]
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// Also revoke every API key of the user (after a suspected compromise). Disabling a user
    /// always revokes its keys.
    #[serde(default)]
    pub revoke_api_keys: Option<bool>,
}

impl UserUpdate {
    /// Checks every present field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(p) = &self.password {
            validate_password("password", p)?;
        }
        Ok(())
    }
}

/// A page of users.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserPage {
    /// Users, ordered by id.
    pub items: Vec<User>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An API key as listed (the secret itself is shown once, at creation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Key id.
    pub id: ApiKeyId,
    /// Name given at creation.
    pub name: String,
    /// Visible start of the key (`vms_<prefix>_…`), to recognise it.
    pub prefix: String,
    /// The user the key acts as.
    pub user_id: UserId,
    /// That user's tenant.
    pub tenant_id: Option<TenantId>,
    /// Role the key grants (never above its user's current role).
    pub role: Role,
    /// When the key stops working; `null` for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the key was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create an API key for oneself.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// A name to recognise the key by.
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Role the key grants; default and maximum: the caller's own.
    #[serde(default)]
    pub role: Option<Role>,
    /// Expiry (RFC 3339, in the future); absent for never.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiKeyCreate {
    /// Checks every field against `now`.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        if let Some(at) = self.expires_at
            && at <= now
        {
            return Err(FieldError::new("expires_at", "must be in the future"));
        }
        Ok(())
    }
}

/// A new API key: the secret `key`, shown this once, and its listing.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    /// The secret; send it as `Authorization: Bearer <key>`. It cannot be shown again.
    pub key: String,
    /// The key as listed from now on.
    pub api_key: ApiKey,
}

/// A page of API keys.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyPage {
    /// Keys, ordered by id.
    pub items: Vec<ApiKey>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Request body of `POST /auth/login`.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login e-mail.
    #[schema(max_length = 254)]
    pub email: String,
    /// Password.
    #[schema(max_length = 1024)]
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Request body of `POST /auth/refresh`.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh (each is good once).
    #[schema(max_length = 256)]
    pub refresh_token: String,
}

/// Tokens of a session.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Short-lived signed JWT; send it as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque token that buys a new pair once, at `POST /auth/refresh`.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

/// The caller, as `GET /auth/me` shows it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// User id.
    pub user_id: UserId,
    /// E-mail.
    pub email: String,
    /// Tenant; `null` for platform admins.
    pub tenant_id: Option<TenantId>,
    /// Effective role.
    pub role: Role,
    /// Permissions of that role.
    pub permissions: Vec<String>,
    /// `session` or `api_key`.
    pub credential: String,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Self {
        Self {
            user_id: p.user_id,
            email: p.email.clone(),
            tenant_id: p.tenant_id,
            role: p.role,
            permissions: Permission::ALL
                .into_iter()
                .filter(|perm| p.permits(*perm))
                .map(|perm| perm.as_str().to_string())
                .collect(),
            credential: match p.credential {
                Credential::Session(_) => "session".into(),
                Credential::ApiKey(_) => "api_key".into(),
            },
        }
    }
}

/// Answer of a signing key rotation.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SigningKeyRotated {
    /// Key id (`kid`) that signs new access tokens from now on.
    pub kid: String,
}

/// One line of the audit log: who did what to which object, when, from where, and the outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the log.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What was recorded.
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<AuditEntry>,
    /// Cursor of the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

// ---- records the store keeps (hashes, not secrets; never sent to clients) ----

/// A new user, its password already hashed.
#[derive(Clone, Debug)]
pub struct NewUser {
    /// Login e-mail.
    pub email: String,
    /// PHC string of the argon2id hash.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Tenant; `None` exactly for platform admins.
    pub tenant_id: Option<TenantId>,
}

/// Changes to a user, the password already hashed.
#[derive(Clone, Debug, Default)]
pub struct UserChange {
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// Revoke every API key of the user too.
    pub revoke_api_keys: bool,
}

/// A new API key, its secret already hashed.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Name.
    pub name: String,
    /// Visible, unique prefix.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub secret_hash: Vec<u8>,
    /// User the key acts as.
    pub user_id: UserId,
    /// Role it grants.
    pub role: Role,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A live API key with what is needed to check it.
#[derive(Clone, Debug)]
pub struct KeyCredentials {
    /// The key.
    pub key: ApiKey,
    /// SHA-256 of the whole key.
    pub secret_hash: Vec<u8>,
    /// Its user (enabled).
    pub user: User,
}

/// An HMAC key for access tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// Key id, carried in each token's `kid` header.
    pub kid: String,
    /// Secret.
    pub secret: Vec<u8>,
    /// When it was made; the newest signs.
    pub created_at: DateTime<Utc>,
}

/// What an audit line records (the log adds its position and time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Tenant the object belongs to (or the caller's); `null` for platform-wide actions.
    pub tenant_id: Option<TenantId>,
    /// Acting user, when known.
    pub user_id: Option<UserId>,
    /// Acting user's e-mail, the e-mail tried at a failed login, or `anonymous`.
    pub actor: String,
    /// `session`, `api_key`, or `null` when unauthenticated.
    pub credential: Option<String>,
    /// API key used, when one was.
    pub api_key_id: Option<ApiKeyId>,
    /// What was done: the API operation, e.g. `create_camera`.
    pub action: String,
    /// Kind of object acted on, e.g. `camera`.
    pub object_kind: Option<String>,
    /// Id of the object acted on.
    pub object_id: Option<String>,
    /// HTTP method and path.
    pub request: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Client address.
    pub ip: Option<String>,
}

/// An e-mail address: `local@domain`, 3-254 characters, no whitespace or control characters.
pub fn validate_email(field: &'static str, email: &str) -> Result<(), FieldError> {
    let ok = email.len() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "must be an e-mail address (local@domain, at most {MAX_EMAIL_CHARS} characters)"
            ),
        ))
    }
}

/// A password of 12-1024 characters.
pub fn validate_password(field: &'static str, password: &str) -> Result<(), FieldError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(FieldError::new(
            field,
            format!("must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters long"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_and_roles_nest() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
            assert!(Role::PlatformAdmin.permits(p));
            if Role::Viewer.permits(p) {
                assert!(Role::Operator.permits(p), "{p}");
            }
            if Role::Operator.permits(p) {
                assert!(Role::TenantAdmin.permits(p), "{p}");
            }
        }
        assert!(!Role::TenantAdmin.permits(Permission::TenantsWrite));
        assert!(!Role::Viewer.permits(Permission::CamerasWrite));
        assert!(Role::TenantAdmin.may_grant(Role::Viewer));
        assert!(!Role::Operator.may_grant(Role::TenantAdmin));
    }

    #[test]
    fn emails_and_passwords() {
        assert!(validate_email("email", "a@b").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(validate_email("email", bad).is_err(), "{bad}");
        }
        assert!(validate_password("password", "short").is_err());
        assert!(validate_password("password", "long enough pass").is_ok());
    }

    #[test]
    fn a_tenant_role_without_tenant_sees_nothing() {
        let p = Principal {
            user_id: UserId::new(),
            email: "x@y".into(),
            tenant_id: None,
            role: Role::Viewer,
            credential: Credential::Session(Uuid::nil()),
        };
        assert!(!p.scope().allows(TenantId::new()));
    }
}
