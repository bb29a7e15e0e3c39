//! Tenants and their licences: platform admins manage them; a tenant's own users see only theirs.

use super::PageQuery;
use crate::SharedBackend;
use crate::audit::{AuditNote, note};
use crate::backend::TenantPage;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use vms_messages::{ErrorBody, Tenant, TenantCreate, TenantId, TenantUpdate};

fn noted(req: &HttpRequest, id: TenantId) {
    note(
        req,
        AuditNote {
            tenant_id: Some(id),
            object_id: Some(id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Create a tenant with its licence.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = ["tenants:write"])),
    request_body = TenantCreate, responses(
    (status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_tenant(
    backend: SharedBackend,
    req: HttpRequest,
    body: web::Json<TenantCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let tenant = backend.create_tenant(body).await?;
    noted(&req, tenant.id);
    Ok(HttpResponse::Created().json(tenant))
}

/// List tenants (a tenant's users see only their own).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = ["tenants:read"])),
    params(PageQuery), responses((status = 200, body = TenantPage), (status = 400, body = ErrorBody)))]
pub async fn list_tenants(
    backend: SharedBackend,
    caller: Caller,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = q.into_inner().page()?;
    Ok(HttpResponse::Ok().json(backend.list_tenants(caller.0.scope(), page).await?))
}

/// Get a tenant and its licence.
#[utoipa::path(get, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = ["tenants:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Tenant), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_tenant(
    backend: SharedBackend,
    caller: Caller,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_tenant(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Change a tenant's name or licence (camera limit, retention, detectors, expiry).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = ["tenants:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = TenantUpdate, responses(
    (status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_tenant(
    backend: SharedBackend,
    req: HttpRequest,
    id: web::Path<TenantId>,
    body: web::Json<TenantUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    noted(&req, id);
    let body = body.into_inner();
    body.validate()?;
    Ok(HttpResponse::Ok().json(backend.update_tenant(id, body).await?))
}

/// Delete a tenant that has no cameras.
#[utoipa::path(delete, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = ["tenants:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_tenant(
    backend: SharedBackend,
    req: HttpRequest,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    noted(&req, id);
    backend.delete_tenant(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
