//! The audit log.

use super::*;

#[async_trait]
impl AuditService for NodeBackend {
    async fn append_audit(&self, entry: AuditRecord) -> Result<(), ApiError> {
        self.db(move |s| async move { s.append_audit(&entry).await })
            .await
    }

    async fn list_audit(
        &self,
        scope: TenantScope,
        tenant: Option<TenantId>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        page: Page,
    ) -> Result<AuditPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.audit(scope, tenant, from, to, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(AuditPage { items, next_cursor })
    }
}
