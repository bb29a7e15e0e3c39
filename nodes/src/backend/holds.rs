//! Evidence holds.

use super::*;

#[async_trait]
impl HoldService for NodeBackend {
    async fn create_hold(
        &self,
        scope: TenantScope,
        req: HoldCreate,
        created_by: String,
    ) -> Result<Hold, ApiError> {
        self.db(move |s| async move { s.create_hold(scope, &req, &created_by).await })
            .await
    }

    async fn list_holds(
        &self,
        scope: TenantScope,
        camera: Option<CameraId>,
        page: Page,
    ) -> Result<HoldPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.holds(scope, camera, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(HoldPage { items, next_cursor })
    }

    async fn get_hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, ApiError> {
        self.db(move |s| async move { s.hold(scope, id).await })
            .await
    }

    async fn release_hold(&self, scope: TenantScope, id: Uuid) -> Result<Hold, ApiError> {
        self.db(move |s| async move { s.release_hold(scope, id).await })
            .await
    }

    async fn hold_event(
        &self,
        scope: TenantScope,
        event: Uuid,
        created_by: String,
    ) -> Result<(Hold, bool), ApiError> {
        self.db(move |s| async move { s.hold_event(scope, event, &created_by).await })
            .await
    }
}
