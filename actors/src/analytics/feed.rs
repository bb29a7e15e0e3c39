//! The live event feed of a node: one ordered JetStream consumer on `VMS_EVENTS` (new messages only)
//! fanned out in memory to every SSE client. JetStream has already deduplicated what it holds, so a
//! client sees each event once even when a node retried its publication. A slow client loses its
//! place (it is told how many it missed), never slows the feed.

use std::time::Duration;
use tokio::sync::broadcast;
use vms_messages::{Event, subjects};

/// Events buffered for slow clients before they are told they lagged.
const FEED_CAPACITY: usize = 1024;

/// Starts the feed; it (re)subscribes for as long as the node runs.
pub fn spawn_event_feed(nats: async_nats::Client) -> broadcast::Sender<Event> {
    let (tx, _) = broadcast::channel(FEED_CAPACITY);
    let sender = tx.clone();
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            match follow(&nats, &sender).await {
                Ok(()) => delay = Duration::from_millis(500),
                Err(e) => {
                    tracing::warn!(error = %e, "live event feed interrupted; resubscribing");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
    tx
}

/// The tenant of an event subject `vms.events.<tenant>.<camera>.<kind>`: the feed trusts the
/// subject, which publishing rights can be granted per tenant on, not the body.
fn subject_tenant(subject: &str) -> Option<String> {
    let mut parts = subject.split('.');
    (parts.next() == Some("vms") && parts.next() == Some("events"))
        .then(|| parts.next().map(str::to_string))
        .flatten()
}

async fn follow(nats: &async_nats::Client, tx: &broadcast::Sender<Event>) -> Result<(), String> {
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    use futures_util::StreamExt;
    let js = async_nats::jetstream::new(nats.clone());
    let stream = js
        .get_stream(subjects::EVENTS_STREAM)
        .await
        .map_err(|e| e.to_string())?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::New,
            filter_subject: "vms.events.>".into(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
    while let Some(msg) = messages.next().await {
        let msg = msg.map_err(|e| e.to_string())?;
        match serde_json::from_slice::<Event>(&msg.payload) {
            Ok(event) if subject_tenant(&msg.subject) == Some(event.tenant_id.to_string()) => {
                // No receiver is fine: nobody is watching.
                let _ = tx.send(event);
            }
            Ok(event) => {
                crate::cluster_auth::Refusal::BadSignature.count("event");
                tracing::warn!(subject = %msg.subject, event_id = %event.id, "event whose tenant is not its subject's dropped from the feed");
            }
            Err(e) => {
                tracing::warn!(subject = %msg.subject, error = %e, "unreadable event on the feed")
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_comes_from_the_subject() {
        assert_eq!(
            subject_tenant("vms.events.t1.c1.intrusion").as_deref(),
            Some("t1")
        );
        assert_eq!(subject_tenant("vms.segments.t1.c1"), None);
        assert_eq!(subject_tenant("vms.events"), None);
    }
}
