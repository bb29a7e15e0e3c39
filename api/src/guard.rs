//! The one place that decides access. Every operation in the OpenAPI document declares what it needs
//! in its `security` entry: `[{}]` for public routes, `[{"bearer": ["<permission>"]}]` otherwise. The
//! [`authorize`] middleware reads that table, authenticates the caller, applies rate limits and refuses
//! (401/403/429) before any handler or body extractor runs. A route missing from the document, or
//! present without a `security` entry, is refused: adding a route without a permission fails closed.

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::sync::{Arc, LazyLock};
use vms_config::ApiConfig;
use vms_messages::{Permission, Principal};

/// What an operation needs, as declared in the OpenAPI document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, login, the document itself).
    Public,
    /// An authenticated caller holding this permission.
    Requires(Permission),
    /// The operation declares nothing (or something unknown): refused.
    Undeclared(String),
}

/// One operation of the document.
#[derive(Clone, Debug)]
pub struct Operation {
    /// HTTP method, upper case.
    pub method: String,
    /// Path template, e.g. `/api/v1/cameras/{id}`.
    pub path: String,
    /// `operationId` (the handler's name), used as the audit action.
    pub operation_id: String,
    /// What it needs.
    pub access: Access,
}

/// Every operation of an OpenAPI document with what it declares.
pub fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<Operation> {
    let json = serde_json::to_value(doc).unwrap_or_default();
    let mut out = Vec::new();
    let Some(paths) = json.get("paths").and_then(|p| p.as_object()) else {
        return out;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, op) in item {
            let access = match op.get("security").and_then(|s| s.as_array()) {
                None => Access::Undeclared("no security entry".into()),
                Some(reqs) => declared_access(reqs),
            };
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                path: path.clone(),
                operation_id: op
                    .get("operationId")
                    .and_then(|o| o.as_str())
                    .unwrap_or_default()
                    .to_string(),
                access,
            });
        }
    }
    out
}

fn declared_access(reqs: &[serde_json::Value]) -> Access {
    match reqs {
        [one] => {
            let Some(schemes) = one.as_object() else {
                return Access::Undeclared("malformed security entry".into());
            };
            if schemes.is_empty() {
                return Access::Public;
            }
            let scopes: Vec<&str> = schemes
                .get("bearer")
                .and_then(|s| s.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            match scopes.as_slice() {
                [scope] => scope
                    .parse()
                    .map_or_else(Access::Undeclared, Access::Requires),
                _ => Access::Undeclared("expected exactly one bearer scope".into()),
            }
        }
        _ => Access::Undeclared("expected exactly one security requirement".into()),
    }
}

/// The operations of this API, by method and path template.
static ROUTES: LazyLock<HashMap<(String, String), Operation>> = LazyLock::new(|| {
    operations(&crate::openapi::document())
        .into_iter()
        .map(|op| ((op.method.clone(), op.path.clone()), op))
        .collect()
});

/// The documented operation for a method and path template.
pub fn operation(method: &str, path: &str) -> Option<&'static Operation> {
    ROUTES.get(&(method.to_string(), path.to_string()))
}

/// Authentication and the rate limits, shared by every worker.
pub struct Guard {
    /// Credentials.
    pub auth: Arc<Authenticator>,
    ip: RateLimiter,
    caller: RateLimiter,
    login_ip: RateLimiter,
    login_email: RateLimiter,
}

impl Guard {
    /// A guard with the limits of `config`.
    pub fn new(auth: Arc<Authenticator>, config: &ApiConfig) -> Self {
        let login = f64::from(config.login_per_minute) / 60.0;
        Self {
            auth,
            ip: RateLimiter::new(
                f64::from(config.ip_rate_limit_per_second),
                config.ip_rate_limit_burst,
            ),
            caller: RateLimiter::new(
                f64::from(config.rate_limit_per_second),
                config.rate_limit_burst,
            ),
            login_ip: RateLimiter::new(login, config.login_per_minute),
            login_email: RateLimiter::new(login, config.login_per_minute),
        }
    }

    /// Login attempts are limited per client address and per e-mail.
    pub fn check_login(&self, ip: &str, email: &str) -> Result<(), ApiError> {
        self.login_ip
            .check(ip)
            .and_then(|()| self.login_email.check(&email.to_lowercase()))
            .map_err(ApiError::too_many_requests)
    }
}

/// The client address of a request.
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".into(), |a| a.ip().to_string())
}

/// Middleware: rate limit by address, then the access the route declares.
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match check(&req).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

async fn check(req: &ServiceRequest) -> Result<(), ApiError> {
    let Some(guard) = req.app_data::<web::Data<Guard>>().cloned() else {
        tracing::error!("guard missing from app data");
        return Err(ApiError::internal());
    };
    let http = req.request();
    guard
        .ip
        .check(&client_ip(http))
        .map_err(ApiError::too_many_requests)?;
    let Some(pattern) = http.match_pattern() else {
        return Ok(()); // no such route: the JSON 404 answers
    };
    let Some(op) = operation(req.method().as_str(), &pattern) else {
        return Err(ApiError::method_not_allowed(
            req.method().as_str(),
            &pattern,
        ));
    };
    let need = match &op.access {
        Access::Public => return Ok(()),
        Access::Requires(p) => *p,
        Access::Undeclared(why) => {
            tracing::error!(method = %op.method, path = %op.path, why = %why, "route declares no permission; refused");
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "forbidden",
                "this route declares no permission and is refused",
                None,
            ));
        }
    };
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = guard.auth.authenticate(authorization).await?;
    guard
        .caller
        .check(&format!("{}:{:?}", principal.user_id, principal.credential))
        .map_err(ApiError::too_many_requests)?;
    let permitted = principal.permits(need);
    req.extensions_mut().insert(principal);
    if !permitted {
        return Err(ApiError::forbidden(need));
    }
    Ok(())
}

/// The authenticated caller of a route (put there by [`authorize`]).
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Caller)
                .ok_or_else(crate::auth::unauthenticated),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_declares_a_known_permission_or_is_public() {
        let ops = operations(&crate::openapi::document());
        assert!(ops.len() > 20, "{} operations", ops.len());
        for op in &ops {
            assert!(
                !matches!(op.access, Access::Undeclared(_)),
                "{} {} declares no permission: {:?}",
                op.method,
                op.path,
                op.access
            );
            assert!(!op.operation_id.is_empty(), "{} {}", op.method, op.path);
        }
        let public: Vec<_> = ops
            .iter()
            .filter(|o| o.access == Access::Public)
            .map(|o| o.path.as_str())
            .collect();
        assert_eq!(
            public,
            [
                "/api/v1/auth/login",
                "/api/v1/auth/refresh",
                "/api/v1/openapi.json",
                "/healthz",
                "/readyz"
            ],
            "public routes changed; review docs/security.md"
        );
    }
}
