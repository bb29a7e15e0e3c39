//! Tenants and their licences: platform admins manage them; a tenant's own users see only theirs.

use super::PageQuery;
use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::TenantPage;
use crate::backend::TenantService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use vms_messages::{ErrorBody, Tenant, TenantCreate, TenantId, TenantUpdate, TenantUsage};

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
    backend: Service<dyn TenantService>,
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
    backend: Service<dyn TenantService>,
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
    backend: Service<dyn TenantService>,
    caller: Caller,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_tenant(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

/// Query of a tenant's usage.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Start (RFC 3339); default the start of this month (UTC).
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339); default now. At most 366 days after `from`.
    pub to: Option<DateTime<Utc>>,
}

/// The start of `at`'s month (UTC).
fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(at)
}

/// What a tenant used over a period, for billing: camera-hours recorded, detector-seconds, frames
/// detected, bytes stored now, cameras now.
#[utoipa::path(get, path = "/api/v1/tenants/{id}/usage", tag = "tenants", security(("bearer" = ["tenants:read"])),
    params(("id" = String, Path, format = Uuid), UsageQuery), responses(
    (status = 200, body = TenantUsage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn tenant_usage(
    backend: Service<dyn TenantService>,
    caller: Caller,
    id: web::Path<TenantId>,
    q: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or_else(|| month_start(to));
    vms_messages::validate_usage_period(from, to)?;
    Ok(HttpResponse::Ok().json(
        backend
            .tenant_usage(caller.0.scope(), id.into_inner(), from, to)
            .await?,
    ))
}

/// Change a tenant's name or licence (camera limit, retention, detectors, expiry).
#[utoipa::path(patch, path = "/api/v1/tenants/{id}", tag = "tenants", security(("bearer" = ["tenants:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = TenantUpdate, responses(
    (status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn update_tenant(
    backend: Service<dyn TenantService>,
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
    backend: Service<dyn TenantService>,
    req: HttpRequest,
    id: web::Path<TenantId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    noted(&req, id);
    backend.delete_tenant(id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    //! The tenant handlers alone, over an in-memory [`TenantService`]: no node, no database.
    use super::*;
    use crate::backend::Page;
    use actix_web::{App, HttpMessage, test};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use vms_messages::Credential;
    use vms_messages::{Principal, Role, TenantScope, UserId};

    /// Tenants kept in a map, as the store would keep them.
    #[derive(Default)]
    struct FakeTenants(Mutex<BTreeMap<TenantId, Tenant>>);

    impl FakeTenants {
        fn tenants(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, Tenant>> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }

    #[async_trait::async_trait]
    impl TenantService for FakeTenants {
        async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError> {
            let tenant = Tenant {
                id: TenantId::new(),
                name: req.name,
                max_cameras: req.max_cameras.unwrap_or(16),
                retention_days: req.retention_days.unwrap_or(30),
                allowed_detectors: req.allowed_detectors,
                expires_at: req.expires_at,
                ack_sla_seconds: req.ack_sla_seconds,
                storage_quota_bytes: req.storage_quota_bytes,
                inference_share: req.inference_share.unwrap_or(1),
                created_at: chrono::Utc::now(),
            };
            self.tenants().insert(tenant.id, tenant.clone());
            Ok(tenant)
        }

        async fn list_tenants(&self, scope: TenantScope, _: Page) -> Result<TenantPage, ApiError> {
            let items = self
                .tenants()
                .values()
                .filter(|t| scope.allows(t.id))
                .cloned()
                .collect();
            Ok(TenantPage {
                items,
                next_cursor: None,
            })
        }

        async fn get_tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, ApiError> {
            self.tenants()
                .get(&id)
                .filter(|t| scope.allows(t.id))
                .cloned()
                .ok_or_else(|| ApiError::not_found("tenant"))
        }

        async fn update_tenant(&self, id: TenantId, _: TenantUpdate) -> Result<Tenant, ApiError> {
            self.tenants()
                .get(&id)
                .cloned()
                .ok_or_else(|| ApiError::not_found("tenant"))
        }

        async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError> {
            self.tenants()
                .remove(&id)
                .map(|_| ())
                .ok_or_else(|| ApiError::not_found("tenant"))
        }

        async fn tenant_usage(
            &self,
            scope: TenantScope,
            id: TenantId,
            from: DateTime<Utc>,
            to: DateTime<Utc>,
        ) -> Result<TenantUsage, ApiError> {
            self.get_tenant(scope, id).await?;
            Ok(TenantUsage {
                tenant_id: id,
                from,
                to,
                camera_hours: 1.5,
                detector_seconds: 2.0,
                frames_detected: 3,
                bytes_stored: 4,
                stored_byte_hours: 8.0,
                cameras: 1,
            })
        }
    }

    /// A caller of `role` in `tenant`, as the guard would have put it on the request.
    fn caller(role: Role, tenant: Option<TenantId>) -> Principal {
        Principal {
            user_id: UserId::new(),
            email: "someone@example.com".into(),
            tenant_id: tenant,
            role,
            credential: Credential::Session(uuid::Uuid::now_v7()),
        }
    }

    #[actix_web::test]
    async fn a_tenant_made_is_found_and_hidden_from_other_tenants() {
        let fake = Arc::new(FakeTenants::default());
        let app = test::init_service(
            App::new()
                .app_data(Service::<dyn TenantService>::from(
                    Arc::clone(&fake) as Arc<dyn TenantService>
                ))
                .route("/api/v1/tenants", web::post().to(create_tenant))
                .route("/api/v1/tenants/{id}", web::get().to(get_tenant)),
        )
        .await;
        let made = test::TestRequest::post()
            .uri("/api/v1/tenants")
            .set_json(serde_json::json!({"name": "acme", "max_cameras": 4}))
            .to_request();
        let made: Tenant = test::call_and_read_body_json(&app, made).await;
        assert_eq!((made.name.as_str(), made.max_cameras), ("acme", 4));

        let get = |who: Principal| {
            let req = test::TestRequest::get()
                .uri(&format!("/api/v1/tenants/{}", made.id))
                .to_request();
            req.extensions_mut().insert(who);
            req
        };
        let admin = test::call_service(&app, get(caller(Role::PlatformAdmin, None))).await;
        assert_eq!(admin.status(), 200);
        let other = caller(Role::TenantAdmin, Some(TenantId::new()));
        let hidden = test::call_service(&app, get(other)).await;
        assert_eq!(
            hidden.status(),
            404,
            "another tenant's admin sees no such tenant"
        );
        assert_eq!(fake.tenants().len(), 1);
    }

    #[actix_web::test]
    async fn usage_defaults_to_this_month_and_refuses_a_bad_period_by_name() {
        let fake = Arc::new(FakeTenants::default());
        let tenant = fake
            .create_tenant(
                serde_json::from_value(serde_json::json!({"name": "acme"}))
                    .unwrap_or_else(|e| panic!("{e}")),
            )
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let app = test::init_service(
            App::new()
                .app_data(Service::<dyn TenantService>::from(
                    Arc::clone(&fake) as Arc<dyn TenantService>
                ))
                .app_data(crate::error::query_config())
                .route("/api/v1/tenants/{id}/usage", web::get().to(tenant_usage)),
        )
        .await;
        let get = |query: &str, who: Principal| {
            let req = test::TestRequest::get()
                .uri(&format!("/api/v1/tenants/{}/usage{query}", tenant.id))
                .to_request();
            req.extensions_mut().insert(who);
            req
        };
        let own = || caller(Role::Viewer, Some(tenant.id));
        let resp = test::call_service(&app, get("", own())).await;
        assert_eq!(resp.status(), 200);
        let usage: TenantUsage = test::read_body_json(resp).await;
        assert_eq!(usage.from, month_start(usage.to));
        assert!(usage.to <= Utc::now());
        for (query, field) in [
            ("?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to"),
            ("?from=2024-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ] {
            let resp = test::call_service(&app, get(query, own())).await;
            assert_eq!(resp.status(), 400, "{query}");
            let body: vms_messages::ErrorBody = test::read_body_json(resp).await;
            assert_eq!(body.error.field.as_deref(), Some(field), "{query}");
        }
        let other = caller(Role::TenantAdmin, Some(TenantId::new()));
        assert_eq!(test::call_service(&app, get("", other)).await.status(), 404);
    }
}
