//! Users and API keys.

use super::*;

#[async_trait]
impl UserService for NodeBackend {
    async fn create_user(&self, scope: TenantScope, user: NewUser) -> Result<User, ApiError> {
        self.db(move |s| async move { s.create_user(scope, &user).await })
            .await
    }

    async fn get_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError> {
        self.db(move |s| async move { s.user(scope, id).await })
            .await
    }

    async fn list_users(&self, scope: TenantScope, page: Page) -> Result<UserPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.users(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(UserPage { items, next_cursor })
    }

    async fn update_user(
        &self,
        scope: TenantScope,
        id: UserId,
        change: UserChange,
    ) -> Result<User, ApiError> {
        self.db(move |s| async move { s.update_user(scope, id, &change).await })
            .await
    }

    async fn delete_user(&self, scope: TenantScope, id: UserId) -> Result<User, ApiError> {
        self.db(move |s| async move { s.delete_user(scope, id).await })
            .await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKey, ApiError> {
        self.db(move |s| async move { s.create_api_key(&key).await })
            .await
    }

    async fn list_api_keys(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        page: Page,
    ) -> Result<(Vec<ApiKey>, Option<String>), ApiError> {
        self.db(move |s| async move {
            s.api_keys(scope, owner, page.cursor.as_deref(), page.limit)
                .await
        })
        .await
    }

    async fn revoke_api_key(
        &self,
        scope: TenantScope,
        owner: Option<UserId>,
        id: ApiKeyId,
    ) -> Result<ApiKey, ApiError> {
        self.db(move |s| async move { s.revoke_api_key(scope, owner, id).await })
            .await
    }
}
