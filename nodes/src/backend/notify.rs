//! Notification channels and deliveries.

use super::*;

#[async_trait]
impl NotificationService for NodeBackend {
    async fn create_channel(
        &self,
        scope: TenantScope,
        tenant: TenantId,
        req: ChannelCreate,
        secret: Option<String>,
    ) -> Result<Channel, ApiError> {
        self.db(move |s| async move {
            s.create_channel(scope, tenant, &req, secret.as_deref())
                .await
        })
        .await
    }

    async fn list_channels(&self, scope: TenantScope, page: Page) -> Result<ChannelPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.channels(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(ChannelPage { items, next_cursor })
    }

    async fn get_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError> {
        self.db(move |s| async move { s.channel(scope, id).await })
            .await
    }

    async fn update_channel(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: ChannelUpdate,
    ) -> Result<Channel, ApiError> {
        let current = self.get_channel(scope, id).await?;
        req.check_kind(current.kind)?;
        self.db(move |s| async move { s.update_channel(scope, id, &req).await })
            .await
    }

    async fn delete_channel(&self, scope: TenantScope, id: Uuid) -> Result<Channel, ApiError> {
        self.db(move |s| async move { s.delete_channel(scope, id).await })
            .await
    }

    async fn list_deliveries(
        &self,
        scope: TenantScope,
        channel: Uuid,
        state: Option<DeliveryState>,
        page: Page,
    ) -> Result<DeliveryPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.deliveries(scope, channel, state, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(DeliveryPage { items, next_cursor })
    }

    async fn retry_delivery(&self, scope: TenantScope, id: Uuid) -> Result<Delivery, ApiError> {
        self.db(move |s| async move { s.retry_delivery(scope, id).await })
            .await
    }
}
