//! Live video of a camera: WebRTC by WHEP (`POST .../whep`, `DELETE .../whep/{session}`) and
//! fMP4 fragments over a WebSocket for Media Source Extensions (`GET .../live.mp4`). Every route
//! needs `video:live` and names the camera as `{id}`, so a stream token (`?token=`) of that camera
//! works here too. Viewers are actix actors (`crate::live`).

use crate::Service;
use crate::backend::{CameraService, VideoService};
use crate::error::ApiError;
use crate::guard::Caller;
use crate::live::{Live, mse::MseViewer, whep};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use uuid::Uuid;
use vms_messages::{CameraId, ErrorBody};

use super::video::TokenQuery;

/// Live video as fMP4 over a WebSocket, for Media Source Extensions where WebRTC is blocked. The
/// socket carries a text message describing the track (`{"codec", "width", "height"}`), the fMP4
/// init section, then one binary message (`moof` + `mdat`) per frame from the newest keyframe; a
/// changed track repeats the first two. A viewer that falls behind skips to the next keyframe.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/live.mp4", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), TokenQuery), responses(
    (status = 101, description = "a WebSocket of fMP4 fragments"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn live_mp4(
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    id: web::Path<CameraId>,
    _q: web::Query<TokenQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let camera = id.into_inner();
    // The camera first: another tenant's answers 404 whatever the request.
    let feed = video.live(caller.0.scope(), camera).await?;
    if !is_websocket(&req) {
        return Err(ApiError::invalid(
            "Upgrade",
            "this is a WebSocket endpoint: connect with Upgrade: websocket",
        ));
    }
    let slot = live.viewer_slot(camera, "mse")?;
    let (response, session, messages) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::invalid("Upgrade", format!("not a WebSocket handshake: {e}")))?;
    MseViewer::start(session, messages, feed, slot);
    Ok(response)
}

fn is_websocket(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Start watching a camera live over WebRTC (WHEP): the body is the browser's SDP offer
/// (`application/sdp`); the answer comes back as `201` with the session's URL in `Location`, and
/// any configured STUN/TURN servers as `Link` headers. H.264 always; H.265 where the offer
/// receives it. Video starts at the newest keyframe once ICE connects.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/whep", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), TokenQuery),
    request_body(content = String, content_type = "application/sdp", description = "the SDP offer"), responses(
    (status = 201, description = "the SDP answer", content_type = "application/sdp"),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn whep_offer(
    video: Service<dyn VideoService>,
    live: web::Data<Live>,
    caller: Caller,
    id: web::Path<CameraId>,
    _q: web::Query<TokenQuery>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let camera = id.into_inner();
    // The camera first: another tenant's answers 404 whatever the body.
    let feed = video.live(caller.0.scope(), camera).await?;
    let offer = std::str::from_utf8(&body)
        .ok()
        .filter(|o| !o.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("sdp", "the body must be an SDP offer in UTF-8"))?;
    let slot = live.viewer_slot(camera, "webrtc")?;
    let endpoint = whep::Endpoint {
        address: candidate_address(&live, &req).await,
        gso: live.config.udp_gso,
    };
    let answer = whep::open(&live.whep, camera, offer, endpoint, feed, slot).await?;
    let mut response = HttpResponse::Created();
    response.content_type("application/sdp").insert_header((
        header::LOCATION,
        format!("/api/v1/cameras/{camera}/whep/{}", answer.id),
    ));
    for server in &live.config.ice_servers {
        response.append_header((header::LINK, format!("<{server}>; rel=\"ice-server\"")));
    }
    Ok(response.body(answer.sdp))
}

/// End a WebRTC viewing session (its URL from `Location`).
#[utoipa::path(delete, path = "/api/v1/cameras/{id}/whep/{session}", tag = "live", security(("bearer" = ["video:live"])),
    params(("id" = String, Path, format = Uuid), ("session" = String, Path, format = Uuid), TokenQuery), responses(
    (status = 204, description = "ended"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn whep_delete(
    cameras: Service<dyn CameraService>,
    live: web::Data<Live>,
    caller: Caller,
    path: web::Path<(CameraId, Uuid)>,
    _q: web::Query<TokenQuery>,
) -> Result<HttpResponse, ApiError> {
    let (camera, session) = path.into_inner();
    // Only the caller's tenant's camera, whoever knows a session's id.
    cameras.get_camera(caller.0.scope(), camera).await?;
    if live.whep.close(camera, session) {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("WebRTC session"))
    }
}

/// The address offered to a WebRTC viewer: `live.webrtc_address`, else the one it reached the
/// API at (the `Host` header), else this node's listening address, else loopback.
async fn candidate_address(live: &Live, req: &HttpRequest) -> IpAddr {
    if let Some(address) = live.config.webrtc_address {
        return address;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if let Ok(socket) = host.parse::<SocketAddr>() {
        return socket.ip();
    }
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return ip;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    if !name.is_empty()
        && let Ok(mut found) = tokio::net::lookup_host((name, 0)).await
        && let Some(first) = found.next()
    {
        return first.ip();
    }
    let listening = req.app_config().local_addr().ip();
    if listening.is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        listening
    }
}
