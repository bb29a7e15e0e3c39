//! The event outbox: every raised event is first written to a file on the node's disk (written,
//! fsynced, renamed), then a drainer stores it in PostgreSQL and publishes it to JetStream, in order,
//! and deletes the file only when both have taken it. While PostgreSQL or NATS is away the files wait
//! and the rules keep running; after a crash the drainer carries on from the files. Retries are safe:
//! the event id is deterministic, the insert is `ON CONFLICT DO NOTHING` and JetStream deduplicates on
//! `Nats-Msg-Id`. Storing an event also opens or joins its ticket and queues its notifications, in
//! one transaction.

use crate::metrics;
use crate::store::Store;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use vms_messages::{Event, subjects};

/// Longest wait between retries of the head of the outbox.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Serialize, Deserialize)]
struct Entry {
    event: Event,
    /// JPEG, base64.
    snapshot: String,
    /// Appearance embedding of what raised the event.
    #[serde(default)]
    embedding: Option<Vec<f32>>,
    /// Ownership epoch of the camera on the node that raised it (none: cameras not placed).
    #[serde(default)]
    epoch: Option<i64>,
}

/// Events waiting for PostgreSQL and JetStream.
pub struct Outbox {
    dir: PathBuf,
    wake: Notify,
}

impl Outbox {
    /// Opens (creating) the outbox folder.
    pub fn open(dir: &Path) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(dir)?;
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            wake: Notify::new(),
        }))
    }

    /// Files waiting, oldest first.
    fn pending(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Durably queues an event with its snapshot (empty: none), the appearance embedding of what
    /// raised it and the camera's ownership epoch on this node (its write is fenced with it).
    pub async fn push(
        &self,
        event: &Event,
        snapshot: &[u8],
        embedding: Option<Vec<f32>>,
        epoch: Option<i64>,
    ) -> std::io::Result<()> {
        let entry = Entry {
            event: event.clone(),
            snapshot: base64::engine::general_purpose::STANDARD.encode(snapshot),
            embedding,
            epoch,
        };
        let name = format!("{:020}-{}", event.at.timestamp_micros(), event.id);
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let tmp = dir.join(format!("{name}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&serde_json::to_vec(&entry).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(format!("{name}.json")))?;
            std::fs::File::open(&dir)?.sync_all()
        })
        .await
        .map_err(|e| {
            if e.is_cancelled() {
                // The runtime is shutting down with the node.
                std::io::Error::new(std::io::ErrorKind::Interrupted, "node stopping")
            } else {
                std::io::Error::other(e)
            }
        })??;
        self.wake.notify_one();
        Ok(())
    }

    /// Drains the outbox for as long as the node runs.
    pub fn spawn_drainer(
        self: &Arc<Self>,
        store: Store,
        nats: Option<async_nats::Client>,
    ) -> tokio::task::JoinHandle<()> {
        let outbox = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let files = outbox.pending();
                metrics::OUTBOX_PENDING.set(i64::try_from(files.len()).unwrap_or(i64::MAX));
                if files.is_empty() {
                    tokio::select! {
                        () = outbox.wake.notified() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
                for file in files {
                    drain_one(&file, &store, nats.as_ref()).await;
                }
            }
        })
    }
}

/// Stores and publishes one queued event, retrying until both have taken it, then deletes the file.
async fn drain_one(file: &Path, store: &Store, nats: Option<&async_nats::Client>) {
    let entry: Entry = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(entry) => entry,
        Err(e) => {
            tracing::error!(file = %file.display(), error = %e, "unreadable outbox entry set aside");
            let _ = std::fs::rename(file, file.with_extension("bad"));
            return;
        }
    };
    let snapshot = base64::engine::general_purpose::STANDARD
        .decode(&entry.snapshot)
        .unwrap_or_default();
    let mut event = entry.event;
    let mut delay = Duration::from_millis(250);
    loop {
        let snapshot = Some(snapshot.as_slice()).filter(|s| !s.is_empty());
        match store
            .insert_event(&event, snapshot, entry.embedding.as_deref(), entry.epoch)
            .await
        {
            Ok(stored) => {
                if stored.new {
                    metrics::EVENTS_STORED
                        .with_label_values(&[&event.camera_id.to_string()])
                        .inc();
                    tracing::info!(event_id = %event.id, camera_id = %event.camera_id, kind = %event.kind, score = event.score,
                        ticket_id = ?stored.ticket_id, notifications = stored.notifications, "event");
                }
                event.ticket_id = stored.ticket_id;
                break;
            }
            Err(e @ (crate::StoreError::Fenced { .. } | crate::StoreError::NotFound(_))) => {
                // Raised by this node for a camera another node records now (it was frozen or cut
                // off), or for a camera deleted meanwhile: not stored and not published.
                metrics::FENCED_WRITES.with_label_values(&["event"]).inc();
                tracing::warn!(error = %e, event_id = %event.id, "event refused; dropped");
                let _ = std::fs::remove_file(file);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, event_id = %event.id, "cannot store event yet; it waits in the outbox");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
    let event = &event;
    if let Some(nats) = nats {
        let js = async_nats::jetstream::new(nats.clone());
        let subject = subjects::event(event.tenant_id, event.camera_id, &event.kind);
        let payload = serde_json::to_vec(event).unwrap_or_default();
        let mut delay = Duration::from_millis(250);
        loop {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
            let published = match js
                .publish_with_headers(subject.clone(), headers, payload.clone().into())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match published {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, event_id = %event.id, "cannot publish event yet; it waits in the outbox");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
    if let Err(e) = std::fs::remove_file(file) {
        tracing::warn!(file = %file.display(), error = %e, "cannot remove drained outbox entry");
    }
}
