//! Recorded video of a camera for players: stream tokens, the HLS playlist and its segments, the
//! timeline, snapshots. Every route here needs `video:playback` and names the camera as `{id}`,
//! so a stream token (`?token=`) works on its own camera's routes and nowhere else.

use crate::Service;
use crate::backend::{CameraService, VideoService};
use crate::error::ApiError;
use crate::guard::{Caller, Guard};
use crate::hls;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::sync::Arc;
use vms_messages::{
    CameraId, ErrorBody, MAX_PLAYBACK_HOURS, MAX_TIMELINE_BUCKETS, StreamToken, StreamTokenRequest,
    Timeline, validate_range,
};

/// Query of a playback range.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// Start (RFC 3339); default one hour before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now. At most 24 hours after `from`.
    pub to: Option<DateTime<Utc>>,
    /// A stream token, for players that cannot send headers.
    pub token: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = self.to.unwrap_or_else(Utc::now);
        let from = self.from.unwrap_or(to - Duration::hours(1));
        validate_range(from, to, MAX_PLAYBACK_HOURS)?;
        Ok((from, to))
    }
}

/// Query of the timeline.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Start (RFC 3339); default one hour before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now. At most 24 hours after `from`.
    pub to: Option<DateTime<Utc>>,
    /// Buckets of the scrub bar, 1-2000 (default 100).
    #[param(minimum = 1, maximum = 2000)]
    pub buckets: Option<u32>,
    /// A stream token, for players that cannot send headers.
    #[allow(dead_code, reason = "the guard reads it from the query string")]
    pub token: Option<String>,
}

/// Query of a snapshot.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SnapshotQuery {
    /// The moment wanted (RFC 3339); default the latest recorded frame.
    pub at: Option<DateTime<Utc>>,
    /// A stream token, for players that cannot send headers.
    #[allow(dead_code, reason = "the guard reads it from the query string")]
    pub token: Option<String>,
}

/// Query of a media segment.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// A stream token, for players that cannot send headers.
    #[allow(dead_code, reason = "the guard reads it from the query string")]
    pub token: Option<String>,
}

/// Get a stream token for a camera: media URLs of this camera accept it as `?token=` (players
/// cannot send headers). It is good for this camera's playlist, segments, timeline and snapshots
/// only, for minutes, and for no other camera or API call; it cannot get another token.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/stream-token", tag = "video", security(("bearer" = ["video:playback"])),
    params(("id" = String, Path, format = Uuid)), request_body(content = Option<StreamTokenRequest>), responses(
    (status = 201, body = StreamToken), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stream_token(
    cameras: Service<dyn CameraService>,
    guard: web::Data<Guard>,
    caller: Caller,
    id: web::Path<CameraId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let request: StreamTokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StreamTokenRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid("body", format!("not a stream token request: {e}")))?
    };
    let ttl = request.ttl()?;
    let camera = cameras
        .get_camera(caller.0.scope(), id.into_inner())
        .await?;
    let (token, expires_at) = guard
        .auth
        .issue_stream_token(&caller.0, camera.camera.id, camera.camera.tenant_id, ttl)
        .await?;
    let playlist_url = format!(
        "/api/v1/cameras/{}/playlist.m3u8?token={token}",
        camera.camera.id
    );
    Ok(HttpResponse::Created().json(StreamToken {
        token,
        expires_at,
        playlist_url,
    }))
}

/// HLS playlist of a camera's recorded video over `from..to` (at most 24 hours): fMP4 segments
/// by byte range, `EXT-X-DISCONTINUITY` at gaps and codec changes, `EXT-X-PROGRAM-DATE-TIME` for
/// wall-clock time. A range reaching into the future is an `EVENT` playlist that grows.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/playlist.m3u8", tag = "video", security(("bearer" = ["video:playback"])),
    params(("id" = String, Path, format = Uuid), RangeQuery), responses(
    (status = 200, description = "the playlist", content_type = "application/vnd.apple.mpegurl"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn playlist(
    video: Service<dyn VideoService>,
    caller: Caller,
    id: web::Path<CameraId>,
    q: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = q.range()?;
    let camera = id.into_inner();
    let segments = video
        .playback_segments(caller.0.scope(), camera, from, to)
        .await?;
    let body = hls::media_playlist(camera, &segments, q.token.as_deref(), to <= Utc::now());
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .body(body))
}

/// One recorded segment as an HLS media segment (what the playlist points to): the segment's
/// bytes, with its fragments' decode times on the camera's wall-clock timeline; HTTP Range.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/vod/{segment}/media.mp4", tag = "video", security(("bearer" = ["video:playback"])),
    params(("id" = String, Path, format = Uuid), ("segment" = i64, Path), TokenQuery), responses(
    (status = 200, description = "the segment", content_type = "video/mp4"),
    (status = 206, description = "the requested range", content_type = "video/mp4"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 416, description = "range not satisfiable"), (status = 503, body = ErrorBody)))]
pub async fn vod_segment(
    video: Service<dyn VideoService>,
    caller: Caller,
    path: web::Path<(CameraId, i64)>,
    _q: web::Query<TokenQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (camera, segment) = path.into_inner();
    let (bytes, container) = video.vod_segment(caller.0.scope(), camera, segment).await?;
    let len = u64::try_from(bytes.len()).unwrap_or(0);
    Ok(super::ranges::serve(
        &req,
        len,
        container,
        Arc::new(super::ranges::InMemory(bytes)),
    ))
}

/// A camera's timeline over `from..to` (at most 24 hours): the recorded spans, the gaps with why
/// (camera offline, node failover, licence suspended, not recorded), event markers, and the range
/// cut into `buckets` for a scrub bar.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/timeline", tag = "video", security(("bearer" = ["video:playback"])),
    params(("id" = String, Path, format = Uuid), TimelineQuery), responses(
    (status = 200, body = Timeline), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn timeline(
    video: Service<dyn VideoService>,
    caller: Caller,
    id: web::Path<CameraId>,
    q: web::Query<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let range = RangeQuery {
        from: q.from,
        to: q.to,
        token: None,
    };
    let (from, to) = range.range()?;
    let buckets = q.buckets.unwrap_or(100);
    if !(1..=MAX_TIMELINE_BUCKETS).contains(&buckets) {
        return Err(ApiError::invalid(
            "buckets",
            format!("must be 1-{MAX_TIMELINE_BUCKETS}"),
        ));
    }
    Ok(HttpResponse::Ok().json(
        video
            .timeline(caller.0.scope(), id.into_inner(), from, to, buckets)
            .await?,
    ))
}

/// A JPEG of the recorded frame nearest `at` (the latest one when `at` is absent), decoded from
/// the keyframe of its fragment.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/snapshot", tag = "video", security(("bearer" = ["video:playback"])),
    params(("id" = String, Path, format = Uuid), SnapshotQuery), responses(
    (status = 200, description = "the picture", content_type = "image/jpeg"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody)))]
pub async fn snapshot(
    video: Service<dyn VideoService>,
    caller: Caller,
    id: web::Path<CameraId>,
    q: web::Query<SnapshotQuery>,
) -> Result<HttpResponse, ApiError> {
    let jpeg = video
        .snapshot(caller.0.scope(), id.into_inner(), q.at)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "image/jpeg"))
        .body(jpeg))
}
