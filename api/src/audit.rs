//! The audit middleware: every request that changes something (any method but GET, HEAD and OPTIONS),
//! allowed or refused, appends who did what to which object, when, from where and with what outcome.
//! Handlers add what only they know (the object's tenant and id, a login's e-mail) with [`note`].

use crate::SharedBackend;
use crate::guard::{client_ip, operation};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest};
use vms_messages::auth::AuditRecord;
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
        credential: principal.as_ref().map(|p| match p.credential {
            Credential::Session(_) => "session".into(),
            Credential::ApiKey(_) => "api_key".into(),
        }),
        api_key_id: principal.as_ref().and_then(|p| match p.credential {
            Credential::ApiKey(k) => Some(k),
            Credential::Session(_) => None,
        }),
        action,
        object_kind: object_kind(&pattern),
        object_id: note
            .object_id
            .or_else(|| http.match_info().get("id").map(str::to_string)),
        request: format!("{method} {}", truncate(http.path(), 512)),
        status: res.status().as_u16(),
        ip: Some(client_ip(http)),
    };
    if let Some(backend) = http.app_data::<SharedBackend>()
        && let Err(e) = backend.append_audit(entry).await
    {
        tracing::error!(error = %e, "cannot append to the audit log");
    }
    Ok(res)
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
}
