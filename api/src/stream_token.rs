//! Stream tokens: players (a `<video>` element, hls.js, ffmpeg) cannot send an `Authorization`
//! header, so media URLs take `?token=`. A stream token is an HS256 JWT under the same shared
//! signing keys as access tokens, with its own audience (`vms-stream`), so neither kind passes
//! for the other. It names one camera and its tenant and lives minutes; the guard accepts it only
//! on `GET` routes that need `video:playback` and whose `{id}` is that camera.

use crate::auth::{Authenticator, ISSUER, token_kid, unauthenticated};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vms_messages::{CameraId, Credential, Principal, Role, TenantId, UserId};

/// Audience of stream tokens.
const AUDIENCE: &str = "vms-stream";
/// Longest token accepted (a JWT of these claims is about 400 characters).
const MAX_TOKEN_CHARS: usize = 2048;

#[derive(Debug, Serialize, Deserialize)]
struct StreamClaims {
    iss: String,
    aud: String,
    /// The user it was issued to.
    sub: Uuid,
    /// Their e-mail (for the audit log).
    eml: String,
    /// Their role when it was issued.
    rol: Role,
    /// The camera's tenant.
    tid: Uuid,
    /// The camera.
    cam: Uuid,
    iat: i64,
    exp: i64,
}

impl Authenticator {
    /// A stream token for `camera` of `tenant`, issued to `caller`, valid for `ttl_seconds`.
    pub async fn issue_stream_token(
        &self,
        caller: &Principal,
        camera: CameraId,
        tenant: TenantId,
        ttl_seconds: u32,
    ) -> Result<(String, DateTime<Utc>), ApiError> {
        let keys = self.keys().await?;
        let key = keys.first().ok_or_else(ApiError::internal)?;
        let now = Utc::now();
        let expires = now + chrono::Duration::seconds(i64::from(ttl_seconds));
        let claims = StreamClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: caller.user_id.0,
            eml: caller.email.clone(),
            rol: caller.role,
            tid: tenant.0,
            cam: camera.0,
            iat: now.timestamp(),
            exp: expires.timestamp(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = EncodingKey::from_secret(&key.secret)
            .and_then(|k| jsonwebtoken::encode(&header, &claims, &k))
            .map_err(|e| {
                tracing::error!(error = %e, "cannot sign stream token");
                ApiError::internal()
            })?;
        Ok((token, expires))
    }

    /// The caller a stream token stands for, when it verifies, has not expired and names
    /// `camera` (401 for a bad or expired token, 403 for another camera's).
    pub async fn stream_principal(
        &self,
        token: &str,
        camera: Option<&str>,
    ) -> Result<Principal, ApiError> {
        if token.is_empty() || token.len() > MAX_TOKEN_CHARS {
            return Err(unauthenticated());
        }
        let kid = token_kid(token)?;
        let key = self.key_for(&kid).await?.ok_or_else(unauthenticated)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 0;
        let claims = DecodingKey::from_secret(&key.secret)
            .and_then(|k| jsonwebtoken::decode::<StreamClaims>(token, &k, &validation))
            .map(|d| d.claims)
            .map_err(|_| unauthenticated())?;
        if camera.and_then(|c| c.parse::<Uuid>().ok()) != Some(claims.cam) {
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "forbidden",
                "this stream token is for another camera",
                None,
            ));
        }
        Ok(Principal {
            user_id: UserId(claims.sub),
            email: claims.eml,
            tenant_id: Some(TenantId(claims.tid)),
            role: claims.rol,
            credential: Credential::StreamToken(CameraId(claims.cam)),
        })
    }
}

/// The `token` parameter of a query string, if it has one.
pub fn token_param(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        // Tokens are base64url and dots: nothing to percent-decode.
        (name == "token").then(|| value.to_string())
    })
}

/// `query` with the value of any `token` parameter replaced by `REDACTED` (for the access log).
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=REDACTED".to_string(),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_and_never_logged() {
        assert_eq!(token_param("from=1&token=abc.def"), Some("abc.def".into()));
        assert_eq!(token_param("tokens=1"), None);
        assert_eq!(
            redact_query("from=1&token=abc.def&to=2"),
            "from=1&token=REDACTED&to=2"
        );
    }
}
