//! Evidence holds: ranges of a camera's footage (and marked events) that retention never deletes
//! until they are released.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::HoldService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use vms_messages::{CameraId, ErrorBody, Hold, HoldCreate, HoldPage};

fn noted(req: &HttpRequest, hold: &Hold) {
    note(
        req,
        AuditNote {
            tenant_id: Some(hold.tenant_id),
            object_id: Some(hold.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Place an evidence hold: the camera's footage from `from` to `to` is kept whatever retention
/// days, storage quota or disk pressure say, until the hold is released.
#[utoipa::path(post, path = "/api/v1/holds", tag = "recordings", security(("bearer" = ["recordings:hold"])),
    request_body = HoldCreate, responses(
    (status = 201, body = Hold), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_hold(
    backend: Service<dyn HoldService>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<HoldCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let hold = backend
        .create_hold(caller.0.scope(), body, caller.0.email.clone())
        .await?;
    noted(&req, &hold);
    Ok(HttpResponse::Created().json(hold))
}

/// Query of the hold list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HoldQuery {
    /// Only this camera's holds.
    #[param(value_type = Option<String>, format = Uuid)]
    pub camera_id: Option<CameraId>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// List the evidence holds in place.
#[utoipa::path(get, path = "/api/v1/holds", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(HoldQuery), responses((status = 200, body = HoldPage), (status = 400, body = ErrorBody)))]
pub async fn list_holds(
    backend: Service<dyn HoldService>,
    caller: Caller,
    q: web::Query<HoldQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    Ok(HttpResponse::Ok().json(
        backend
            .list_holds(caller.0.scope(), q.camera_id, page)
            .await?,
    ))
}

/// Get an evidence hold.
#[utoipa::path(get, path = "/api/v1/holds/{id}", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Hold), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_hold(
    backend: Service<dyn HoldService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_hold(caller.0.scope(), id.into_inner()).await?))
}

/// Release an evidence hold: retention may delete its footage (and its event) from then on.
#[utoipa::path(delete, path = "/api/v1/holds/{id}", tag = "recordings", security(("bearer" = ["recordings:hold"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn release_hold(
    backend: Service<dyn HoldService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let hold = backend
        .release_hold(caller.0.scope(), id.into_inner())
        .await?;
    noted(&req, &hold);
    Ok(HttpResponse::NoContent().finish())
}

/// Mark an event as held: the event and its camera's footage from 30 s before it to 30 s after
/// are kept until the hold is released. 201 with the new hold, or 200 with the event's hold when
/// it already has one.
#[utoipa::path(post, path = "/api/v1/events/{id}/hold", tag = "events", security(("bearer" = ["recordings:hold"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 201, body = Hold), (status = 200, body = Hold), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn hold_event(
    backend: Service<dyn HoldService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (hold, created) = backend
        .hold_event(caller.0.scope(), id.into_inner(), caller.0.email.clone())
        .await?;
    noted(&req, &hold);
    Ok(if created {
        HttpResponse::Created().json(hold)
    } else {
        HttpResponse::Ok().json(hold)
    })
}
