//! Events, their snapshots and look-alikes, and the live feed.

use super::*;

#[async_trait]
impl EventService for NodeBackend {
    async fn list_events(
        &self,
        scope: TenantScope,
        filter: EventFilter,
        page: Page,
    ) -> Result<EventPage, ApiError> {
        let (items, next_cursor) = self
            .db(move |s| async move {
                s.events(scope, &filter, page.cursor.as_deref(), page.limit)
                    .await
            })
            .await?;
        Ok(EventPage { items, next_cursor })
    }

    async fn get_event(&self, scope: TenantScope, id: Uuid) -> Result<EventView, ApiError> {
        let overlap =
            chrono::Duration::seconds(i64::from(self.ctx.config.recording.overlap_seconds.max(1)));
        self.db(move |s| async move {
            let event = s.event(scope, id).await?;
            let (segments, _) = s
                .segments(
                    scope,
                    event.camera_id,
                    Some(event.at - overlap),
                    Some(event.at + overlap),
                    None,
                    16,
                )
                .await?;
            Ok(EventView { event, segments })
        })
        .await
    }

    async fn similar_events(
        &self,
        scope: TenantScope,
        id: Uuid,
        min: f32,
        limit: i64,
    ) -> Result<SimilarEvents, ApiError> {
        let found = self
            .db(move |s| async move { s.similar_events(scope, id, min, limit).await })
            .await?;
        Ok(SimilarEvents {
            items: found
                .into_iter()
                .map(|(event, similarity)| vms_messages::SimilarEvent { event, similarity })
                .collect(),
        })
    }

    async fn event_snapshot(&self, scope: TenantScope, id: Uuid) -> Result<Vec<u8>, ApiError> {
        self.db(move |s| async move { s.event_snapshot(scope, id).await })
            .await
    }

    fn event_feed(&self) -> Option<tokio::sync::broadcast::Receiver<Event>> {
        self.feed
            .as_ref()
            .map(tokio::sync::broadcast::Sender::subscribe)
    }
}
