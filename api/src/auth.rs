//! Credentials: argon2id password hashes, access tokens (HS256 JWTs whose `kid` names a signing key
//! shared by every node through PostgreSQL), refresh tokens and API keys (random, stored as SHA-256).
//!
//! Password hashing is deliberately slow, so at most `auth.hash_concurrency` hashes run at once on
//! blocking threads; an unknown e-mail is checked against a dummy hash so its answer takes as long.

use crate::CredentialService;
use crate::error::ApiError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm as JwtAlgorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;
use vms_config::AuthConfig;
use vms_messages::{ApiKey, Credential, Principal, Role, TokenPair, User, UserId};
use vms_messages::{NewApiKey, SigningKey};

/// Issuer of access tokens.
pub(crate) const ISSUER: &str = "vms";
/// Audience of access tokens.
const AUDIENCE: &str = "vms-api";
/// Start of every API key; the visible prefix is this plus 16 hex digits.
pub const API_KEY_PREFIX: &str = "vms_";
/// Start of every refresh token.
const REFRESH_PREFIX: &str = "vmsr_";
/// How long loaded signing keys are trusted before they are re-read.
const KEY_CACHE: Duration = Duration::from_secs(30);
/// Shortest time between re-reads forced by an unknown `kid` (so forged tokens cannot flood the database).
const KEY_RELOAD_MIN: Duration = Duration::from_secs(5);

/// argon2id parameters (OWASP's first recommendation: 19 MiB, 2 passes, 1 lane).
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (CPU-heavy: call from a blocking thread).
pub fn hash_password_blocking(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| ApiError::internal())?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "cannot hash password");
            ApiError::internal()
        })
}

/// Whether `password` matches the PHC string `hash` (CPU-heavy: call from a blocking thread).
pub fn verify_password_blocking(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
}

/// SHA-256 of a high-entropy secret (API keys, refresh tokens): fast is fine, they cannot be guessed.
pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Equality that takes as long whatever the inputs hold.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` random bytes, base64url without padding.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer, always `vms`.
    pub iss: String,
    /// Audience, always `vms-api`.
    pub aud: String,
    /// User id.
    pub sub: Uuid,
    /// Session id; the session must still be live.
    pub sid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

struct KeyCache {
    keys: Vec<SigningKey>,
    loaded: Option<Instant>,
}

/// Checks credentials and issues tokens; one per node, shared by every HTTP worker.
pub struct Authenticator {
    backend: Arc<dyn CredentialService>,
    keys: RwLock<KeyCache>,
    access_ttl: Duration,
    refresh_ttl: Duration,
    hashing: Semaphore,
    dummy_hash: String,
}

/// The answer to an unauthenticated or badly authenticated request; says nothing about why.
pub fn unauthenticated() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "missing, invalid or expired credentials; send Authorization: Bearer <access token or API key>",
        None,
    )
}

impl Authenticator {
    /// An authenticator over the node's backend.
    pub fn new(backend: Arc<dyn CredentialService>, config: &AuthConfig) -> Self {
        let dummy_hash =
            hash_password_blocking("not a password anyone has: dummy").unwrap_or_default();
        Self {
            backend,
            keys: RwLock::new(KeyCache {
                keys: Vec::new(),
                loaded: None,
            }),
            access_ttl: Duration::from_secs(config.access_ttl_seconds),
            refresh_ttl: Duration::from_secs(config.refresh_ttl_seconds),
            hashing: Semaphore::new(config.hash_concurrency.max(1)),
            dummy_hash,
        }
    }

    /// Runs CPU-heavy password work on a blocking thread, at most `hash_concurrency` at a time.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ApiError::internal())?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|_| ApiError::internal())
    }

    /// Hashes a new password.
    pub async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        self.hashing(move || hash_password_blocking(&password))
            .await?
    }

    fn cached_keys(&self) -> (Vec<SigningKey>, Option<Instant>) {
        match self.keys.read() {
            Ok(cache) => (cache.keys.clone(), cache.loaded),
            Err(_) => (Vec::new(), None),
        }
    }

    async fn reload_keys(&self) -> Result<Vec<SigningKey>, ApiError> {
        let mut keys = self.backend.signing_keys().await?;
        if keys.is_empty() {
            // First start of the cluster: make the first key (another node may race; both stay valid).
            let (kid, secret) = new_signing_key();
            self.backend.add_signing_key(&kid, &secret, None).await?;
            keys = self.backend.signing_keys().await?;
        }
        if let Ok(mut cache) = self.keys.write() {
            cache.keys = keys.clone();
            cache.loaded = Some(Instant::now());
        }
        Ok(keys)
    }

    pub(crate) async fn keys(&self) -> Result<Vec<SigningKey>, ApiError> {
        let (keys, loaded) = self.cached_keys();
        if loaded.is_some_and(|at| at.elapsed() < KEY_CACHE) && !keys.is_empty() {
            return Ok(keys);
        }
        self.reload_keys().await
    }

    /// The key for `kid`, re-reading the keys (at most every few seconds) when it is unknown.
    pub(crate) async fn key_for(&self, kid: &str) -> Result<Option<SigningKey>, ApiError> {
        let keys = self.keys().await?;
        if let Some(k) = keys.iter().find(|k| k.kid == kid) {
            return Ok(Some(k.clone()));
        }
        let (_, loaded) = self.cached_keys();
        if loaded.is_some_and(|at| at.elapsed() < KEY_RELOAD_MIN) {
            return Ok(None);
        }
        Ok(self.reload_keys().await?.into_iter().find(|k| k.kid == kid))
    }

    /// Makes a new signing key the signer; the others verify for one access-token lifetime more.
    pub async fn rotate_signing_key(&self) -> Result<String, ApiError> {
        let (kid, secret) = new_signing_key();
        self.backend
            .add_signing_key(&kid, &secret, Some(self.access_ttl))
            .await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    async fn token_pair(
        &self,
        user: UserId,
        sid: Uuid,
        refresh: String,
    ) -> Result<TokenPair, ApiError> {
        let keys = self.keys().await?;
        let key = keys.first().ok_or_else(ApiError::internal)?;
        Ok(TokenPair {
            access_token: encode_access(key, user, sid, self.access_ttl)?,
            token_type: "Bearer".into(),
            expires_in: self.access_ttl.as_secs(),
            refresh_token: refresh,
            refresh_expires_in: self.refresh_ttl.as_secs(),
        })
    }

    fn refresh_expiry(&self) -> DateTime<Utc> {
        Utc::now()
            + chrono::Duration::seconds(i64::try_from(self.refresh_ttl.as_secs()).unwrap_or(0))
    }

    /// Checks an e-mail and password and opens a session. Wrong password and unknown e-mail get the
    /// same answer after the same work.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        ip: Option<&str>,
    ) -> Result<(TokenPair, User), ApiError> {
        let found = self.backend.user_credentials(email).await?;
        let hash = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |(_, h)| h.clone());
        let matches = self
            .hashing(move || verify_password_blocking(&hash, &password))
            .await?;
        let Some((user, _)) = found.filter(|_| matches) else {
            return Err(ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong e-mail or password",
                None,
            ));
        };
        let refresh = format!("{REFRESH_PREFIX}{}", random_token(32));
        let sid = self
            .backend
            .create_session(user.id, &secret_hash(&refresh), self.refresh_expiry(), ip)
            .await?;
        Ok((self.token_pair(user.id, sid, refresh).await?, user))
    }

    /// Trades a refresh token (good once) for a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<(TokenPair, User), ApiError> {
        let invalid = || {
            ApiError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "refresh token is unknown, used, revoked or expired; log in again",
                Some("refresh_token"),
            )
        };
        if !refresh_token.starts_with(REFRESH_PREFIX) || refresh_token.len() > 256 {
            return Err(invalid());
        }
        let next = format!("{REFRESH_PREFIX}{}", random_token(32));
        let (sid, user) = self
            .backend
            .refresh_session(
                &secret_hash(refresh_token),
                &secret_hash(&next),
                self.refresh_expiry(),
            )
            .await?
            .ok_or_else(invalid)?;
        Ok((self.token_pair(user.id, sid, next).await?, user))
    }

    /// A new API key for `user` with `role`: the secret (shown once) and what is stored.
    pub fn new_api_key(
        user: UserId,
        name: String,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> (String, NewApiKey) {
        let mut id = [0u8; 8];
        rand::rng().fill_bytes(&mut id);
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let prefix = format!("{API_KEY_PREFIX}{hex}");
        let secret = format!("{prefix}_{}", random_token(32));
        let stored = NewApiKey {
            name,
            prefix,
            secret_hash: secret_hash(&secret),
            user_id: user,
            role,
            expires_at,
        };
        (secret, stored)
    }

    /// Who presents this `Authorization` header value.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 4096)
            .ok_or_else(unauthenticated)?;
        if token.starts_with(API_KEY_PREFIX) {
            self.api_key_principal(token).await
        } else {
            self.session_principal(token).await
        }
    }

    /// Whether the credential `principal` authenticated with still works: its session is live (not
    /// logged out, its user enabled) or its API key is not revoked. Long-lived answers (event
    /// streams) ask this every few seconds.
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, ApiError> {
        Ok(match principal.credential {
            Credential::Session(sid) => self
                .backend
                .session_user(sid)
                .await?
                .is_some_and(|u| u.id == principal.user_id),
            Credential::ApiKey(id) => self.backend.api_key_live(id).await?,
            // Checked when presented; it expires within minutes.
            Credential::StreamToken(_) => true,
        })
    }

    async fn api_key_principal(&self, token: &str) -> Result<Principal, ApiError> {
        // vms_<16 hex>_<secret>
        let prefix = token
            .get(..API_KEY_PREFIX.len() + 16)
            .filter(|_| token.as_bytes().get(API_KEY_PREFIX.len() + 16) == Some(&b'_'))
            .ok_or_else(unauthenticated)?;
        let creds = self
            .backend
            .api_key_credentials(prefix)
            .await?
            .ok_or_else(unauthenticated)?;
        if !constant_time_eq(&creds.secret_hash, &secret_hash(token)) {
            return Err(unauthenticated());
        }
        Ok(key_principal(&creds.key, &creds.user))
    }

    async fn session_principal(&self, token: &str) -> Result<Principal, ApiError> {
        let kid = token_kid(token)?;
        let key = self.key_for(&kid).await?.ok_or_else(unauthenticated)?;
        let claims = decode_access(token, &key)?;
        let user = self
            .backend
            .session_user(claims.sid)
            .await?
            .filter(|u| u.id.0 == claims.sub)
            .ok_or_else(unauthenticated)?;
        Ok(Principal {
            user_id: user.id,
            email: user.email,
            tenant_id: user.tenant_id,
            role: user.role,
            credential: Credential::Session(claims.sid),
        })
    }
}

/// Signs an access token for a session of `user`, valid for `ttl`.
pub fn encode_access(
    key: &SigningKey,
    user: UserId,
    sid: Uuid,
    ttl: Duration,
) -> Result<String, ApiError> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: user.0,
        sid,
        iat: now,
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(900),
    };
    sign_claims(key, &claims)
}

/// `claims` as an HS256 JWT signed with `key`, its `kid` in the header.
pub(crate) fn sign_claims(key: &SigningKey, claims: &impl Serialize) -> Result<String, ApiError> {
    let mut header = Header::new(JwtAlgorithm::HS256);
    header.kid = Some(key.kid.clone());
    EncodingKey::from_secret(&key.secret)
        .and_then(|k| jsonwebtoken::encode(&header, claims, &k))
        .map_err(|e| {
            tracing::error!(error = %e, "cannot sign token");
            ApiError::internal()
        })
}

/// The claims of an HS256 JWT when `key` signed it for `audience` (issuer `vms`; `exp`, `iss`,
/// `aud` and `sub` required; expiry with `leeway` seconds of slack); 401 otherwise.
pub(crate) fn verify_claims<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &SigningKey,
    audience: &str,
    leeway: u64,
) -> Result<T, ApiError> {
    let mut validation = Validation::new(JwtAlgorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = leeway;
    DecodingKey::from_secret(&key.secret)
        .and_then(|k| jsonwebtoken::decode::<T>(token, &k, &validation))
        .map(|d| d.claims)
        .map_err(|_| unauthenticated())
}

/// The `kid` of a token, refusing any algorithm but HS256 (`none` included).
pub fn token_kid(token: &str) -> Result<String, ApiError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| unauthenticated())?;
    if header.alg != JwtAlgorithm::HS256 {
        return Err(unauthenticated());
    }
    header.kid.ok_or_else(unauthenticated)
}

/// Checks an access token's signature with `key`, and its issuer, audience and expiry.
pub fn decode_access(token: &str, key: &SigningKey) -> Result<Claims, ApiError> {
    verify_claims(token, key, AUDIENCE, 5)
}

/// The caller an API key stands for: its user, with the key's role capped at the user's current one.
pub fn key_principal(key: &ApiKey, user: &User) -> Principal {
    let role = if user.role.may_grant(key.role) {
        key.role
    } else {
        user.role
    };
    Principal {
        user_id: user.id,
        email: user.email.clone(),
        tenant_id: user.tenant_id,
        role,
        credential: Credential::ApiKey(key.id),
    }
}

/// A fresh signing key: its id and a 32-byte secret.
fn new_signing_key() -> (String, Vec<u8>) {
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let mut id = [0u8; 4];
    rand::rng().fill_bytes(&mut id);
    let kid = format!(
        "{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S"),
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    (kid, secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password_blocking("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password_blocking(&h, "correct horse battery"));
        assert!(!verify_password_blocking(&h, "correct horse battery!"));
        assert!(!verify_password_blocking("not a hash", "x"));
    }

    #[test]
    fn api_keys_have_a_visible_prefix_and_hashed_secret() {
        let (secret, stored) =
            Authenticator::new_api_key(UserId::new(), "ci".into(), Role::Viewer, None);
        assert!(secret.starts_with(&stored.prefix));
        assert_eq!(stored.prefix.len(), API_KEY_PREFIX.len() + 16);
        assert_eq!(stored.secret_hash, secret_hash(&secret));
        assert!(!constant_time_eq(
            &stored.secret_hash,
            &secret_hash("vms_x")
        ));
    }

    #[test]
    fn key_role_never_exceeds_its_user() {
        let user = User {
            id: UserId::new(),
            email: "a@b".into(),
            tenant_id: None,
            role: Role::Viewer,
            disabled: false,
            created_at: Utc::now(),
        };
        let key = ApiKey {
            id: vms_messages::ApiKeyId::new(),
            name: "k".into(),
            prefix: "vms_0".into(),
            user_id: user.id,
            tenant_id: None,
            role: Role::TenantAdmin,
            expires_at: None,
            revoked_at: None,
            created_at: Utc::now(),
        };
        assert_eq!(key_principal(&key, &user).role, Role::Viewer);
    }
}
