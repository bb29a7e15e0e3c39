//! Analytics events and their snapshots, within the caller's tenant scope.

use crate::SharedBackend;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;
use vms_messages::event::EventFilter;
use vms_messages::{CameraId, ErrorBody, Event, EventPage};

/// Query of the event list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only this camera's events.
    #[param(value_type = Option<String>, format = Uuid)]
    pub camera_id: Option<CameraId>,
    /// Only this kind (e.g. `intrusion`).
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Only events with at least this score.
    #[param(minimum = 0.0, maximum = 1.0)]
    pub min_score: Option<f32>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// List events, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("bearer" = ["events:read"])),
    params(EventQuery), responses((status = 200, body = EventPage), (status = 400, body = ErrorBody)))]
pub async fn list_events(
    backend: SharedBackend,
    caller: Caller,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    if let Some(s) = q.min_score
        && !(0.0..=1.0).contains(&s)
    {
        return Err(ApiError::invalid(
            "min_score",
            "min_score must be between 0 and 1",
        ));
    }
    if q.kind.as_ref().is_some_and(|k| k.chars().count() > 64) {
        return Err(ApiError::invalid(
            "kind",
            "kind must be at most 64 characters",
        ));
    }
    let filter = EventFilter {
        camera: q.camera_id,
        kind: q.kind,
        from: q.from,
        to: q.to,
        min_score: q.min_score,
    };
    Ok(HttpResponse::Ok().json(backend.list_events(caller.0.scope(), filter, page).await?))
}

/// Get an event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = ["events:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Event), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_event(
    backend: SharedBackend,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_event(caller.0.scope(), id.into_inner()).await?))
}

/// The JPEG snapshot of the frame that raised an event.
#[utoipa::path(get, path = "/api/v1/events/{id}/snapshot", tag = "events", security(("bearer" = ["events:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, description = "the snapshot", content_type = "image/jpeg"),
    (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn event_snapshot(
    backend: SharedBackend,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let jpeg = backend
        .event_snapshot(caller.0.scope(), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").body(jpeg))
}
