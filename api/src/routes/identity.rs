//! Login, sessions, users and API keys.

use super::PageQuery;
use crate::Service;
use crate::audit::{AuditNote, note};
use crate::auth::Authenticator;
use crate::backend::{CredentialService, UserService};
use crate::error::ApiError;
use crate::guard::{Caller, Guard, client_ip, rate_key};
use actix_web::{HttpRequest, HttpResponse, web};
use vms_messages::{
    ApiKeyCreate, ApiKeyCreated, ApiKeyId, ApiKeyPage, Credential, ErrorBody, LoginRequest, Me,
    Permission, RefreshRequest, Role, SigningKeyRotated, TokenPair, User, UserCreate, UserId,
    UserPage, UserUpdate,
};
use vms_messages::{MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, NewUser, UserChange};

fn noted_user(req: &HttpRequest, user: &User) {
    note(
        req,
        AuditNote {
            tenant_id: user.tenant_id,
            object_id: Some(user.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Log in with e-mail and password; answers an access token and a refresh token. Limited per client
/// address and per e-mail (429 with `Retry-After`).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()), request_body = LoginRequest, responses(
    (status = 200, body = TokenPair), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn login(
    guard: web::Data<Guard>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email: String = body.email.chars().take(MAX_EMAIL_CHARS).collect();
    note(
        &req,
        AuditNote {
            actor: Some(email.clone()),
            ..AuditNote::default()
        },
    );
    if body.email.chars().count() > MAX_EMAIL_CHARS {
        return Err(ApiError::invalid(
            "email",
            format!("email must be at most {MAX_EMAIL_CHARS} characters"),
        ));
    }
    if body.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "password",
            format!("password must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    let ip = client_ip(&req);
    guard.check_login(&rate_key(&req), &email)?;
    let (pair, user) = guard.auth.login(&email, body.password, Some(&ip)).await?;
    note(
        &req,
        AuditNote {
            tenant_id: user.tenant_id,
            object_id: Some(user.id.to_string()),
            actor: Some(email),
            user_id: Some(user.id),
        },
    );
    Ok(answer_pair(pair, body.refresh_cookie))
}

/// The cookie the web console's refresh token travels in.
pub const REFRESH_COOKIE: &str = "vms_refresh";

/// The refresh cookie holding `value` for `max_age` (zero removes it). Only the auth routes see it,
/// no script reads it, and no other site's page sends it.
fn refresh_cookie(value: String, max_age: u64) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(REFRESH_COOKIE, value)
        .path("/api/v1/auth")
        .http_only(true)
        .secure(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age).unwrap_or(i64::MAX),
        ))
        .finish()
}

/// Answers a new token pair: as is, or with the refresh token moved into the cookie.
fn answer_pair(mut pair: TokenPair, in_cookie: bool) -> HttpResponse {
    if !in_cookie {
        return HttpResponse::Ok().json(pair);
    }
    let cookie = refresh_cookie(
        std::mem::take(&mut pair.refresh_token),
        pair.refresh_expires_in,
    );
    HttpResponse::Ok().cookie(cookie).json(pair)
}

/// Trade a refresh token (good once) for a new access token and refresh token.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(()), request_body = RefreshRequest, responses(
    (status = 200, body = TokenPair), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn refresh(
    guard: web::Data<Guard>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let from_cookie = body.refresh_token.is_empty();
    let token = match from_cookie {
        false => body.refresh_token.clone(),
        true => req
            .cookie(REFRESH_COOKIE)
            .map(|c| c.value().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    "refresh_token",
                    "refresh_token is required (in the body, or the vms_refresh cookie of a login with refresh_cookie)",
                )
            })?,
    };
    let (pair, user) = guard.auth.refresh(&token).await?;
    note(
        &req,
        AuditNote {
            tenant_id: user.tenant_id,
            object_id: Some(user.id.to_string()),
            actor: Some(user.email),
            user_id: Some(user.id),
        },
    );
    Ok(answer_pair(pair, from_cookie))
}

/// End the caller's session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = ["session"])), responses(
    (status = 204), (status = 400, body = ErrorBody)))]
pub async fn logout(
    backend: Service<dyn CredentialService>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    match caller.0.credential {
        Credential::Session(sid) => {
            backend.revoke_session(sid).await?;
            // The console's refresh cookie goes with the session.
            Ok(HttpResponse::NoContent()
                .cookie(refresh_cookie(String::new(), 0))
                .finish())
        }
        Credential::ApiKey(_) | Credential::StreamToken(_) => Err(ApiError::invalid(
            "authorization",
            "an API key is not a session; revoke it with DELETE /api/v1/api-keys/{id}",
        )),
    }
}

/// Who the caller is: user, tenant, role and permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = ["session"])), responses(
    (status = 200, body = Me)))]
pub async fn me(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(Me::from(&caller.0))
}

/// Make a new key sign access tokens; tokens signed by the previous keys stay valid until they expire.
#[utoipa::path(post, path = "/api/v1/auth/signing-keys/rotate", tag = "auth", security(("bearer" = ["signing_keys:write"])),
    responses((status = 200, body = SigningKeyRotated)))]
pub async fn rotate_signing_key(guard: web::Data<Guard>) -> Result<HttpResponse, ApiError> {
    let kid = guard.auth.rotate_signing_key().await?;
    Ok(HttpResponse::Ok().json(SigningKeyRotated { kid }))
}

/// A caller manages (changes, disables, deletes, resets the password of) another user only when
/// that user's role is below its own; platform admins manage everyone.
fn check_manage(caller: &Caller, target: &User) -> Result<(), ApiError> {
    if caller.0.role == Role::PlatformAdmin || caller.0.role.outranks(target.role) {
        Ok(())
    } else {
        Err(ApiError::not_allowed(
            "id",
            format!(
                "a {} manages only users of a lower role, not a {}",
                caller.0.role.as_str(),
                target.role.as_str()
            ),
        ))
    }
}

fn check_grant(caller: &Caller, role: Role) -> Result<(), ApiError> {
    if caller.0.role.may_grant(role) {
        Ok(())
    } else {
        Err(ApiError::not_allowed(
            "role",
            format!("a {} cannot grant the role {role}", caller.0.role.as_str()),
        ))
    }
}

/// Create a user. Tenant admins create users of their tenant with roles up to their own.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = ["users:write"])),
    request_body = UserCreate, responses(
    (status = 201, body = User), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_user(
    backend: Service<dyn UserService>,
    guard: web::Data<Guard>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<UserCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    check_grant(&caller, body.role)?;
    let tenant_id = if body.role.is_tenant_bound() {
        Some(body.tenant_id.or(caller.0.tenant_id).ok_or_else(|| {
            ApiError::invalid("tenant_id", "tenant_id is required for tenant roles")
        })?)
    } else if body.tenant_id.is_some() {
        return Err(ApiError::invalid(
            "tenant_id",
            "platform admins belong to no tenant; leave tenant_id out",
        ));
    } else {
        None
    };
    let password_hash = guard.auth.hash_password(body.password).await?;
    let user = backend
        .create_user(
            caller.0.scope(),
            NewUser {
                email: body.email,
                password_hash,
                role: body.role,
                tenant_id,
            },
        )
        .await?;
    noted_user(&req, &user);
    Ok(HttpResponse::Created().json(user))
}

/// List users (a tenant admin sees its tenant's).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = ["users:read"])),
    params(PageQuery), responses((status = 200, body = UserPage), (status = 400, body = ErrorBody)))]
pub async fn list_users(
    backend: Service<dyn UserService>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner().page()?;
    Ok(HttpResponse::Ok().json(backend.list_users(caller.0.scope(), page).await?))
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = ["users:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = User), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_user(
    backend: Service<dyn UserService>,
    caller: Caller,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_user(caller.0.scope(), id.into_inner()).await?))
}

/// Change a user's role, password or disabled flag; a new password or disabling ends its sessions,
/// disabling (or `revoke_api_keys`) revokes its API keys. Only users of a lower role than the
/// caller's (any, for a platform admin).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = ["users:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = UserUpdate, responses(
    (status = 200, body = User), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_user(
    backend: Service<dyn UserService>,
    guard: web::Data<Guard>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<UserId>,
    body: web::Json<UserUpdate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    if let Some(role) = body.role {
        check_grant(&caller, role)?;
    }
    let id = id.into_inner();
    // The user must be within the caller's scope before any work (and a hash) is spent on it.
    let current = backend.get_user(caller.0.scope(), id).await?;
    if id == caller.0.user_id {
        if body.disabled == Some(true) {
            return Err(ApiError::conflict(
                "disabled",
                "you cannot disable yourself",
            ));
        }
        if body.role.is_some_and(|r| r != current.role) {
            return Err(ApiError::conflict(
                "role",
                "you cannot change your own role",
            ));
        }
        // Keys are managed from a password login: a key cannot revoke its own user's keys (itself
        // among them), as it cannot make them.
        if body.revoke_api_keys == Some(true)
            && let Credential::ApiKey(_) = caller.0.credential
        {
            return Err(ApiError::not_allowed(
                "authorization",
                "revoking your own API keys needs an access token from a password login",
            ));
        }
    }
    if id != caller.0.user_id {
        check_manage(&caller, &current)?;
    }
    let password_hash = match body.password {
        Some(p) => Some(guard.auth.hash_password(p).await?),
        None => None,
    };
    let user = backend
        .update_user(
            caller.0.scope(),
            id,
            UserChange {
                role: body.role,
                disabled: body.disabled,
                password_hash,
                revoke_api_keys: body.revoke_api_keys == Some(true),
            },
        )
        .await?;
    noted_user(&req, &user);
    Ok(HttpResponse::Ok().json(user))
}

/// Delete a user (its sessions and API keys go with it); not oneself.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = ["users:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_user(
    backend: Service<dyn UserService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<UserId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let current = backend.get_user(caller.0.scope(), id).await?;
    if id == caller.0.user_id {
        return Err(ApiError::conflict("id", "you cannot delete yourself"));
    }
    check_manage(&caller, &current)?;
    let user = backend.delete_user(caller.0.scope(), id).await?;
    noted_user(&req, &user);
    Ok(HttpResponse::NoContent().finish())
}

/// Whose keys the caller manages: a tenant or platform admin all in scope, anyone else its own.
fn key_owner(caller: &Caller) -> Option<UserId> {
    if caller.0.permits(Permission::UsersWrite) {
        None
    } else {
        Some(caller.0.user_id)
    }
}

/// Create an API key acting as the caller, with a role up to the caller's. The key is shown once.
/// Needs an access token from a password login: an API key cannot make keys.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = ["api_keys:write"])),
    request_body = ApiKeyCreate, responses(
    (status = 201, body = ApiKeyCreated), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_api_key(
    backend: Service<dyn UserService>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ApiKeyCreate>,
) -> Result<HttpResponse, ApiError> {
    // A key minted by a key would outlive the revocation of its parent: only a person who logged in
    // with a password (a session's access token) makes keys.
    if let Credential::ApiKey(_) = caller.0.credential {
        return Err(ApiError::not_allowed(
            "authorization",
            "API keys are created with an access token from a password login, not with an API key",
        ));
    }
    let body = body.into_inner();
    body.validate(chrono::Utc::now())?;
    let role = body.role.unwrap_or(caller.0.role);
    check_grant(&caller, role)?;
    let (secret, stored) =
        Authenticator::new_api_key(caller.0.user_id, body.name, role, body.expires_at);
    let api_key = backend.create_api_key(stored).await?;
    note(
        &req,
        AuditNote {
            tenant_id: api_key.tenant_id,
            object_id: Some(api_key.id.to_string()),
            ..AuditNote::default()
        },
    );
    Ok(HttpResponse::Created().json(ApiKeyCreated {
        key: secret,
        api_key,
    }))
}

/// List API keys (one's own; a tenant admin's whole tenant).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = ["api_keys:read"])),
    params(PageQuery), responses((status = 200, body = ApiKeyPage), (status = 400, body = ErrorBody)))]
pub async fn list_api_keys(
    backend: Service<dyn UserService>,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner().page()?;
    let (items, next_cursor) = backend
        .list_api_keys(caller.0.scope(), key_owner(&caller), page)
        .await?;
    Ok(HttpResponse::Ok().json(ApiKeyPage { items, next_cursor }))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = ["api_keys:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn revoke_api_key(
    backend: Service<dyn UserService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<ApiKeyId>,
) -> Result<HttpResponse, ApiError> {
    let key = backend
        .revoke_api_key(caller.0.scope(), key_owner(&caller), id.into_inner())
        .await?;
    note(
        &req,
        AuditNote {
            tenant_id: key.tenant_id,
            object_id: Some(key.id.to_string()),
            ..AuditNote::default()
        },
    );
    Ok(HttpResponse::NoContent().finish())
}
