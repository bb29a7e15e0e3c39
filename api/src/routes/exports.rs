//! Exports: a job writes one MP4 per camera over a range (remuxed, never transcoded) with a signed
//! manifest; the files download with HTTP Range; the export holds its footage until deleted.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::{ExportService, SegmentSource};
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;
use vms_messages::{
    CameraId, ErrorBody, Export, ExportCreate, ExportKey, ExportPage, SegmentContainer,
    SignedManifest,
};

fn noted(req: &HttpRequest, export: &Export) {
    note(
        req,
        AuditNote {
            tenant_id: Some(export.tenant_id),
            object_id: Some(export.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Export recorded video: one MP4 per camera over `from..to` (at most `exports.max_hours`),
/// remuxed from the segments with its moov first, each with a manifest signed by the cluster's
/// Ed25519 export key. Answers at once (202); `GET /api/v1/exports/{id}` shows the progress. The
/// footage is held against retention until the export is deleted.
#[utoipa::path(post, path = "/api/v1/exports", tag = "exports", security(("bearer" = ["video:export"])),
    request_body = ExportCreate, responses(
    (status = 202, body = Export), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_export(
    backend: Service<dyn ExportService>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<ExportCreate>,
) -> Result<HttpResponse, ApiError> {
    let export = backend
        .create_export(caller.0.scope(), body.into_inner(), caller.0.email.clone())
        .await?;
    noted(&req, &export);
    Ok(HttpResponse::Accepted().json(export))
}

/// List exports, newest first.
#[utoipa::path(get, path = "/api/v1/exports", tag = "exports", security(("bearer" = ["video:export"])),
    params(super::PageQuery), responses((status = 200, body = ExportPage), (status = 400, body = ErrorBody)))]
pub async fn list_exports(
    backend: Service<dyn ExportService>,
    caller: Caller,
    q: web::Query<super::PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner().page()?;
    Ok(HttpResponse::Ok().json(backend.list_exports(caller.0.scope(), page).await?))
}

/// Get an export with its progress and its files.
#[utoipa::path(get, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = ["video:export"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Export), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_export(
    backend: Service<dyn ExportService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_export(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Delete an export: its files go, and the holds it placed on its footage are released.
#[utoipa::path(delete, path = "/api/v1/exports/{id}", tag = "exports", security(("bearer" = ["video:export"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_export(
    backend: Service<dyn ExportService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let export = backend
        .delete_export(caller.0.scope(), id.into_inner())
        .await?;
    noted(&req, &export);
    Ok(HttpResponse::NoContent().finish())
}

/// Download one camera's MP4 of an export (HTTP Range); 409 while it is being written, 503
/// naming the node that holds it when that node cannot be reached.
#[utoipa::path(get, path = "/api/v1/exports/{id}/files/{camera}/media.mp4", tag = "exports", security(("bearer" = ["video:export"])),
    params(("id" = String, Path, format = Uuid), ("camera" = String, Path, format = Uuid)), responses(
    (status = 200, description = "the MP4", content_type = "video/mp4"),
    (status = 206, description = "the requested range", content_type = "video/mp4"),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody),
    (status = 416, description = "range not satisfiable"), (status = 503, body = ErrorBody)))]
pub async fn export_media(
    backend: Service<dyn ExportService>,
    caller: Caller,
    path: web::Path<(Uuid, CameraId)>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, camera) = path.into_inner();
    let filename = format!("export-{id}-{camera}.mp4");
    let disposition = format!("attachment; filename=\"{filename}\"");
    let mut response = match backend.export_file(caller.0.scope(), id, camera).await? {
        SegmentSource::File(path) => actix_files::NamedFile::open_async(&path)
            .await
            .map_err(|e| {
                tracing::warn!(path = %path.display(), error = %e, "export file missing");
                ApiError::not_found("export file")
            })?
            .set_content_type(
                "video/mp4"
                    .parse()
                    .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
            )
            .disable_content_disposition()
            .into_response(&req),
        SegmentSource::Remote { len, reader, .. } => {
            super::ranges::serve(&req, len, SegmentContainer::Fmp4, reader)
        }
    };
    if let Ok(value) = header::HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// One camera's signed manifest of an export: the MP4's SHA-256, the camera, the range, the
/// segments it came from and who exported it, signed with the cluster's Ed25519 export key.
/// `vms verify FILE MANIFEST` checks both offline.
#[utoipa::path(get, path = "/api/v1/exports/{id}/files/{camera}/manifest.json", tag = "exports", security(("bearer" = ["video:export"])),
    params(("id" = String, Path, format = Uuid), ("camera" = String, Path, format = Uuid)), responses(
    (status = 200, body = SignedManifest), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn export_manifest(
    backend: Service<dyn ExportService>,
    caller: Caller,
    path: web::Path<(Uuid, CameraId)>,
) -> Result<HttpResponse, ApiError> {
    let (id, camera) = path.into_inner();
    let manifest = backend
        .export_manifest(caller.0.scope(), id, camera)
        .await?;
    let body = serde_json::to_vec_pretty(&manifest).map_err(|_| ApiError::internal())?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"export-{id}-{camera}.manifest.json\""),
        ))
        .body(body))
}

/// The cluster's export signing key (its public half), for verifiers to pin with
/// `vms verify --public-key`.
#[utoipa::path(get, path = "/api/v1/export-key", tag = "exports", security(("bearer" = ["video:export"])),
    responses((status = 200, body = ExportKey)))]
pub async fn export_key(backend: Service<dyn ExportService>) -> HttpResponse {
    HttpResponse::Ok().json(backend.export_key())
}
