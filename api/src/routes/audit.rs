//! The audit log, read-only over HTTP.

use crate::Service;
use crate::backend::AuditService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use vms_messages::{AuditPage, ErrorBody, TenantId};

/// Query of the audit log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this tenant's entries (platform admins; others always see only their tenant's).
    #[param(value_type = Option<String>, format = Uuid)]
    pub tenant_id: Option<TenantId>,
    /// Only entries at or after this time (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this time (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// Read the audit log, newest first: who did what to which object, when, from where, and the outcome.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("bearer" = ["audit:read"])),
    params(AuditQuery), responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody)))]
pub async fn list_audit(
    backend: Service<dyn AuditService>,
    caller: Caller,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    Ok(HttpResponse::Ok().json(
        backend
            .list_audit(caller.0.scope(), q.tenant_id, q.from, q.to, page)
            .await?,
    ))
}
