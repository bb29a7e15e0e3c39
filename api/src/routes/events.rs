//! Analytics events and their snapshots, within the caller's tenant scope.

use crate::Service;
use crate::backend::EventService;
use crate::error::ApiError;
use crate::guard::{Caller, Guard};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;
use vms_messages::EventFilter;
use vms_messages::{CameraId, ErrorBody, Event, EventPage, EventView, SimilarEvents};

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
    backend: Service<dyn EventService>,
    caller: Caller,
    q: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    check_filters(q.min_score, q.kind.as_deref())?;
    let filter = EventFilter {
        camera: q.camera_id,
        kind: q.kind,
        from: q.from,
        to: q.to,
        min_score: q.min_score,
    };
    Ok(HttpResponse::Ok().json(backend.list_events(caller.0.scope(), filter, page).await?))
}

fn check_filters(min_score: Option<f32>, kind: Option<&str>) -> Result<(), ApiError> {
    if let Some(s) = min_score
        && !(0.0..=1.0).contains(&s)
    {
        return Err(ApiError::invalid(
            "min_score",
            "min_score must be between 0 and 1",
        ));
    }
    if kind.is_some_and(|k| k.chars().count() > 64) {
        return Err(ApiError::invalid(
            "kind",
            "kind must be at most 64 characters",
        ));
    }
    Ok(())
}

/// Query of the live event stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Only this camera's events.
    #[param(value_type = Option<String>, format = Uuid)]
    pub camera_id: Option<CameraId>,
    /// Only this kind (e.g. `intrusion`, `escalation`).
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only events with at least this score.
    #[param(minimum = 0.0, maximum = 1.0)]
    pub min_score: Option<f32>,
    /// Close the stream after this many seconds, 1-86400 (default: open until the client leaves).
    #[param(minimum = 1, maximum = 86400)]
    pub seconds: Option<u32>,
}

/// How often an idle stream sends a comment, so proxies and clients keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream checks that its caller's credential still works (so a logout, a disabled
/// user or a revoked key closes it within this long).
const RECHECK: Duration = Duration::from_secs(2);

fn sse_frame(event: &Event) -> web::Bytes {
    let json = serde_json::to_string(event).unwrap_or_default();
    web::Bytes::from(format!("id: {}\nevent: event\ndata: {json}\n\n", event.id))
}

/// Live events as server-sent events (`text/event-stream`), as they are published: each is
/// `id: <event id>`, `event: event`, `data: <the event as JSON>`. A client that falls behind gets
/// `event: lagged` with how many it missed (read them from `GET /events`). Filters as for the list.
/// The stream ends with `event: closed` within a few seconds of a logout, the user being disabled or
/// the API key being revoked; a caller holds at most `api.max_streams_per_caller` streams (429).
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", security(("bearer" = ["events:read"])),
    params(StreamQuery), responses(
    (status = 200, description = "server-sent events", content_type = "text/event-stream"),
    (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn stream_events(
    backend: Service<dyn EventService>,
    guard: web::Data<Guard>,
    caller: Caller,
    q: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    check_filters(q.min_score, q.kind.as_deref())?;
    if let Some(s) = q.seconds
        && !(1..=86_400).contains(&s)
    {
        return Err(ApiError::invalid(
            "seconds",
            "seconds must be between 1 and 86400",
        ));
    }
    let feed = backend.event_feed().ok_or_else(|| {
        ApiError::unavailable("live events are not available on this node (no NATS connection)")
    })?;
    let slot = guard.open_stream(&caller.0)?;
    let tenant = caller.0.scope().tenant();
    let wanted = move |e: &Event| {
        tenant.is_none_or(|t| e.tenant_id == t)
            && q.camera_id.is_none_or(|c| e.camera_id == c)
            && q.kind.as_deref().is_none_or(|k| e.kind == k)
            && q.min_score.is_none_or(|s| e.score >= s)
    };
    let until = q
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(u64::from(s)));
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
    keep_alive.reset(); // the first tick would fire at once; the opening comment covers it
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let auth = Arc::clone(&guard.auth);
    let principal = caller.0;
    let opening = futures_util::stream::once(async {
        Ok::<_, actix_web::Error>(web::Bytes::from_static(b": connected\n\n"))
    });
    let events = futures_util::stream::unfold(
        (feed, keep_alive, until, recheck, slot, false),
        move |(mut feed, mut keep_alive, until, mut recheck, slot, closed)| {
            let wanted = wanted.clone();
            let (auth, principal) = (Arc::clone(&auth), principal.clone());
            async move {
                if closed {
                    return None;
                }
                let deadline = async {
                    match until {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::pin!(deadline);
                loop {
                    let mut closing = false;
                    let frame = tokio::select! {
                        () = &mut deadline => return None,
                        _ = keep_alive.tick() => web::Bytes::from_static(b": keep-alive\n\n"),
                        _ = recheck.tick() => {
                            // Logout, a disabled user or a revoked key ends the stream. A store
                            // that cannot answer keeps it (the next check decides).
                            if auth.still_valid(&principal).await.unwrap_or(true) {
                                continue;
                            }
                            closing = true;
                            web::Bytes::from_static(
                                b"event: closed\ndata: {\"reason\":\"credentials revoked\"}\n\n",
                            )
                        }
                        got = feed.recv() => match got {
                            Ok(e) if wanted(&e) => sse_frame(&e),
                            Ok(_) => continue,
                            Err(RecvError::Lagged(n)) => web::Bytes::from(format!(
                                "event: lagged\ndata: {{\"missed\":{n}}}\n\n"
                            )),
                            Err(RecvError::Closed) => return None,
                        },
                    };
                    return Some((Ok(frame), (feed, keep_alive, until, recheck, slot, closing)));
                }
            }
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::StreamExt::chain(opening, events)))
}

/// Get an event, with the recorded segments that cover it (within the recording overlap).
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", security(("bearer" = ["events:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = EventView), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_event(
    backend: Service<dyn EventService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut view = backend.get_event(caller.0.scope(), id.into_inner()).await?;
    super::link_media(&mut view.segments);
    Ok(HttpResponse::Ok().json(view))
}

/// Query of the look-alike search.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SimilarQuery {
    /// Lowest similarity, 0-1 (default 0.5).
    #[param(minimum = 0.0, maximum = 1.0)]
    pub min_similarity: Option<f32>,
    /// Most events answered, 1-100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Events whose subject looks like this event's (the same person on other cameras or at other
/// times), by the cosine similarity of their appearance embeddings, most alike first. Events of
/// pixel detectors (motion, tampering, fire) have no appearance: 404.
#[utoipa::path(get, path = "/api/v1/events/{id}/similar", tag = "events", security(("bearer" = ["events:read"])),
    params(("id" = String, Path, format = Uuid), SimilarQuery), responses(
    (status = 200, body = SimilarEvents), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn similar_events(
    backend: Service<dyn EventService>,
    caller: Caller,
    id: web::Path<Uuid>,
    q: web::Query<SimilarQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let min = q.min_similarity.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&min) {
        return Err(ApiError::invalid(
            "min_similarity",
            "min_similarity must be between 0 and 1",
        ));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    Ok(HttpResponse::Ok().json(
        backend
            .similar_events(caller.0.scope(), id.into_inner(), min, limit)
            .await?,
    ))
}

/// The JPEG snapshot of the frame that raised an event.
#[utoipa::path(get, path = "/api/v1/events/{id}/snapshot", tag = "events", security(("bearer" = ["events:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, description = "the snapshot", content_type = "image/jpeg"),
    (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn event_snapshot(
    backend: Service<dyn EventService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let jpeg = backend
        .event_snapshot(caller.0.scope(), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().content_type("image/jpeg").body(jpeg))
}
