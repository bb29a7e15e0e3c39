//! Route handlers. Each declares in its `security` entry the permission it needs (enforced by
//! [`crate::guard::authorize`] before it runs), validates its input, calls the
//! [`Backend`](crate::Backend) with the caller's tenant scope, and answers JSON.

pub mod audit;
pub mod cameras;
pub mod cluster;
pub mod events;
pub mod identity;
pub mod notify;
pub mod rules;
pub mod tenants;
pub mod tickets;

use crate::SharedBackend;
use crate::backend::Page;
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use vms_messages::ErrorBody;

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size of list endpoints.
pub const MAX_LIMIT: i64 = 1000;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use self::{
        audit as a, cameras as c, events as e, identity as i, notify as n, rules as r,
        tenants as t, tickets as k,
    };
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(openapi_json))
                .route("/auth/login", web::post().to(i::login))
                .route("/auth/refresh", web::post().to(i::refresh))
                .route("/auth/logout", web::post().to(i::logout))
                .route("/auth/me", web::get().to(i::me))
                .route(
                    "/auth/signing-keys/rotate",
                    web::post().to(i::rotate_signing_key),
                )
                .route("/users", web::post().to(i::create_user))
                .route("/users", web::get().to(i::list_users))
                .route("/users/{id}", web::get().to(i::get_user))
                .route("/users/{id}", web::patch().to(i::update_user))
                .route("/users/{id}", web::delete().to(i::delete_user))
                .route("/api-keys", web::post().to(i::create_api_key))
                .route("/api-keys", web::get().to(i::list_api_keys))
                .route("/api-keys/{id}", web::delete().to(i::revoke_api_key))
                .route("/audit", web::get().to(a::list_audit))
                .route("/nodes", web::get().to(cluster::list_nodes))
                .route("/nodes/{id}/drain", web::post().to(cluster::drain_node))
                .route("/nodes/{id}/undrain", web::post().to(cluster::undrain_node))
                .route("/nodes/{id}", web::delete().to(cluster::remove_node))
                .route("/placement", web::get().to(cluster::placement))
                .route("/tenants", web::post().to(t::create_tenant))
                .route("/tenants", web::get().to(t::list_tenants))
                .route("/tenants/{id}", web::get().to(t::get_tenant))
                .route("/tenants/{id}", web::patch().to(t::update_tenant))
                .route("/tenants/{id}", web::delete().to(t::delete_tenant))
                .route("/cameras", web::post().to(c::create_camera))
                .route("/cameras", web::get().to(c::list_cameras))
                .route("/cameras/{id}", web::get().to(c::get_camera))
                .route("/cameras/{id}", web::patch().to(c::update_camera))
                .route("/cameras/{id}", web::delete().to(c::delete_camera))
                .route("/cameras/{id}/segments", web::get().to(c::list_segments))
                .route("/segments/{id}", web::get().to(c::get_segment))
                .route("/segments/{id}/media", web::get().to(c::segment_media))
                .route("/cameras/{id}/rules", web::post().to(r::create_rule))
                .route("/cameras/{id}/rules", web::get().to(r::list_rules))
                .route("/detectors", web::get().to(r::list_detectors))
                .route("/rules/{id}", web::get().to(r::get_rule))
                .route("/rules/{id}", web::patch().to(r::update_rule))
                .route("/rules/{id}", web::delete().to(r::delete_rule))
                .route("/tickets", web::get().to(k::list_tickets))
                .route("/tickets/{id}", web::get().to(k::get_ticket))
                .route(
                    "/tickets/{id}/acknowledge",
                    web::post().to(k::acknowledge_ticket),
                )
                .route("/tickets/{id}/resolve", web::post().to(k::resolve_ticket))
                .route("/tickets/{id}/close", web::post().to(k::close_ticket))
                .route("/tickets/{id}/comments", web::post().to(k::comment_ticket))
                .route("/notification-channels", web::post().to(n::create_channel))
                .route("/notification-channels", web::get().to(n::list_channels))
                .route("/notification-channels/{id}", web::get().to(n::get_channel))
                .route(
                    "/notification-channels/{id}",
                    web::patch().to(n::update_channel),
                )
                .route(
                    "/notification-channels/{id}",
                    web::delete().to(n::delete_channel),
                )
                .route(
                    "/notification-channels/{id}/deliveries",
                    web::get().to(n::list_deliveries),
                )
                .route(
                    "/notification-deliveries/{id}/retry",
                    web::post().to(n::retry_delivery),
                )
                .route("/events", web::get().to(e::list_events))
                .route("/events/stream", web::get().to(e::stream_events))
                .route("/events/{id}", web::get().to(e::get_event))
                .route("/events/{id}/snapshot", web::get().to(e::event_snapshot))
                .route("/events/{id}/similar", web::get().to(e::similar_events))
                .default_service(web::to(not_found)),
        );
}

/// JSON 404 for unknown routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
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

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()), responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the node can serve (database reachable).
#[utoipa::path(get, path = "/readyz", tag = "health", security(()), responses(
    (status = 200, description = "ready"), (status = 503, description = "not ready", body = ErrorBody)))]
pub async fn readyz(backend: SharedBackend) -> Result<HttpResponse, ApiError> {
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
