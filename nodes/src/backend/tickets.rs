//! Tickets and their workflow.

use super::*;

#[async_trait]
impl TicketService for NodeBackend {
    async fn list_tickets(
        &self,
        scope: TenantScope,
        state: Option<TicketState>,
        page: Page,
    ) -> Result<TicketPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.tickets(scope, state, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(TicketPage { items, next_cursor })
    }

    async fn get_ticket(&self, scope: TenantScope, id: Uuid) -> Result<TicketView, ApiError> {
        self.db(move |s| async move { s.ticket(scope, id).await })
            .await
    }

    async fn move_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        action: TicketAction,
        actor: &Principal,
    ) -> Result<TicketView, ApiError> {
        let (email, user) = (actor.email.clone(), actor.user_id);
        self.db(
            move |s| async move { s.move_ticket(scope, id, action, (&email, user), None).await },
        )
        .await
    }

    async fn comment_ticket(
        &self,
        scope: TenantScope,
        id: Uuid,
        actor: &Principal,
        text: String,
    ) -> Result<TicketView, ApiError> {
        let email = actor.email.clone();
        self.db(move |s| async move { s.comment_ticket(scope, id, &email, &text).await })
            .await
    }
}
