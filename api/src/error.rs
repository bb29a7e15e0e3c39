//! [`ApiError`] and the extractor error handlers, so every failure, malformed input included, gets the
//! JSON shape `{"error": {"code", "message", "field"?}}` and a 4xx status where the client is at fault.

use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use std::fmt;
use vms_messages::{ErrorBody, FieldError};

/// An API failure with its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
    /// Seconds to send in `Retry-After`, when set.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Any status, code and message.
    pub fn new(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        field: Option<&str>,
    ) -> Self {
        Self {
            status,
            body: ErrorBody::new(code, message, field.map(str::to_string)),
            retry_after: None,
        }
    }
    /// The same error, telling the client to retry after `seconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    /// 404 for an object that does not exist (or is not the caller's).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
            None,
        )
    }
    /// 400 for a bad field value.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            message,
            Some(field),
        )
    }
    /// 409 for a conflict with existing state.
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message, Some(field))
    }
    /// 409 for a licence limit, naming it.
    pub fn quota(limit: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "quota_exceeded", message, Some(limit))
    }
    /// 503 when a dependency (database) is away; the client may retry.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            message,
            None,
        )
    }
    /// 403 for a caller without the permission a route needs.
    pub fn forbidden(permission: vms_messages::Permission) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the permission {permission}, which your role does not have"),
            None,
        )
    }
    /// 403 for an action the caller's role may not take on this object (e.g. granting a higher role).
    pub fn not_allowed(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message, Some(field))
    }
    /// 402 when the tenant's licence has ended.
    pub fn licence_expired(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYMENT_REQUIRED,
            "licence_expired",
            message,
            Some("expires_at"),
        )
    }
    /// 429 with how long to wait.
    pub fn too_many_requests(retry_after: std::time::Duration) -> Self {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {secs} s"),
            None,
        );
        e.retry_after = Some(secs.max(1));
        e
    }
    /// 405 for a method a path does not have.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{path} does not support {method}"),
            None,
        )
    }
    /// 500 for a failure of the server itself; details are logged, not returned.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the node log",
            None,
        )
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::invalid(e.field, format!("{}: {}", e.field, e.message))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.body.error.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            resp.insert_header(("Retry-After", secs.to_string()));
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.insert_header(("Retry-After", "1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        resp.json(&self.body)
    }
}

/// The name between the first pair of backticks in a serde message (`unknown field `x``).
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Field named by a serde error message, for unknown, missing and duplicate fields.
fn field_of(message: &str) -> Option<String> {
    let named = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    if named {
        backticked(message).map(str::to_string)
    } else {
        None
    }
}

/// JSON bodies: size limit, content type, syntax, unknown and missing fields.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| {
            let api = match &err {
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request body is larger than {limit} bytes"),
                    None,
                ),
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "request body must be application/json",
                    None,
                ),
                JsonPayloadError::Deserialize(e) => {
                    let message = e.to_string();
                    let field = field_of(&message);
                    let code = if e.is_syntax() || e.is_eof() {
                        "invalid_json"
                    } else {
                        "invalid_field"
                    };
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        code,
                        format!("invalid request body: {message}"),
                        field.as_deref(),
                    )
                }
                other => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("cannot read request body: {other}"),
                    None,
                ),
            };
            api.into()
        })
}

/// Query strings: unknown parameters and mistyped values.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match &err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        let field = field_of(&message);
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("invalid query string: {message}"),
            field.as_deref(),
        )
        .into()
    })
}

/// Path parameters: ids that do not parse.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            format!("invalid id in path: {err}"),
            Some("id"),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_serde_messages() {
        assert_eq!(
            field_of("unknown field `colour`, expected one of `name`").as_deref(),
            Some("colour")
        );
        assert_eq!(
            field_of("missing field `url` at line 1 column 2").as_deref(),
            Some("url")
        );
        assert_eq!(field_of("invalid type: string, expected u32"), None);
        assert_eq!(backticked("no ticks"), None);
    }
}
