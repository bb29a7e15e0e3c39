//! What authentication reads and writes.

use super::*;

#[async_trait]
impl CredentialService for NodeBackend {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>, ApiError> {
        self.db(|s| async move { s.signing_keys().await }).await
    }

    async fn add_signing_key(
        &self,
        kid: &str,
        secret: &[u8],
        grace: Option<Duration>,
    ) -> Result<(), ApiError> {
        let (kid, secret) = (kid.to_string(), secret.to_vec());
        self.db(move |s| async move { s.add_signing_key(&kid, &secret, grace).await })
            .await
    }

    async fn user_credentials(&self, email: &str) -> Result<Option<(User, String)>, ApiError> {
        let email = email.to_string();
        self.db(move |s| async move { s.user_credentials(&email).await })
            .await
    }

    async fn create_session(
        &self,
        user: UserId,
        refresh_hash: &[u8],
        expires_at: DateTime<Utc>,
        ip: Option<&str>,
    ) -> Result<Uuid, ApiError> {
        let (hash, ip) = (refresh_hash.to_vec(), ip.map(str::to_string));
        self.db(move |s| async move {
            s.create_session(user, &hash, expires_at, ip.as_deref())
                .await
        })
        .await
    }

    async fn refresh_session(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<Option<(Uuid, User)>, ApiError> {
        let (old, new) = (old_hash.to_vec(), new_hash.to_vec());
        self.db(move |s| async move { s.refresh_session(&old, &new, expires_at).await })
            .await
    }

    async fn revoke_session(&self, id: Uuid) -> Result<(), ApiError> {
        self.db(move |s| async move { s.revoke_session(id).await })
            .await
    }

    async fn session_user(&self, id: Uuid) -> Result<Option<User>, ApiError> {
        self.db(move |s| async move { s.session_user(id).await })
            .await
    }

    async fn api_key_credentials(&self, prefix: &str) -> Result<Option<KeyCredentials>, ApiError> {
        let prefix = prefix.to_string();
        self.db(move |s| async move { s.api_key_credentials(&prefix).await })
            .await
    }

    async fn api_key_live(&self, id: ApiKeyId) -> Result<bool, ApiError> {
        self.db(move |s| async move { s.api_key_live(id).await })
            .await
    }
}
