//! The one place that decides access. Every operation in the OpenAPI document declares what it needs
//! in its `security` entry: `[{}]` for public routes, `[{"bearer": ["<permission>"]}]` otherwise.
//!
//! Two layers: [`screen`] runs before routing and refuses paths that are not canonical (so a
//! percent-encoded or dot-segment path can never be decoded by the router into a route it did not
//! name); [`authorize`] runs inside each matched route, which [`crate::routes::register`] wraps with
//! the access its operation declares, and refuses (401/403/429) before the handler or any body
//! extractor runs. A route missing from the document, or present without a `security` entry, is
//! refused: adding a route without a permission fails closed, and a test compares the two tables.

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::ratelimit::RateLimiter;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use std::collections::HashMap;
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
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

/// Whether the document has any operation on the path template `path`.
pub fn has_path(path: &str) -> bool {
    ROUTES.keys().any(|(_, p)| p == path)
}

/// Authentication and the rate limits, shared by every worker.
pub struct Guard {
    /// Credentials.
    pub auth: Arc<Authenticator>,
    ip: RateLimiter,
    caller: RateLimiter,
    login_ip: RateLimiter,
    login_email: RateLimiter,
    streams: StreamSlots,
}

/// Open live streams per caller, capped.
struct StreamSlots {
    max: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One open stream of a caller; closing the stream (dropping this) frees the slot.
pub struct StreamSlot {
    key: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
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
            streams: StreamSlots {
                max: usize::try_from(config.max_streams_per_caller).unwrap_or(usize::MAX),
                open: Arc::default(),
            },
        }
    }

    /// A slot for one more live stream of `caller`, or 429 when it holds `api.max_streams_per_caller`.
    pub fn open_stream(&self, caller: &Principal) -> Result<StreamSlot, ApiError> {
        let key = caller_key(caller);
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.streams.max {
            return Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                format!(
                    "this caller already holds {} live streams (api.max_streams_per_caller); close one first",
                    self.streams.max
                ),
                None,
            ));
        }
        *n += 1;
        Ok(StreamSlot {
            key,
            open: Arc::clone(&self.streams.open),
        })
    }

    /// Login attempts are limited per client network (`source`, see [`rate_key`]) and per e-mail from
    /// that network: guessing from one network cannot lock the right password out from another.
    pub fn check_login(&self, source: &str, email: &str) -> Result<(), ApiError> {
        self.login_ip
            .check(source)
            .and_then(|()| {
                self.login_email
                    .check(&format!("{}|{source}", email.to_lowercase()))
            })
            .map_err(ApiError::too_many_requests)
    }
}

/// The client address of a request.
pub fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map_or_else(|| "unknown".into(), |a| a.ip().to_string())
}

/// Middleware on the whole app, before routing: rate limit by address, then refuse any path that is
/// not in canonical form (400), so the router never decodes its way to a handler the raw path did not
/// name. Permissions are checked after routing, by [`authorize`], on the route itself.
pub async fn screen(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = match req.app_data::<web::Data<Guard>>() {
        None => {
            tracing::error!("guard missing from app data");
            Err(ApiError::internal())
        }
        Some(guard) => guard
            .ip
            .check(&rate_key(req.request()))
            .map_err(ApiError::too_many_requests)
            .and_then(|()| canonical_path(req.path())),
    };
    match verdict {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

/// Refuses a raw request path that a router could read as another one: any percent-escape (an
/// encoded letter, `%2F`, `%2e`), empty segments (`//`), dot segments, `;` parameters, backslashes
/// and anything but printable ASCII. Every path of this API is printable ASCII without them.
pub fn canonical_path(path: &str) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::invalid(
            "path",
            format!("the request path must be in canonical form: {why}"),
        ))
    };
    if !path.starts_with('/') {
        return refuse("it must start with /");
    }
    if let Some(c) = path
        .chars()
        .find(|c| !c.is_ascii_graphic() || matches!(c, '%' | ';' | '\\'))
    {
        return refuse(&format!("{c:?} is not allowed in a path"));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        // A trailing slash is canonical (it names no route here, so it gets 404); `//` is not.
        if segment.is_empty() && i != last {
            return refuse("empty segment");
        }
        if *segment == "." || *segment == ".." {
            return refuse("dot segment");
        }
    }
    Ok(())
}

/// The key a caller (its user and the credential it presents) is limited by: requests per second
/// and open streams.
fn caller_key(caller: &Principal) -> String {
    format!("{}:{:?}", caller.user_id, caller.credential)
}

/// The key an address is rate limited by: the address itself for IPv4, its /64 for IPv6 (one
/// customer network holds a whole /64, so a per-address limit would not limit it at all).
pub fn rate_key(req: &HttpRequest) -> String {
    match req.peer_addr().map(|a| a.ip()) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => "unknown".into(),
    }
}

/// Route middleware: authenticates the caller and checks the permission `access` names, before the
/// handler or any body extractor runs. [`crate::routes::register`] wraps every route in it with the
/// access its OpenAPI operation declares, so no route can be added without a check.
pub async fn authorize(
    access: Access,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<EitherBody<BoxBody>>, actix_web::Error> {
    match check(&access, &req).await {
        Ok(()) => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
        Err(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
    }
}

async fn check(access: &Access, req: &ServiceRequest) -> Result<(), ApiError> {
    let Some(guard) = req.app_data::<web::Data<Guard>>().cloned() else {
        tracing::error!("guard missing from app data");
        return Err(ApiError::internal());
    };
    let need = match access {
        Access::Public => return Ok(()),
        Access::Requires(p) => *p,
        Access::Undeclared(why) => {
            tracing::error!(method = %req.method(), path = %req.path(), why = %why, "route declares no permission; refused");
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
    let principal = match stream_token(access, req, authorization) {
        Some(token) => {
            guard
                .auth
                .stream_principal(&token, req.match_info().get("id"))
                .await?
        }
        None => guard.auth.authenticate(authorization).await?,
    };
    guard
        .caller
        .check(&caller_key(&principal))
        .map_err(ApiError::too_many_requests)?;
    let permitted = principal.permits(need);
    req.extensions_mut().insert(principal);
    if !permitted {
        return Err(ApiError::forbidden(need));
    }
    Ok(())
}

/// The stream token a request presents, where one is accepted: without an `Authorization`
/// header, on a `GET` (or `HEAD`) route that needs `video:playback`, or any route that needs
/// `video:live` (a WHEP player posts its offer and deletes its session). Every such route names
/// the camera as `{id}`, which the token must name too.
fn stream_token(
    access: &Access,
    req: &ServiceRequest,
    authorization: Option<&str>,
) -> Option<String> {
    let media = match access {
        Access::Requires(Permission::VideoPlayback) => {
            matches!(*req.method(), Method::GET | Method::HEAD)
        }
        Access::Requires(Permission::VideoLive) => true,
        _ => false,
    } && authorization.is_none();
    media
        .then(|| crate::stream_token::token_param(req.query_string()))
        .flatten()
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
    fn ipv6_callers_are_limited_per_64() {
        let key = |addr: &str| {
            rate_key(
                &actix_web::test::TestRequest::default()
                    .peer_addr(addr.parse().expect("socket address"))
                    .to_http_request(),
            )
        };
        assert_eq!(
            key("[2001:db8:1:2:aaaa::1]:443"),
            key("[2001:db8:1:2:ffff::9]:80")
        );
        assert_ne!(key("[2001:db8:1:2::1]:443"), key("[2001:db8:1:3::1]:443"));
        assert_eq!(key("[2001:db8:1:2::1]:443"), "2001:db8:1:2::/64");
        assert_eq!(key("10.0.0.1:5"), "10.0.0.1");
        assert_eq!(key("[::ffff:10.0.0.1]:5"), "10.0.0.1");
        assert_ne!(key("10.0.0.1:5"), key("10.0.0.2:5"));
    }

    #[test]
    fn only_canonical_paths_pass_the_screen() {
        for ok in [
            "/",
            "/healthz",
            "/api/v1/cameras/0191-ab",
            "/api/v1/nodes/",
            "/a-b_c.d~e",
        ] {
            assert!(canonical_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/%6Detrics",
            "/api/v1/%6eodes",
            "/api/v1%2Fnodes",
            "//api/v1/nodes",
            "/api//v1/nodes",
            "/api/v1/./nodes",
            "/api/v1/x/../nodes",
            "/api/v1/%2e%2e/nodes",
            "/api/v1/nodes;x=1",
            "/api/v1\\nodes",
            "/api/v1/nod\u{e9}s",
            "/api/v1/no des",
            "api/v1/nodes",
        ] {
            let err = canonical_path(bad).expect_err(bad);
            assert_eq!(err.status.as_u16(), 400, "{bad}");
        }
    }

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
