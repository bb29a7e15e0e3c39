//! Cameras, their live status, and their recordings; always within the caller's tenant scope, so
//! another tenant's ids answer 404 exactly like ids that do not exist.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::CameraPage;
use crate::backend::CameraService;
use crate::backend::SegmentSource;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use vms_messages::{
    CameraCreate, CameraId, CameraStorage, CameraUpdate, CameraView, ErrorBody, Segment,
    SegmentContainer, SegmentPage, TenantId,
};

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

fn noted(req: &HttpRequest, camera: &CameraView) {
    note(
        req,
        AuditNote {
            tenant_id: Some(camera.camera.tenant_id),
            object_id: Some(camera.camera.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Add a camera; recording starts at once. `tenant_id` defaults to the caller's tenant.
#[utoipa::path(post, path = "/api/v1/cameras", tag = "cameras", security(("bearer" = ["cameras:write"])),
    request_body = CameraCreate, responses(
    (status = 201, body = CameraView), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_camera(
    backend: Service<dyn CameraService>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<CameraCreate>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    body.validate()?;
    let tenant = body.tenant_id.or(caller.0.tenant_id).ok_or_else(|| {
        ApiError::invalid("tenant_id", "tenant_id is required for platform admins")
    })?;
    let camera = backend
        .create_camera(caller.0.scope(), tenant, body)
        .await?;
    noted(&req, &camera);
    Ok(HttpResponse::Created().json(camera))
}

/// List cameras with their live status.
#[utoipa::path(get, path = "/api/v1/cameras", tag = "cameras", security(("bearer" = ["cameras:read"])),
    params(CameraListQuery), responses((status = 200, body = CameraPage), (status = 400, body = ErrorBody)))]
pub async fn list_cameras(
    backend: Service<dyn CameraService>,
    caller: Caller,
    q: web::Query<CameraListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    Ok(HttpResponse::Ok().json(
        backend
            .list_cameras(caller.0.scope(), q.tenant_id, page)
            .await?,
    ))
}

/// Get a camera with its live status (state, reason, fps, bitrate, last frame, node).
#[utoipa::path(get, path = "/api/v1/cameras/{id}", tag = "cameras", security(("bearer" = ["cameras:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = CameraView), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_camera(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_camera(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Change a camera; takes effect live (a new URL reconnects, `enabled` starts or stops recording).
#[utoipa::path(patch, path = "/api/v1/cameras/{id}", tag = "cameras", security(("bearer" = ["cameras:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = CameraUpdate, responses(
    (status = 200, body = CameraView), (status = 400, body = ErrorBody), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_camera(
    backend: Service<dyn CameraService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<CameraId>,
    body: web::Json<CameraUpdate>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    body.validate()?;
    let camera = backend
        .update_camera(caller.0.scope(), id.into_inner(), body)
        .await?;
    noted(&req, &camera);
    Ok(HttpResponse::Ok().json(camera))
}

/// Delete a camera and its recordings.
#[utoipa::path(delete, path = "/api/v1/cameras/{id}", tag = "cameras", security(("bearer" = ["cameras:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_camera(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    backend
        .delete_camera(caller.0.scope(), id.into_inner())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a camera's segments overlapping a time range, oldest first.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/segments", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(("id" = String, Path, format = Uuid), SegmentQuery), responses(
    (status = 200, body = SegmentPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_segments(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<CameraId>,
    q: web::Query<SegmentQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to <= from
    {
        return Err(ApiError::invalid("to", "to must be after from"));
    }
    let mut page = backend
        .list_segments(caller.0.scope(), id.into_inner(), q.from, q.to, page)
        .await?;
    super::link_media(&mut page.items);
    Ok(HttpResponse::Ok().json(page))
}

/// Get a segment's index entry.
#[utoipa::path(get, path = "/api/v1/segments/{id}", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(("id" = i64, Path)), responses(
    (status = 200, body = Segment), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_segment(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let mut segment = backend
        .get_segment(caller.0.scope(), id.into_inner())
        .await?;
    super::link_media(std::slice::from_mut(&mut segment));
    Ok(HttpResponse::Ok().json(segment))
}

/// Download a segment: fragmented MP4 (`video/mp4`), or MPEG-TS (`video/mp2t`) for segments
/// recorded before ingest v2; supports HTTP Range. Any node serves it from whichever copy it
/// reaches: its own disk, its copy as the camera's standby, or the object store.
#[utoipa::path(get, path = "/api/v1/segments/{id}/media", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(("id" = i64, Path)), responses(
    (status = 200, description = "the whole file (`video/mp2t` for MPEG-TS segments)", content_type = "video/mp4"),
    (status = 206, description = "the requested range", content_type = "video/mp4"),
    (status = 404, body = ErrorBody), (status = 416, description = "range not satisfiable"), (status = 400, body = ErrorBody)))]
pub async fn segment_media(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<i64>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let path = match backend
        .segment_source(caller.0.scope(), id.into_inner())
        .await?
    {
        SegmentSource::File(path) => path,
        SegmentSource::Remote {
            len,
            container,
            reader,
        } => return Ok(super::ranges::serve(&req, len, container, reader)),
    };
    let file = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(|e| {
            tracing::warn!(path = %path.display(), error = %e, "segment file missing");
            ApiError::not_found("segment file")
        })?;
    let container = match path.extension().and_then(|e| e.to_str()) {
        Some("mp4") => SegmentContainer::Fmp4,
        _ => SegmentContainer::Ts,
    };
    let file = file
        .set_content_type(
            container
                .content_type()
                .parse()
                .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
        )
        .disable_content_disposition();
    Ok(file.into_response(&req))
}

/// Where a camera's footage is kept: bytes on the nodes' disks, in the object store and waiting
/// for upload, the oldest footage in any tier and on disk, and the camera's owner and standby.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/storage", tag = "recordings", security(("bearer" = ["recordings:read"])),
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = CameraStorage), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn camera_storage(
    backend: Service<dyn CameraService>,
    caller: Caller,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    let storage = backend
        .camera_storage(caller.0.scope(), id.into_inner())
        .await?;
    Ok(HttpResponse::Ok().json(storage))
}
