//! The audit middleware: every request that changes something (any method but GET, HEAD and OPTIONS),
//! allowed or refused, appends who did what to which object, when, from where and with what outcome.
//! Handlers add what only they know (the object's tenant and id, a login's e-mail) with [`note`].
//! Requests refused before anyone was authenticated are one row per source and minute, and a metric
//! counts them all, so an anonymous flood cannot grow the append-only log without bound.

use crate::Service;
use crate::backend::AuditService;
use crate::guard::{client_ip, operation, rate_key};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use prometheus::{IntCounterVec, register_int_counter_vec};
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};
use vms_messages::AuditRecord;
use vms_messages::{Credential, Principal, TenantId, UserId};

/// What a handler knows about the object it acted on.
#[derive(Clone, Debug, Default)]
pub struct AuditNote {
    /// The object's tenant.
    pub tenant_id: Option<TenantId>,
    /// The object's id (for creations, the new id).
    pub object_id: Option<String>,
    /// Who tried, when no caller was authenticated (the e-mail of a login).
    pub actor: Option<String>,
    /// The user who logged in, when no caller was authenticated.
    pub user_id: Option<UserId>,
}

/// Attaches `note` to the request for the audit line.
pub fn note(req: &HttpRequest, note: AuditNote) {
    req.extensions_mut().insert(note);
}

/// The kind of object a path is about: `/api/v1/cameras/{id}/segments` → `camera`.
fn object_kind(path: &str) -> Option<String> {
    let collection = path.strip_prefix("/api/v1/")?.split('/').next()?;
    let kind = match collection {
        "api-keys" => "api_key",
        "audit" => "audit",
        other => other.strip_suffix('s').unwrap_or(other),
    };
    Some(kind.to_string())
}

/// Middleware; see the module docs.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let res = next.call(req).await?;
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(res);
    }
    let http = res.request();
    let Some(pattern) = http.match_pattern() else {
        return Ok(res);
    };
    let action = operation(method.as_str(), &pattern).map_or_else(
        || format!("{method} {pattern}"),
        |op| op.operation_id.clone(),
    );
    let principal = http.extensions().get::<Principal>().cloned();
    // A failed login (401 with its e-mail noted) keeps its own row; being rate limited does not.
    let refused_anonymously = principal.is_none()
        && match res.status().as_u16() {
            429 => true,
            401 => http.extensions().get::<AuditNote>().is_none(),
            _ => false,
        };
    if refused_anonymously {
        REFUSED.with_label_values(&[res.status().as_str()]).inc();
        if !REFUSALS.first_this_minute(&rate_key(http)) {
            return Ok(res);
        }
    }
    let note = http
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_default();
    let entry = AuditRecord {
        tenant_id: note
            .tenant_id
            .or_else(|| principal.as_ref().and_then(|p| p.tenant_id)),
        user_id: principal.as_ref().map(|p| p.user_id).or(note.user_id),
        actor: principal
            .as_ref()
            .map(|p| p.email.clone())
            .or(note.actor)
            .unwrap_or_else(|| "anonymous".into()),
        credential: principal.as_ref().map(|p| p.credential.kind().into()),
        api_key_id: principal.as_ref().and_then(|p| match p.credential {
            Credential::ApiKey(k) => Some(k),
            _ => None,
        }),
        action,
        object_kind: object_kind(&pattern),
        object_id: note
            .object_id
            .or_else(|| http.match_info().get("id").map(str::to_string)),
        request: if refused_anonymously {
            format!(
                "{method} {} (the first refused request from this source this minute; the rest \
                 are counted in vms_api_refused_requests_total)",
                truncate(http.path(), 512)
            )
        } else {
            format!("{method} {}", truncate(http.path(), 512))
        },
        status: res.status().as_u16(),
        ip: Some(client_ip(http)),
    };
    if let Some(backend) = http.app_data::<Service<dyn AuditService>>()
        && let Err(e) = backend.append_audit(entry).await
    {
        tracing::error!(error = %e, "cannot append to the audit log");
    }
    Ok(res)
}

/// Requests refused before anyone was authenticated (401, 429), by status.
static REFUSED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "vms_api_refused_requests_total",
        "requests refused before a caller was authenticated (401, 429)",
        &["status"]
    )
    .expect("metric registers")
});

/// Sources whose anonymous refusals this minute are already in the audit log.
static REFUSALS: LazyLock<RefusalWindow> = LazyLock::new(RefusalWindow::new);

/// Most sources remembered per minute; past it a flood from many addresses writes no more rows.
const MAX_REFUSING_SOURCES: usize = 10_000;

/// Which sources had an anonymous request refused in the current minute, so the audit log gets one
/// row per source and minute however many requests a flood sends (the rest are counted in a metric).
struct RefusalWindow {
    seen: Mutex<(i64, HashSet<String>)>,
}

impl RefusalWindow {
    fn new() -> Self {
        Self {
            seen: Mutex::new((0, HashSet::new())),
        }
    }

    /// Whether `source` had no refusal yet this minute (and now has one).
    fn first_this_minute(&self, source: &str) -> bool {
        let minute = chrono::Utc::now().timestamp() / 60;
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        if seen.0 != minute {
            *seen = (minute, HashSet::new());
        }
        seen.1.len() < MAX_REFUSING_SOURCES && seen.1.insert(source.to_string())
    }
}

/// `s` cut to at most `max` characters (for echoing client input into logs and errors).
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_kinds_from_paths() {
        assert_eq!(
            object_kind("/api/v1/cameras/{id}").as_deref(),
            Some("camera")
        );
        assert_eq!(object_kind("/api/v1/api-keys").as_deref(), Some("api_key"));
        assert_eq!(object_kind("/api/v1/tenants").as_deref(), Some("tenant"));
        assert_eq!(object_kind("/healthz"), None);
        assert_eq!(truncate("héllo", 2), "hé");
    }

    #[test]
    fn one_refusal_row_per_source_and_minute() {
        let window = RefusalWindow::new();
        let minute = chrono::Utc::now().timestamp() / 60;
        assert!(window.first_this_minute("10.0.0.1"));
        let again = window.first_this_minute("10.0.0.1");
        // Unless the minute turned between the two calls.
        assert!(!again || chrono::Utc::now().timestamp() / 60 != minute);
        assert!(window.first_this_minute("10.0.0.2"));
    }
}
