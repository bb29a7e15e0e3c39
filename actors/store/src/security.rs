//! Users, sessions, API keys, signing keys and the audit log. Every query that reads or changes a
//! tenant's objects takes a [`TenantScope`] and applies it in SQL.

use super::{MAX_PAGE, Store, StoreError, decode_id_cursor, scope_param, unique_as_conflict};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;
use vms_messages::{ApiKey, ApiKeyId, AuditEntry, Role, TenantId, TenantScope, User, UserId};
use vms_messages::{AuditRecord, KeyCredentials, NewApiKey, NewUser, SigningKey, UserChange};

const USER_COLS: &str = "id, email, tenant_id, role, disabled, created_at";
const KEY_COLS: &str = "k.id, k.name, k.prefix, k.user_id, u.tenant_id, k.role, k.expires_at, k.revoked_at, k.created_at";
const AUDIT_COLS: &str = "id, at, tenant_id, user_id, actor, credential, api_key_id, action, object_kind, object_id, request, status, ip";

fn role_of(row: &Row, col: &str) -> Role {
    // The table's CHECK constraint admits only known roles; the fallback is the least privileged.
    row.get::<_, String>(col).parse().unwrap_or(Role::Viewer)
}

fn user_from_row(row: &Row) -> User {
    User {
        id: UserId(row.get("id")),
        email: row.get("email"),
        tenant_id: row.get::<_, Option<Uuid>>("tenant_id").map(TenantId),
        role: role_of(row, "role"),
        disabled: row.get("disabled"),
        created_at: row.get("created_at"),
    }
}

fn key_from_row(row: &Row) -> ApiKey {
    ApiKey {
        id: ApiKeyId(row.get("id")),
        name: row.get("name"),
        prefix: row.get("prefix"),
        user_id: UserId(row.get("user_id")),
        tenant_id: row.get::<_, Option<Uuid>>("tenant_id").map(TenantId),
        role: role_of(row, "role"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
        created_at: row.get("created_at"),
    }
}

fn audit_from_row(row: &Row) -> AuditEntry {
    AuditEntry {
        id: row.get("id"),
        at: row.get("at"),
        record: AuditRecord {
            tenant_id: row.get::<_, Option<Uuid>>("tenant_id").map(TenantId),
            user_id: row.get::<_, Option<Uuid>>("user_id").map(UserId),
            actor: row.get("actor"),
            credential: row.get("credential"),
            api_key_id: row.get::<_, Option<Uuid>>("api_key_id").map(ApiKeyId),
            action: row.get("action"),
            object_kind: row.get("object_kind"),
            object_id: row.get("object_id"),
            request: row.get("request"),
            status: u16::try_from(row.get::<_, i32>("status")).unwrap_or(0),
            ip: row.get("ip"),
        },
    }
}

/// Cursor of the audit log (newest first): the last id seen.
fn decode_audit_cursor(cursor: Option<&str>) -> Result<i64, StoreError> {
    match cursor {
        None => Ok(i64::MAX),
        Some(c) => c.parse().map_err(|_| StoreError::InvalidCursor),
    }
}

impl Store {
    // ---- users ----

    /// Whether any platform admin exists.
    pub async fn platform_admin_exists(&self) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM users WHERE role = 'platform_admin' LIMIT 1",
                &[],
            )
            .await?
            .is_some())
    }

    /// Creates the first platform admin unless one exists; `None` when one did.
    pub async fn bootstrap_admin(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "INSERT INTO users (id, email, password_hash, role)
                     SELECT $1, $2, $3, 'platform_admin'
                     WHERE NOT EXISTS (SELECT 1 FROM users WHERE role = 'platform_admin')
                     ON CONFLICT DO NOTHING RETURNING {USER_COLS}"
                ),
                &[&UserId::new().0, &email, &password_hash],
            )
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    /// Creates a user; its tenant must exist within `scope`.
    pub async fn create_user(
        &self,
        scope: TenantScope,
        user: &NewUser,
    ) -> Result<User, StoreError> {
        let client = self.pool.get().await?;
        if let Some(t) = user.tenant_id {
            let known = client
                .query_opt(
                    "SELECT 1 FROM tenants WHERE id = $1 AND ($2::uuid IS NULL OR id = $2)",
                    &[&t.0, &scope_param(scope)],
                )
                .await?
                .is_some();
            if !known {
                return Err(StoreError::UnknownReference {
                    field: "tenant_id",
                    message: "unknown tenant".into(),
                });
            }
        }
        let result = client
            .query_one(
                &format!(
                    "INSERT INTO users (id, email, password_hash, tenant_id, role) VALUES ($1, $2, $3, $4, $5)
                     RETURNING {USER_COLS}"
                ),
                &[
                    &UserId::new().0,
                    &user.email,
                    &user.password_hash,
                    &user.tenant_id.map(|t| t.0),
                    &user.role.as_str(),
                ],
            )
            .await;
        // Addresses are login names, unique on the platform: the answer says the address is taken,
        // never by whom or in which tenant.
        let row = unique_as_conflict(result, "email", || {
            "this e-mail address cannot be used; choose another".to_string()
        })?;
        Ok(user_from_row(&row))
    }

    /// A user within `scope` (platform admins are outside every tenant scope).
    pub async fn user(&self, scope: TenantScope, id: UserId) -> Result<User, StoreError> {
        self.one(
            &format!(
                "SELECT {USER_COLS} FROM users WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"
            ),
            &[&id.0, &scope_param(scope)],
            "user",
            user_from_row,
        )
        .await
    }

    /// A page of the users within `scope`, ordered by id.
    pub async fn users(
        &self,
        scope: TenantScope,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<User>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {USER_COLS} FROM users WHERE id > $1 AND ($2::uuid IS NULL OR tenant_id = $2)
                 ORDER BY id LIMIT $3"
            ),
            &[&after, &scope_param(scope), &(limit + 1)],
            limit,
            user_from_row,
            |u| u.id.to_string(),
        )
        .await
    }

    /// Changes a user within `scope`; a new password or disabling ends its sessions.
    pub async fn update_user(
        &self,
        scope: TenantScope,
        id: UserId,
        change: &UserChange,
    ) -> Result<User, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE users SET role = coalesce($3, role), disabled = coalesce($4, disabled),
                     password_hash = coalesce($5, password_hash)
                     WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {USER_COLS}"
                ),
                &[
                    &id.0,
                    &scope_param(scope),
                    &change.role.map(Role::as_str),
                    &change.disabled,
                    &change.password_hash,
                ],
            )
            .await
            .map_err(|e| {
                if e.code() == Some(&SqlState::CHECK_VIOLATION) {
                    StoreError::Conflict {
                        field: "role",
                        message: "platform_admin is a role of users without a tenant; create a new user instead".into(),
                    }
                } else {
                    e.into()
                }
            })?
            .ok_or(StoreError::NotFound("user"))?;
        if change.disabled == Some(true) || change.password_hash.is_some() {
            tx.execute(
                "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
                &[&id.0],
            )
            .await?;
        }
        if change.disabled == Some(true) || change.revoke_api_keys {
            tx.execute(
                "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
                &[&id.0],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(user_from_row(&row))
    }

    /// Deletes a user within `scope` (its sessions and keys go with it).
    pub async fn delete_user(&self, scope: TenantScope, id: UserId) -> Result<User, StoreError> {
        self.one(
            &format!(
                "DELETE FROM users WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {USER_COLS}"
            ),
            &[&id.0, &scope_param(scope)],
            "user",
            user_from_row,
        )
        .await
    }

    /// An enabled user and its password hash, by e-mail (case-insensitive).
    pub async fn user_credentials(
        &self,
        email: &str,
    ) -> Result<Option<(User, String)>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {USER_COLS}, password_hash FROM users WHERE lower(email) = lower($1) AND NOT disabled"
                ),
                &[&email],
            )
            .await?;
        Ok(row.map(|r| (user_from_row(&r), r.get("password_hash"))))
    }

    // ---- sessions ----

    /// Opens a session; returns its id.
    pub async fn create_session(
        &self,
        user: UserId,
        refresh_hash: &[u8],
        expires_at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<Uuid, StoreError> {
        let client = self.pool.get().await?;
        let id = Uuid::now_v7();
        client
            .execute(
                "INSERT INTO sessions (id, user_id, refresh_hash, expires_at, ip) VALUES ($1, $2, $3, $4, $5)",
                &[&id, &user.0, &refresh_hash, &expires_at, &ip],
            )
            .await?;
        Ok(id)
    }

    /// Swaps a live session's refresh token for a new one (each is good once); the session and its
    /// enabled user, or `None`. A token that was already traded in revokes its whole session: it was
    /// stolen, or copied, and whoever holds the newer one must log in again.
    pub async fn refresh_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<Option<(Uuid, User)>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "WITH s AS (
                     UPDATE sessions SET refresh_hash = $2, expires_at = $3
                     WHERE refresh_hash = $1 AND revoked_at IS NULL AND expires_at > now()
                     RETURNING id, user_id)
                 SELECT s.id AS sid, u.id, u.email, u.tenant_id, u.role, u.disabled, u.created_at
                 FROM s JOIN users u ON u.id = s.user_id WHERE NOT u.disabled",
                &[&old_hash, &new_hash, &expires_at],
            )
            .await?;
        let refreshed = row.map(|r| (r.get::<_, Uuid>("sid"), user_from_row(&r)));
        match &refreshed {
            Some((sid, _)) => {
                tx.execute(
                    "INSERT INTO used_refresh_tokens (hash, session_id) VALUES ($1, $2)
                     ON CONFLICT (hash) DO NOTHING",
                    &[&old_hash, sid],
                )
                .await?;
            }
            None => {
                let reused = tx
                    .query_opt(
                        "UPDATE sessions SET revoked_at = coalesce(revoked_at, now())
                         WHERE id = (SELECT session_id FROM used_refresh_tokens WHERE hash = $1)
                         RETURNING id, user_id",
                        &[&old_hash],
                    )
                    .await?;
                if let Some(r) = reused {
                    tracing::warn!(session_id = %r.get::<_, Uuid>("id"), user_id = %r.get::<_, Uuid>("user_id"), "a refresh token was used twice; its session is revoked");
                }
            }
        }
        tx.commit().await?;
        Ok(refreshed)
    }

    /// Whether the API key `id` still works: not revoked, not expired, its user enabled.
    pub async fn api_key_live(&self, id: ApiKeyId) -> Result<bool, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT 1 FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.id = $1 AND k.revoked_at IS NULL
                   AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT u.disabled",
                &[&id.0],
            )
            .await?;
        Ok(row.is_some())
    }

    /// Ends a session.
    pub async fn revoke_session(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?;
        Ok(())
    }

    /// The enabled user of a live session, or `None`.
    pub async fn session_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT u.id, u.email, u.tenant_id, u.role, u.disabled, u.created_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now() AND NOT u.disabled",
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(user_from_row))
    }

    // ---- API keys ----

    /// Stores a new API key.
    pub async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKey, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &format!(
                    "WITH k AS (
                         INSERT INTO api_keys (id, name, prefix, secret_hash, user_id, role, expires_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *)
                     SELECT {KEY_COLS} FROM k JOIN users u ON u.id = k.user_id"
                ),
                &[
                    &ApiKeyId::new().0,
                    &key.name,
                    &key.prefix,
                    &key.secret_hash,
                    &key.user_id.0,
                    &key.role.as_str(),
                    &key.expires_at,
                ],
            )
            .await?;
        Ok(key_from_row(&row))
    }

    /// A live key (not revoked, not expired, user enabled) by its prefix.
    pub async fn api_key_credentials(
        &self,
        prefix: &str,
    ) -> Result<Option<KeyCredentials>, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {KEY_COLS}, k.secret_hash, u.email, u.role AS user_role, u.disabled,
                            u.created_at AS user_created_at
                     FROM api_keys k JOIN users u ON u.id = k.user_id
                     WHERE k.prefix = $1 AND k.revoked_at IS NULL
                       AND (k.expires_at IS NULL OR k.expires_at > now()) AND NOT u.disabled"
                ),
                &[&prefix],
            )
            .await?;
        Ok(row.map(|r| {
            let key = key_from_row(&r);
            KeyCredentials {
                user: User {
                    id: key.user_id,
                    email: r.get("email"),
                    tenant_id: key.tenant_id,
                    role: role_of(&r, "user_role"),
                    disabled: r.get("disabled"),
                    created_at: r.get("user_created_at"),
                },
                secret_hash: r.get("secret_hash"),
                key,
            }
        }))
    }

    /// A page of API keys within `scope`, optionally only those of `owner`.
    pub async fn api_keys(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<ApiKey>, Option<String>), StoreError> {
        let after = decode_id_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {KEY_COLS} FROM api_keys k JOIN users u ON u.id = k.user_id
                 WHERE k.id > $1 AND ($2::uuid IS NULL OR u.tenant_id = $2) AND ($3::uuid IS NULL OR k.user_id = $3)
                 ORDER BY k.id LIMIT $4"
            ),
            &[&after, &scope_param(scope), &owner.map(|o| o.0), &(limit + 1)],
            limit,
            key_from_row,
            |k| k.id.to_string(),
        )
        .await
    }

    /// Revokes a key within `scope` (and of `owner`, when given); revoking twice is harmless.
    pub async fn revoke_api_key(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        id: ApiKeyId,
    ) -> Result<ApiKey, StoreError> {
        self.one(
            &format!(
                "WITH k AS (
                     UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now())
                     FROM users u WHERE u.id = k.user_id AND k.id = $1
                       AND ($2::uuid IS NULL OR u.tenant_id = $2) AND ($3::uuid IS NULL OR k.user_id = $3)
                     RETURNING k.*)
                 SELECT {KEY_COLS} FROM k JOIN users u ON u.id = k.user_id"
            ),
            &[&id.0, &scope_param(scope), &owner.map(|o| o.0)],
            "api key",
            key_from_row,
        )
        .await
    }

    // ---- signing keys ----

    /// Signing keys still good for verification, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT kid, secret, created_at FROM signing_keys
                 WHERE retired_at IS NULL OR retired_at > now() ORDER BY created_at DESC, kid DESC",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SigningKey {
                kid: r.get("kid"),
                secret: r.get("secret"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// Adds a signing key that signs from now on; the others keep verifying for `grace` (the lifetime
    /// of tokens they signed), then retire. `grace = None` leaves them alone (first key of a node).
    pub async fn add_signing_key(
        &self,
        kid: &str,
        secret: &[u8],
        grace: Option<std::time::Duration>,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO signing_keys (kid, secret) VALUES ($1, $2)",
            &[&kid, &secret],
        )
        .await?;
        if let Some(grace) = grace {
            let secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
            tx.execute(
                "UPDATE signing_keys SET retired_at = now() + make_interval(secs => $2)
                 WHERE kid <> $1 AND (retired_at IS NULL OR retired_at > now() + make_interval(secs => $2))",
                &[&kid, &(secs as f64)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- audit ----

    /// Appends an audit line.
    pub async fn append_audit(&self, e: &AuditRecord) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO audit_log (tenant_id, user_id, actor, credential, api_key_id, action, object_kind,
                                        object_id, request, status, ip)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &e.tenant_id.map(|t| t.0),
                    &e.user_id.map(|u| u.0),
                    &e.actor,
                    &e.credential,
                    &e.api_key_id.map(|k| k.0),
                    &e.action,
                    &e.object_kind,
                    &e.object_id,
                    &e.request,
                    &i32::from(e.status),
                    &e.ip,
                ],
            )
            .await?;
        Ok(())
    }

    /// A page of the audit log within `scope` (optionally of one tenant), newest first.
    pub async fn audit(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
        let before = decode_audit_cursor(cursor)?;
        let limit = limit.clamp(1, MAX_PAGE);
        self.keyset_page(
            &format!(
                "SELECT {AUDIT_COLS} FROM audit_log
                 WHERE id < $1 AND ($2::uuid IS NULL OR tenant_id = $2) AND ($3::uuid IS NULL OR tenant_id = $3)
                   AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
                 ORDER BY id DESC LIMIT $6"
            ),
            &[&before, &scope_param(scope), &tenant.map(|t| t.0), &from, &to, &(limit + 1)],
            limit,
            audit_from_row,
            |e| e.id.to_string(),
        )
        .await
    }
}
