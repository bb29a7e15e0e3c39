//! Low-latency HLS of a camera's live video, for Safari, iOS and TVs: the playlist
//! (`.../live/index.m3u8`, blocking reloads with `_HLS_msn`/`_HLS_part`), the init section, whole
//! segments and their parts. Every route needs `video:live` and names the camera as `{id}`, so a
//! stream token (`?token=`) of that camera works; the playlist's URLs carry it on.

use crate::Service;
use crate::backend::{CameraService, VideoService};
use crate::error::ApiError;
use crate::guard::Caller;
use crate::live::Live;
use crate::live::llhls::{Snapshot, Window};
use crate::live::llhls_playlist;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use vms_messages::{CameraId, CameraState, ErrorBody};

use super::video::TokenQuery;

/// Longest a request waits for what it names (three part targets and a segment's worth).
const BLOCK: Duration = Duration::from_secs(4);
/// Longest a new window waits for a streaming camera's first frame.
const FIRST_FRAME: Duration = Duration::from_secs(2);
/// Parts a blocking request may ask ahead of the newest (the spec's Advance Part Limit: three
/// seconds of parts).
const ADVANCE_PARTS: usize = 6;

/// 404 for a camera that sends no video now (offline, disabled, or not started yet).
fn not_streaming(camera: CameraId) -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::NOT_FOUND,
        "not_streaming",
        format!("camera {camera} sends no video now; its status says why"),
        None,
    )
}

/// Query of the LL-HLS playlist.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LivePlaylistQuery {
    /// Block until the playlist holds this media sequence number.
    #[serde(rename = "_HLS_msn")]
    #[param(rename = "_HLS_msn")]
    pub msn: Option<u64>,
    /// With `_HLS_msn`: block until it holds this part of that segment.
    #[serde(rename = "_HLS_part")]
    #[param(rename = "_HLS_part")]
    pub part: Option<usize>,
    /// Playlist delta updates are not offered; accepted and ignored.
    #[serde(rename = "_HLS_skip")]
    #[param(rename = "_HLS_skip")]
    #[allow(dead_code, reason = "accepted for players that send it")]
    pub skip: Option<String>,
    /// A stream token, for players that cannot send headers.
    pub token: Option<String>,
}

/// The camera's window, started on its live feed when none runs.
async fn window(
    cameras: &Service<dyn CameraService>,
    video: &Service<dyn VideoService>,
    live: &Live,
    caller: &Caller,
    camera: CameraId,
) -> Result<Arc<Window>, ApiError> {
    // The camera first: another tenant's answers 404.
    let view = cameras.get_camera(caller.0.scope(), camera).await?;
    if let Some(w) = live.llhls.window(camera) {
        return Ok(w);
    }
    let mut feed = video.live(caller.0.scope(), camera).await?;
    // No group of pictures yet: a streaming camera's first frames are a moment away (a relay
    // just started); a camera that sends nothing gets no window waiting for it.
    if feed.gop.is_empty() {
        if view.status.state != CameraState::Streaming {
            return Err(not_streaming(camera));
        }
        match tokio::time::timeout(FIRST_FRAME, feed.frames.recv()).await {
            Ok(Ok(frame)) => feed.gop.push(frame),
            _ => return Err(not_streaming(camera)),
        }
    }
    let slot = live.viewer_slot(camera, "llhls")?;
    Ok(live.llhls.start(camera, feed, slot))
}

/// Tells one player from another: a hash of its address, its user agent and its credential (the
/// stream token or the `Authorization` header; hashed, never kept).
fn client_key(req: &HttpRequest, token: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let header = |name| req.headers().get(name).map(|v| v.as_bytes().to_vec());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    req.peer_addr().map(|a| a.ip()).hash(&mut hasher);
    header(actix_web::http::header::USER_AGENT).hash(&mut hasher);
    match token {
        Some(t) => t.hash(&mut hasher),
        None => header(actix_web::http::header::AUTHORIZATION).hash(&mut hasher),
    }
    hasher.finish()
}

fn media(bytes: bytes::Bytes, camera: CameraId) -> HttpResponse {
    crate::live::metrics::Labels::new(camera, "llhls").sent(bytes.len());
    HttpResponse::Ok().content_type("video/mp4").body(bytes)
}

/// Live video as low-latency HLS: segments of at least 2 s from keyframe to keyframe, in parts of
/// about 0.5 s, with `EXT-X-PROGRAM-DATE-TIME`. `_HLS_msn` (and `_HLS_part`) block until the
/// playlist holds that segment (part), at most 4 s (then 503). One window per camera and node
/// serves every LL-HLS client; each client (its address, user agent and credential) counts as a
/// viewer while it reloads the playlist, and one over `live.max_viewers_per_camera` is 429.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/live/index.m3u8", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), LivePlaylistQuery), responses(
    (status = 200, description = "the playlist", content_type = "application/vnd.apple.mpegurl"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn live_playlist(
    cameras: Service<dyn CameraService>,
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    id: web::Path<CameraId>,
    q: web::Query<LivePlaylistQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let camera = id.into_inner();
    let q = q.into_inner();
    if q.part.is_some() && q.msn.is_none() {
        return Err(ApiError::invalid("_HLS_part", "needs _HLS_msn"));
    }
    let window = window(&cameras, &video, &live, &caller, camera).await?;
    window.admit(
        client_key(&req, q.token.as_deref()),
        std::time::Instant::now(),
        || live.viewer_slot(camera, "llhls"),
    )?;
    let now = window.snapshot();
    let snapshot = match q.msn {
        Some(msn) => {
            if now.too_far(msn) {
                return Err(ApiError::invalid(
                    "_HLS_msn",
                    format!(
                        "segment {msn} is too far ahead (the next is {})",
                        now.next_msn()
                    ),
                ));
            }
            let newest = now.segments.back().map_or(0, |s| s.parts.len());
            let ahead = match (now.segments.back(), q.part) {
                (Some(last), Some(part)) if msn == last.msn => part.saturating_sub(newest),
                (Some(last), Some(part)) if msn > last.msn => part + 1,
                _ => 0,
            };
            if ahead > ADVANCE_PARTS {
                return Err(ApiError::invalid(
                    "_HLS_part",
                    format!(
                        "part {msn}.{} is more than {ADVANCE_PARTS} parts ahead",
                        q.part.unwrap_or(0)
                    ),
                ));
            }
            let part = q.part;
            let ready = window.wait_for(BLOCK, |s| s.has(msn, part)).await;
            if !ready.has(msn, part) {
                return Err(ApiError::unavailable(format!(
                    "segment {msn} did not come within {} s",
                    BLOCK.as_secs()
                )));
            }
            ready
        }
        // A first playlist waits for a first part.
        None => {
            window
                .wait_for(BLOCK, |s| s.segments.iter().any(|g| !g.parts.is_empty()))
                .await
        }
    };
    if snapshot.segments.is_empty() {
        return Err(not_streaming(camera));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.apple.mpegurl")
        .body(llhls_playlist::render(&snapshot, q.token.as_deref())))
}

/// The LL-HLS init section (fMP4, video only).
#[utoipa::path(get, path = "/api/v1/cameras/{id}/live/init.mp4", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), TokenQuery), responses(
    (status = 200, description = "the init section", content_type = "video/mp4"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn live_init(
    cameras: Service<dyn CameraService>,
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    id: web::Path<CameraId>,
    _q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let camera = id.into_inner();
    let window = window(&cameras, &video, &live, &caller, camera).await?;
    let s = window.wait_for(BLOCK, |s| s.track.is_some()).await;
    let track = s.track.ok_or_else(|| not_streaming(camera))?;
    Ok(media(track.init.clone(), camera))
}

/// One whole LL-HLS segment (blocks until it is complete, at most 4 s).
#[utoipa::path(get, path = "/api/v1/cameras/{id}/live/segments/{msn}/media.mp4", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), ("msn" = u64, Path), TokenQuery), responses(
    (status = 200, description = "the segment", content_type = "video/mp4"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn live_segment(
    cameras: Service<dyn CameraService>,
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    path: web::Path<(CameraId, u64)>,
    _q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let (camera, msn) = path.into_inner();
    let window = window(&cameras, &video, &live, &caller, camera).await?;
    let s = wait_for(&window, msn, None).await;
    let segment = s
        .segment(msn)
        .filter(|g| g.complete)
        .ok_or_else(|| ApiError::not_found("live segment"))?;
    Ok(media(segment.bytes(), camera))
}

/// One LL-HLS part (blocks until it exists, at most 4 s: players ask for the preload hint early).
#[utoipa::path(get, path = "/api/v1/cameras/{id}/live/segments/{msn}/parts/{part}/media.mp4", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), ("msn" = u64, Path), ("part" = usize, Path), TokenQuery), responses(
    (status = 200, description = "the part", content_type = "video/mp4"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn live_part(
    cameras: Service<dyn CameraService>,
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    path: web::Path<(CameraId, u64, usize)>,
    _q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let (camera, msn, part) = path.into_inner();
    let window = window(&cameras, &video, &live, &caller, camera).await?;
    let s = wait_for(&window, msn, Some(part)).await;
    let bytes = s
        .part(msn, part)
        .map(|p| p.bytes.clone())
        .ok_or_else(|| ApiError::not_found("live part"))?;
    Ok(media(bytes, camera))
}

/// Waits for segment `msn` (part `part`) unless it is too far ahead to come soon.
async fn wait_for(window: &Window, msn: u64, part: Option<usize>) -> Snapshot {
    let now = window.snapshot();
    if now.too_far(msn) || now.has(msn, part) {
        return now;
    }
    window.wait_for(BLOCK, |s| s.has(msn, part)).await
}
