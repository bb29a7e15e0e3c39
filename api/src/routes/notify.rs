//! Notification channels of a tenant (signed webhooks, e-mail) and their delivery log.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::NotificationService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use vms_messages::{
    Channel, ChannelCreate, ChannelCreated, ChannelKind, ChannelPage, ChannelUpdate, Delivery,
    DeliveryPage, DeliveryState, ErrorBody, TenantId,
};

fn noted(req: &HttpRequest, tenant: TenantId, id: Uuid) {
    note(
        req,
        AuditNote {
            tenant_id: Some(tenant),
            object_id: Some(id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// A fresh webhook signing secret: 32 random bytes, base64url.
fn new_secret() -> String {
    format!("whsec_{}", crate::auth::random_token(32))
}

/// Add a notification channel to a tenant: a webhook (each delivery is an HTTP POST of the event as
/// JSON, signed `X-VMS-Signature: sha256=<hex HMAC-SHA256(secret, "<X-VMS-Timestamp>.<body>")>`) or
/// e-mail recipients. A webhook's secret is answered here only.
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notifications", security(("bearer" = ["notifications:write"])),
    request_body = ChannelCreate, responses(
    (status = 201, body = ChannelCreated), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_channel(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ChannelCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let tenant = body.tenant_id.or(caller.0.tenant_id).ok_or_else(|| {
        ApiError::invalid("tenant_id", "tenant_id is required for platform admins")
    })?;
    let secret =
        (body.kind == ChannelKind::Webhook).then(|| body.secret.clone().unwrap_or_else(new_secret));
    let channel = backend
        .create_channel(caller.0.scope(), tenant, body, secret.clone())
        .await?;
    noted(&req, channel.tenant_id, channel.id);
    Ok(HttpResponse::Created().json(ChannelCreated { channel, secret }))
}

/// List notification channels.
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notifications", security(("bearer" = ["notifications:read"])),
    params(super::PageQuery), responses((status = 200, body = ChannelPage), (status = 400, body = ErrorBody)))]
pub async fn list_channels(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    q: web::Query<super::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner().page()?;
    Ok(HttpResponse::Ok().json(backend.list_channels(caller.0.scope(), page).await?))
}

/// Get a notification channel.
#[utoipa::path(get, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = ["notifications:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Channel), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_channel(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_channel(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Change a notification channel (url, recipients, kinds, enabled).
#[utoipa::path(patch, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = ["notifications:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = ChannelUpdate, responses(
    (status = 200, body = Channel), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_channel(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<ChannelUpdate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let channel = backend
        .update_channel(caller.0.scope(), id.into_inner(), body)
        .await?;
    noted(&req, channel.tenant_id, channel.id);
    Ok(HttpResponse::Ok().json(channel))
}

/// Delete a notification channel and its delivery log.
#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notifications", security(("bearer" = ["notifications:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_channel(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let channel = backend
        .delete_channel(caller.0.scope(), id.into_inner())
        .await?;
    noted(&req, channel.tenant_id, channel.id);
    Ok(HttpResponse::NoContent().finish())
}

/// Query of a channel's delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state (`dead`: the dead letters).
    pub state: Option<DeliveryState>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A channel's delivery log, newest first: attempts, last error, dead letters.
#[utoipa::path(get, path = "/api/v1/notification-channels/{id}/deliveries", tag = "notifications", security(("bearer" = ["notifications:read"])),
    params(("id" = String, Path, format = Uuid), DeliveryQuery), responses(
    (status = 200, body = DeliveryPage), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list_deliveries(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    Ok(HttpResponse::Ok().json(
        backend
            .list_deliveries(caller.0.scope(), id.into_inner(), q.state, page)
            .await?,
    ))
}

/// Queue a dead letter again, with a fresh set of attempts (409 for any other state).
#[utoipa::path(post, path = "/api/v1/notification-deliveries/{id}/retry", tag = "notifications", security(("bearer" = ["notifications:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Delivery), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn retry_delivery(
    backend: Service<dyn NotificationService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let delivery = backend
        .retry_delivery(caller.0.scope(), id.into_inner())
        .await?;
    noted(&req, delivery.tenant_id, delivery.id);
    Ok(HttpResponse::Ok().json(delivery))
}
