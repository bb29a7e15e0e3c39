//! Users, API keys, sessions and tokens, the audit log, and the records the store keeps of them.

use super::{MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, Permission, Principal, Role};
use crate::error::FieldError;
use crate::ids::{ApiKeyId, TenantId, UserId};
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// Keep the refresh token in the `vms_refresh` cookie (HttpOnly, Secure, SameSite=Strict) instead
    /// of the answer, whose `refresh_token` is then empty: what the web console asks, so no script
    /// can read it. `POST /auth/refresh` with an empty body then reads the cookie.
    #[serde(default)]
    pub refresh_cookie: bool,
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
    /// The refresh token of the last login or refresh (each is good once). Empty or absent: the
    /// `vms_refresh` cookie's, and the new one goes back in the cookie.
    #[schema(max_length = 256)]
    #[serde(default)]
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
            credential: p.credential.kind().into(),
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
