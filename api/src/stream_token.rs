//! Stream tokens: players (a `<video>` element, hls.js, ffmpeg) cannot send an `Authorization`
//! header, so media URLs take `?token=`. A stream token is an HS256 JWT under the same shared
//! signing keys as access tokens, with its own audience (`vms-stream`), so neither kind passes
//! for the other. It names one camera and its tenant and lives minutes; the guard accepts it only
//! on `GET` routes that need `video:playback` and whose `{id}` is that camera.

use crate::auth::{Authenticator, ISSUER, sign_claims, token_kid, unauthenticated, verify_claims};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;
use vms_messages::{CameraId, Credential, Principal, Role, TenantId, UserId};

/// Whether a token must name the camera of the route (see [`set_camera_checked`]).
static CAMERA_CHECKED: AtomicBool = AtomicBool::new(true);

/// Test-only switch: with `false`, a stream token opens any camera's routes (a test shows the
/// isolation check then fails, so it can fail).
#[cfg(test)]
pub(crate) fn set_camera_checked(on: bool) {
    CAMERA_CHECKED.store(on, Ordering::SeqCst);
}

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
        Ok((sign_claims(key, &claims)?, expires))
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
        let claims: StreamClaims = verify_claims(token, &key, AUDIENCE, 0)?;
        if CAMERA_CHECKED.load(Ordering::SeqCst)
            && camera.and_then(|c| c.parse::<Uuid>().ok()) != Some(claims.cam)
        {
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
    use crate::backend::CredentialService;
    use std::sync::Arc;
    use vms_messages::{ApiKeyId, KeyCredentials, SigningKey, User};

    /// Credentials with one signing key and nothing else.
    struct OneKey;

    #[async_trait::async_trait]
    impl CredentialService for OneKey {
        async fn signing_keys(&self) -> Result<Vec<SigningKey>, ApiError> {
            Ok(vec![SigningKey {
                kid: "k1".into(),
                secret: vec![7; 32],
                created_at: Utc::now(),
            }])
        }
        async fn add_signing_key(
            &self,
            _: &str,
            _: &[u8],
            _: Option<std::time::Duration>,
        ) -> Result<(), ApiError> {
            Err(ApiError::internal())
        }
        async fn user_credentials(&self, _: &str) -> Result<Option<(User, String)>, ApiError> {
            Ok(None)
        }
        async fn create_session(
            &self,
            _: UserId,
            _: &[u8],
            _: DateTime<Utc>,
            _: Option<&str>,
        ) -> Result<Uuid, ApiError> {
            Err(ApiError::internal())
        }
        async fn refresh_session(
            &self,
            _: &[u8],
            _: &[u8],
            _: DateTime<Utc>,
        ) -> Result<Option<(Uuid, User)>, ApiError> {
            Ok(None)
        }
        async fn revoke_session(&self, _: Uuid) -> Result<(), ApiError> {
            Ok(())
        }
        async fn session_user(&self, _: Uuid) -> Result<Option<User>, ApiError> {
            Ok(None)
        }
        async fn api_key_credentials(&self, _: &str) -> Result<Option<KeyCredentials>, ApiError> {
            Ok(None)
        }
        async fn api_key_live(&self, _: ApiKeyId) -> Result<bool, ApiError> {
            Ok(false)
        }
    }

    #[tokio::test]
    async fn a_token_opens_its_camera_only_until_it_expires() {
        let auth = Authenticator::new(Arc::new(OneKey), &vms_config::AuthConfig::default());
        let caller = Principal {
            user_id: UserId::new(),
            email: "op@example.test".into(),
            tenant_id: None,
            role: Role::PlatformAdmin,
            credential: Credential::Session(Uuid::nil()),
        };
        let (cam, other, tenant) = (CameraId::new(), CameraId::new(), TenantId::new());
        let (token, _) = auth
            .issue_stream_token(&caller, cam, tenant, 60)
            .await
            .expect("token");
        let p = auth
            .stream_principal(&token, Some(&cam.to_string()))
            .await
            .expect("its camera");
        assert_eq!(p.credential, Credential::StreamToken(cam));
        assert_eq!(p.scope(), vms_messages::TenantScope::Tenant(tenant));
        assert!(p.permits(vms_messages::Permission::VideoPlayback));
        assert!(!p.permits(vms_messages::Permission::CamerasRead));
        let refused = auth
            .stream_principal(&token, Some(&other.to_string()))
            .await
            .expect_err("another camera");
        assert_eq!(refused.status.as_u16(), 403);
        // With the check off the same request passes: the assertion above can fail.
        set_camera_checked(false);
        let unchecked = auth
            .stream_principal(&token, Some(&other.to_string()))
            .await;
        set_camera_checked(true);
        assert!(unchecked.is_ok());
        // Not an access token, and not one after it expires.
        assert_eq!(
            auth.authenticate(Some(&format!("Bearer {token}")))
                .await
                .expect_err("not an access token")
                .status
                .as_u16(),
            401
        );
        let (short, _) = auth
            .issue_stream_token(&caller, cam, tenant, 0)
            .await
            .expect("token");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let expired = auth
            .stream_principal(&short, Some(&cam.to_string()))
            .await
            .expect_err("expired");
        assert_eq!(expired.status.as_u16(), 401);
    }

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
