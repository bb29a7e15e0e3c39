//! Tenants: the store, and the supervisor told of every change.

use super::*;

#[async_trait]
impl TenantService for NodeBackend {
    async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError> {
        let tenant = self
            .db(|s| async move { s.create_tenant(&req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::TenantUpserted(tenant.clone()));
        self.broadcast(Change::Tenant {
            tenant_id: tenant.id,
        });
        Ok(tenant)
    }

    async fn list_tenants(&self, scope: TenantScope, page: Page) -> Result<TenantPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move { s.tenants(scope, page.cursor.as_deref(), page.limit).await })
            .await?;
        Ok(TenantPage { items, next_cursor })
    }

    async fn get_tenant(&self, scope: TenantScope, id: TenantId) -> Result<Tenant, ApiError> {
        self.db(move |s| async move { s.tenant(scope, id).await })
            .await
    }

    async fn tenant_usage(
        &self,
        scope: TenantScope,
        id: TenantId,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<vms_messages::TenantUsage, ApiError> {
        self.db(move |s| async move { s.tenant_usage(scope, id, from, to).await })
            .await
    }

    async fn update_tenant(&self, id: TenantId, req: TenantUpdate) -> Result<Tenant, ApiError> {
        let tenant = self
            .db(move |s| async move { s.update_tenant(id, &req).await })
            .await?;
        let _ = self
            .supervisor
            .cast(NodeMsg::TenantUpserted(tenant.clone()));
        self.broadcast(Change::Tenant {
            tenant_id: tenant.id,
        });
        Ok(tenant)
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError> {
        self.db(move |s| async move { s.delete_tenant(id).await })
            .await?;
        let _ = self.supervisor.cast(NodeMsg::TenantRemoved(id));
        self.broadcast(Change::TenantRemoved { tenant_id: id });
        Ok(())
    }
}
