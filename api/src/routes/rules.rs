//! Analytics rules per camera: detector, classes, lowest score, polygon zone, cooldown.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::RuleService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;
use vms_messages::{CameraId, DetectorList, ErrorBody, Rule, RuleCreate, RulePage, RuleUpdate};

fn noted(req: &HttpRequest, rule: &Rule) {
    note(
        req,
        AuditNote {
            tenant_id: Some(rule.tenant_id),
            object_id: Some(rule.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// Add a rule to a camera; it applies within a second. The detector must be a model this node runs
/// and that the tenant's licence allows.
#[utoipa::path(post, path = "/api/v1/cameras/{id}/rules", tag = "rules", security(("bearer" = ["rules:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = RuleCreate, responses(
    (status = 201, body = Rule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn create_rule(
    backend: Service<dyn RuleService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<CameraId>,
    body: web::Json<RuleCreate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let rule = backend
        .create_rule(caller.0.scope(), id.into_inner(), body)
        .await?;
    noted(&req, &rule);
    Ok(HttpResponse::Created().json(rule))
}

/// List a camera's rules.
#[utoipa::path(get, path = "/api/v1/cameras/{id}/rules", tag = "rules", security(("bearer" = ["rules:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = RulePage), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn list_rules(
    backend: Service<dyn RuleService>,
    caller: Caller,
    id: web::Path<CameraId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .list_rules(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Get a rule.
#[utoipa::path(get, path = "/api/v1/rules/{id}", tag = "rules", security(("bearer" = ["rules:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = Rule), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_rule(
    backend: Service<dyn RuleService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.get_rule(caller.0.scope(), id.into_inner()).await?))
}

/// Change a rule's score, zone, classes, cooldown or enabled flag.
#[utoipa::path(patch, path = "/api/v1/rules/{id}", tag = "rules", security(("bearer" = ["rules:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = RuleUpdate, responses(
    (status = 200, body = Rule), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_rule(
    backend: Service<dyn RuleService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<RuleUpdate>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let rule = backend
        .update_rule(caller.0.scope(), id.into_inner(), body)
        .await?;
    noted(&req, &rule);
    Ok(HttpResponse::Ok().json(rule))
}

/// Delete a rule.
#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules", security(("bearer" = ["rules:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn delete_rule(
    backend: Service<dyn RuleService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let rule = backend
        .delete_rule(caller.0.scope(), id.into_inner())
        .await?;
    noted(&req, &rule);
    Ok(HttpResponse::NoContent().finish())
}

/// The detectors of the model zoo (name, family, classes, licence) and which one this node runs.
#[utoipa::path(get, path = "/api/v1/detectors", tag = "rules", security(("bearer" = ["rules:read"])),
    responses((status = 200, body = DetectorList)))]
pub async fn list_detectors(backend: Service<dyn RuleService>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.detectors().await?))
}
