//! Route handlers. Each validates its input, calls the [`Backend`](crate::Backend), and answers JSON.

use crate::SharedBackend;
use crate::backend::{CameraPage, TenantPage};
use crate::error::ApiError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use vms_messages::{
    CameraCreate, CameraId, CameraUpdate, CameraView, ErrorBody, Segment, SegmentPage, Tenant,
    TenantCreate, TenantId, TenantUpdate,
};

/// Default page size of list endpoints.
pub const DEFAULT_LIMIT: i64 = 100;
/// Largest page size of list endpoints.
pub const MAX_LIMIT: i64 = 1000;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .service(
            web::scope("/api/v1")
                .route("/openapi.json", web::get().to(openapi_json))
                .route("/tenants", web::post().to(create_tenant))
                .route("/tenants", web::get().to(list_tenants))
                .route("/tenants/{id}", web::get().to(get_tenant))
                .route("/tenants/{id}", web::patch().to(update_tenant))
                .route("/tenants/{id}", web::delete().to(delete_tenant))
                .route("/cameras", web::post().to(create_camera))
                .route("/cameras", web::get().to(list_cameras))
                .route("/cameras/{id}", web::get().to(get_camera))
                .route("/cameras/{id}", web::patch().to(update_camera))
                .route("/cameras/{id}", web::delete().to(delete_camera))
                .route("/cameras/{id}/segments", web::get().to(list_segments))
                .route("/segments/{id}", web::get().to(get_segment))
                .route("/segments/{id}/media", web::get().to(segment_media))
                .default_service(web::to(not_found)),
        );
}

/// JSON 404 for unknown routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
        None,
    )
    .error_response()
}

fn check_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}, got {limit}"),
        ));
    }
    Ok(limit)
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

/// Query of the camera list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CameraListQuery {
    /// Only this tenant's cameras.
    #[param(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Query of the segment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SegmentQuery {
    /// Only segments ending after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only segments starting before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the node can serve (database reachable).
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "ready"), (status = 503, description = "not ready", body = ErrorBody)))]
pub async fn readyz(backend: SharedBackend) -> Result<HttpResponse, ApiError> {
    backend.ready().await.map_err(ApiError::unavailable)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "metrics", content_type = "text/plain")))]
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
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(crate::openapi::document())
}

/// Create a tenant.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = TenantCreate, responses(
    (status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_tenant(
    backend: SharedBackend,
    body: web::Json<TenantCreate>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    req.validate()?;
    Ok(HttpResponse::Created().json(backend.create_tenant(req).await?))
}

/// List tenants.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(PageQuery), responses(
    (status = 200, body = TenantPage), (status = 400, body = ErrorBody)))]
pub async fn list_tenants(
    backend: SharedBackend,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = check_limit(q.limit)?;
    Ok(HttpResponse::Ok().json(backend.list_tenants(q.cursor, limit).await?))
}

/// Get a tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Tenant), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_tenant(
    backend: SharedBackend,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_tenant(id.into_inner()).await?))
}

/// Change a tenant's name or licence.
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, format = Uuid)),
    request_body = TenantUpdate, responses(
    (status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_tenant(
    backend: SharedBackend,
    id: web::Path<TenantId>,
    body: web::Json<TenantUpdate>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    req.validate()?;
    Ok(HttpResponse::Ok().json(backend.update_tenant(id.into_inner(), req).await?))
}

/// Delete a tenant that has no cameras.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_tenant(
    backend: SharedBackend,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    backend.delete_tenant(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Add a camera; recording starts at once.
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", request_body = CameraCreate, responses(
    (status = 201, body = CameraView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_camera(
    backend: SharedBackend,
    body: web::Json<CameraCreate>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    req.validate()?;
    Ok(HttpResponse::Created().json(backend.create_camera(req).await?))
}

/// List cameras with their live status.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras", params(CameraListQuery), responses(
    (status = 200, body = CameraPage), (status = 400, body = ErrorBody)))]
pub async fn list_cameras(
    backend: SharedBackend,
    q: web::Query<CameraListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = check_limit(q.limit)?;
    Ok(HttpResponse::Ok().json(backend.list_cameras(q.tenant_id, q.cursor, limit).await?))
}

/// Get a camera with its live status (state, reason, fps, bitrate, last frame, node).
#[utoipa::path(get, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = CameraView), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_camera(
    backend: SharedBackend,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_camera(id.into_inner()).await?))
}

/// Change a camera; takes effect live (a new URL reconnects, `enabled` starts or stops recording).
#[utoipa::path(patch, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = String, Path, format = Uuid)),
    request_body = CameraUpdate, responses(
    (status = 200, body = CameraView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_camera(
    backend: SharedBackend,
    id: web::Path<CameraId>,
    body: web::Json<CameraUpdate>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    req.validate()?;
    Ok(HttpResponse::Ok().json(backend.update_camera(id.into_inner(), req).await?))
}

/// Delete a camera and its recordings.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}", tag = "cameras", params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_camera(
    backend: SharedBackend,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    backend.delete_camera(id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a camera's segments overlapping a time range, oldest first.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/segments", tag = "recordings",
    params(("id" = String, Path, format = Uuid), SegmentQuery), responses(
    (status = 200, body = SegmentPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_segments(
    backend: SharedBackend,
    id: web::Path<CameraId>,
    q: web::Query<SegmentQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let limit = check_limit(q.limit)?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to <= from
    {
        return Err(ApiError::invalid("to", "to must be after from"));
    }
    Ok(HttpResponse::Ok().json(
        backend
            .list_segments(id.into_inner(), q.from, q.to, q.cursor, limit)
            .await?,
    ))
}

/// Get a segment's index entry.
#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "recordings", params(("id" = i64, Path)), responses(
    (status = 200, body = Segment), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_segment(
    backend: SharedBackend,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_segment(id.into_inner()).await?))
}

/// Download a segment (MPEG-TS); supports HTTP Range.
#[utoipa::path(get, path = "/api/v1/segments/{id}/media", tag = "recordings", params(("id" = i64, Path)), responses(
    (status = 200, description = "the whole file", content_type = "video/mp2t"),
    (status = 206, description = "the requested range", content_type = "video/mp2t"),
    (status = 404, body = ErrorBody), (status = 416, description = "range not satisfiable"), (status = 400, body = ErrorBody)))]
pub async fn segment_media(
    backend: SharedBackend,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let path = backend.segment_file(id.into_inner()).await?;
    let file = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "segment file missing");
            ApiError::not_found("segment file")
        })?;
    let file = file
        .set_content_type(
            "video/mp2t"
                .parse()
                .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
        )
        .disable_content_disposition();
    Ok(file.into_response(&req))
}
