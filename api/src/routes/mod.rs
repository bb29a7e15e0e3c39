//! Route handlers. Each declares in its `security` entry the permission it needs (enforced by
//! [`crate::guard::authorize`], which [`register`] wraps around every route, before it runs),
//! validates its input, calls the
//! service trait of [`backend`](crate::backend) with the caller's tenant scope, and answers JSON.

pub mod audit;
pub mod cameras;
pub mod cluster;
pub mod events;
pub mod exports;
pub mod holds;
pub mod identity;
pub mod live;
pub mod live_hls;
pub mod notify;
mod ranges;
pub mod rules;
pub mod tenants;
pub mod tickets;
pub mod video;

use crate::Service;
use crate::backend::HealthService;
use crate::backend::Page;
use crate::error::ApiError;
use crate::guard::{self, Access};
use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{self, Next};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, web};
use serde::Deserialize;
use vms_messages::ErrorBody;

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size of list endpoints.
pub const MAX_LIMIT: i64 = 1000;

/// Where routes are registered: the app (each route wrapped in its access check) or, in tests, a
/// list to compare with the OpenAPI document.
pub trait RouteSink {
    /// Registers `handler` for `method` on the path template `path`.
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

impl RouteSink for web::ServiceConfig {
    /// The route runs behind [`guard::authorize`] with the access its OpenAPI operation declares; a
    /// route the document lacks is registered refusing everything (and fails the routes test).
    fn add<F, Args>(&mut self, method: Method, path: &'static str, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let access = guard::operation(method.as_str(), path).map_or_else(
            || Access::Undeclared("not in the OpenAPI document".into()),
            |op| op.access.clone(),
        );
        let route = web::method(method).to(handler).wrap(middleware::from_fn(
            move |req: ServiceRequest, next: Next<BoxBody>| {
                guard::authorize(access.clone(), req, next)
            },
        ));
        self.route(path, route);
    }
}

/// Registers each `METHOD "path" => handler` with a [`RouteSink`].
macro_rules! routes {
    ($sink:ident; $($method:ident $path:literal => $handler:expr,)*) => {
        $($sink.add(Method::$method, $path, $handler);)*
    };
}

/// Registers every route of the API.
pub fn register(sink: &mut impl RouteSink) {
    use self::{
        audit as a, cameras as c, events as e, exports as x, holds as h, identity as i,
        notify as n, rules as r, tenants as t, tickets as k, video as v,
    };
    routes! { sink;
        GET "/healthz" => healthz,
        GET "/readyz" => readyz,
        GET "/metrics" => metrics,
        GET "/api/v1/openapi.json" => openapi_json,
        POST "/api/v1/auth/login" => i::login,
        POST "/api/v1/auth/refresh" => i::refresh,
        POST "/api/v1/auth/logout" => i::logout,
        GET "/api/v1/auth/me" => i::me,
        POST "/api/v1/auth/signing-keys/rotate" => i::rotate_signing_key,
        POST "/api/v1/users" => i::create_user,
        GET "/api/v1/users" => i::list_users,
        GET "/api/v1/users/{id}" => i::get_user,
        PATCH "/api/v1/users/{id}" => i::update_user,
        DELETE "/api/v1/users/{id}" => i::delete_user,
        POST "/api/v1/api-keys" => i::create_api_key,
        GET "/api/v1/api-keys" => i::list_api_keys,
        DELETE "/api/v1/api-keys/{id}" => i::revoke_api_key,
        GET "/api/v1/audit" => a::list_audit,
        GET "/api/v1/nodes" => cluster::list_nodes,
        POST "/api/v1/nodes/{id}/drain" => cluster::drain_node,
        POST "/api/v1/nodes/{id}/undrain" => cluster::undrain_node,
        DELETE "/api/v1/nodes/{id}" => cluster::remove_node,
        GET "/api/v1/placement" => cluster::placement,
        POST "/api/v1/tenants" => t::create_tenant,
        GET "/api/v1/tenants" => t::list_tenants,
        GET "/api/v1/tenants/{id}" => t::get_tenant,
        PATCH "/api/v1/tenants/{id}" => t::update_tenant,
        DELETE "/api/v1/tenants/{id}" => t::delete_tenant,
        GET "/api/v1/tenants/{id}/usage" => t::tenant_usage,
        POST "/api/v1/cameras" => c::create_camera,
        GET "/api/v1/cameras" => c::list_cameras,
        GET "/api/v1/cameras/{id}" => c::get_camera,
        PATCH "/api/v1/cameras/{id}" => c::update_camera,
        DELETE "/api/v1/cameras/{id}" => c::delete_camera,
        GET "/api/v1/cameras/{id}/segments" => c::list_segments,
        GET "/api/v1/cameras/{id}/storage" => c::camera_storage,
        GET "/api/v1/segments/{id}" => c::get_segment,
        GET "/api/v1/segments/{id}/media" => c::segment_media,
        POST "/api/v1/holds" => h::create_hold,
        GET "/api/v1/holds" => h::list_holds,
        GET "/api/v1/holds/{id}" => h::get_hold,
        DELETE "/api/v1/holds/{id}" => h::release_hold,
        POST "/api/v1/cameras/{id}/stream-token" => v::stream_token,
        GET "/api/v1/cameras/{id}/playlist.m3u8" => v::playlist,
        GET "/api/v1/cameras/{id}/vod/{segment}/media.mp4" => v::vod_segment,
        GET "/api/v1/cameras/{id}/timeline" => v::timeline,
        GET "/api/v1/cameras/{id}/snapshot" => v::snapshot,
        GET "/api/v1/cameras/{id}/live.mp4" => live::live_mp4,
        POST "/api/v1/cameras/{id}/whep" => live::whep_offer,
        DELETE "/api/v1/cameras/{id}/whep/{session}" => live::whep_delete,
        GET "/api/v1/cameras/{id}/live/index.m3u8" => live_hls::live_playlist,
        GET "/api/v1/cameras/{id}/live/init.mp4" => live_hls::live_init,
        GET "/api/v1/cameras/{id}/live/segments/{msn}/media.mp4" => live_hls::live_segment,
        GET "/api/v1/cameras/{id}/live/segments/{msn}/parts/{part}/media.mp4" => live_hls::live_part,
        POST "/api/v1/exports" => x::create_export,
        GET "/api/v1/exports" => x::list_exports,
        GET "/api/v1/exports/{id}" => x::get_export,
        DELETE "/api/v1/exports/{id}" => x::delete_export,
        GET "/api/v1/exports/{id}/files/{camera}/media.mp4" => x::export_media,
        GET "/api/v1/exports/{id}/files/{camera}/manifest.json" => x::export_manifest,
        GET "/api/v1/export-key" => x::export_key,
        POST "/api/v1/cameras/{id}/rules" => r::create_rule,
        GET "/api/v1/cameras/{id}/rules" => r::list_rules,
        GET "/api/v1/detectors" => r::list_detectors,
        GET "/api/v1/rules/{id}" => r::get_rule,
        PATCH "/api/v1/rules/{id}" => r::update_rule,
        DELETE "/api/v1/rules/{id}" => r::delete_rule,
        GET "/api/v1/tickets" => k::list_tickets,
        GET "/api/v1/tickets/{id}" => k::get_ticket,
        POST "/api/v1/tickets/{id}/acknowledge" => k::acknowledge_ticket,
        POST "/api/v1/tickets/{id}/resolve" => k::resolve_ticket,
        POST "/api/v1/tickets/{id}/close" => k::close_ticket,
        POST "/api/v1/tickets/{id}/comments" => k::comment_ticket,
        POST "/api/v1/notification-channels" => n::create_channel,
        GET "/api/v1/notification-channels" => n::list_channels,
        GET "/api/v1/notification-channels/{id}" => n::get_channel,
        PATCH "/api/v1/notification-channels/{id}" => n::update_channel,
        DELETE "/api/v1/notification-channels/{id}" => n::delete_channel,
        GET "/api/v1/notification-channels/{id}/deliveries" => n::list_deliveries,
        POST "/api/v1/notification-deliveries/{id}/retry" => n::retry_delivery,
        GET "/api/v1/events" => e::list_events,
        GET "/api/v1/events/stream" => e::stream_events,
        GET "/api/v1/events/{id}" => e::get_event,
        GET "/api/v1/events/{id}/snapshot" => e::event_snapshot,
        GET "/api/v1/events/{id}/similar" => e::similar_events,
        POST "/api/v1/events/{id}/hold" => h::hold_event,
    }
}

/// Registers every route (see [`register`]) and the JSON 404 of `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    register(cfg);
    cfg.service(web::scope("/api/v1").default_service(web::to(not_found)));
}

/// JSON 404 for unknown routes (405 for a documented path called with another method).
/// GETs of paths outside the API are the web console's ([`crate::console`]).
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    if req.method() == actix_web::http::Method::GET
        && crate::console::owns(req.path())
        && let Some(file) = crate::console::serve(&req)
    {
        return file;
    }
    if let Some(pattern) = req.match_pattern().filter(|p| guard::has_path(p)) {
        return ApiError::method_not_allowed(req.method().as_str(), &pattern).error_response();
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no route for {} {}",
            req.method(),
            crate::audit::truncate(req.path(), 200)
        ),
        None,
    )
    .error_response()
}

/// Query of list endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A checked page request.
pub fn page(cursor: Option<String>, limit: Option<i64>) -> Result<Page, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(Page { cursor, limit })
}

impl PageQuery {
    /// The checked page request.
    pub fn page(self) -> Result<Page, ApiError> {
        page(self.cursor, self.limit)
    }
}

/// Relative URL of a segment's media, served by [`cameras::segment_media`].
pub fn segment_media_url(id: i64) -> String {
    format!("/api/v1/segments/{id}/media")
}

/// Fills in each segment's `media_url` (the store knows files, not the API's URLs).
fn link_media(segments: &mut [vms_messages::Segment]) {
    for segment in segments {
        segment.media_url = segment_media_url(segment.id);
    }
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the node can serve (database reachable).
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses(
    (status = 200, description = "ready"), (status = 503, description = "not ready", body = ErrorBody)))]
pub async fn readyz(backend: Service<dyn HealthService>) -> Result<HttpResponse, ApiError> {
    backend.ready().await.map_err(ApiError::unavailable)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

/// Prometheus metrics in the text exposition format (they cover every tenant: platform admins only).
#[utoipa::path(get, path = "/metrics", tag = "health", security(("bearer" = ["metrics:read"])),
    responses((status = 200, description = "metrics", content_type = "text/plain")))]
pub async fn metrics() -> HttpResponse {
    let families = prometheus::gather();
    match prometheus::TextEncoder::new().encode_to_string(&families) {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Records what [`register`] registers.
    #[derive(Default)]
    struct Recorder(BTreeSet<(String, String)>);

    impl RouteSink for Recorder {
        fn add<F, Args>(&mut self, method: Method, path: &'static str, _handler: F)
        where
            F: Handler<Args>,
            Args: FromRequest + 'static,
            F::Output: Responder + 'static,
        {
            assert!(
                self.0.insert((method.to_string(), path.to_string())),
                "{method} {path} registered twice"
            );
        }
    }

    #[test]
    fn every_route_is_a_documented_operation_and_every_operation_is_routed() {
        let mut routes = Recorder::default();
        register(&mut routes);
        let documented: BTreeSet<(String, String)> = guard::operations(&crate::openapi::document())
            .into_iter()
            .map(|op| (op.method, op.path))
            .collect();
        let undocumented: Vec<_> = routes.0.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes without an OpenAPI operation (and so without a permission): {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&routes.0).collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }
}
