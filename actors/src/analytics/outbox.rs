//! The event outbox: every raised event is first written to a file on the node's disk (written,
//! fsynced, renamed), then stored in PostgreSQL and published to JetStream. After a crash both carry on
//! from the files.
//!
//! Storing and publishing advance independently, each with its own cursor (a folder, read oldest
//! first):
//! - `outbox/*.json`: events not yet stored. The storer inserts each and moves it, with the ticket the
//!   store gave it, to `outbox/publish/`. A NATS outage therefore never holds back PostgreSQL.
//! - `outbox/publish/*.json`: stored, not yet published. The publisher deletes each once JetStream
//!   acknowledged it.
//! - `outbox/dead/`: events that can never be stored (a constraint the row breaks, a camera deleted
//!   meanwhile, an unreadable file, or a refusal that outlived its retries), each beside a `.reason`
//!   file, counted in `vms_events_dead_letters_total{reason}` and logged at error level. Nothing is
//!   lost: an operator can move a file back into `outbox/` once its cause is fixed.
//!
//! While PostgreSQL is away the storer waits and the rules keep running. An error that is neither the
//! database being away nor a permanent refusal is retried with a backoff per event, and the events
//! behind it are stored meanwhile, so one event never wedges the queue. Retries are safe: the event id
//! is deterministic, the insert is `ON CONFLICT DO NOTHING` and JetStream deduplicates on
//! `Nats-Msg-Id`. Storing an event also opens or joins its ticket and queues its notifications, in
//! one transaction.

use crate::metrics;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use vms_messages::{Event, subjects};
use vms_store::Store;

/// Longest wait between retries of one event.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Attempts of an event the database refuses for a reason that may pass (a serialisation failure, a
/// timeout) before it becomes a dead letter.
const MAX_ATTEMPTS: u32 = 30;

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
    wake_store: Notify,
    wake_publish: Notify,
    /// Told the id of each ticket an event stored here opened (the node's ticket keeper).
    ticket_opened: std::sync::Mutex<Option<TicketHook>>,
}

/// What [`Outbox::on_ticket_opened`] calls.
pub type TicketHook = Box<dyn Fn(uuid::Uuid) + Send + Sync>;

impl Outbox {
    /// Opens (creating) the outbox folders.
    pub fn open(dir: &Path) -> std::io::Result<Arc<Self>> {
        for d in [dir.to_path_buf(), dir.join("publish"), dir.join("dead")] {
            std::fs::create_dir_all(d)?;
        }
        Ok(Arc::new(Self {
            dir: dir.to_path_buf(),
            wake_store: Notify::new(),
            wake_publish: Notify::new(),
            ticket_opened: std::sync::Mutex::new(None),
        }))
    }

    /// Calls `hook` with the id of each ticket an event stored from now on opens (replacing any
    /// earlier hook).
    pub fn on_ticket_opened(&self, hook: TicketHook) {
        *self
            .ticket_opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(hook);
    }

    /// Removes the hook.
    pub fn clear_ticket_hook(&self) {
        *self
            .ticket_opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Events not yet stored, oldest first.
    pub fn to_store(&self) -> Vec<PathBuf> {
        queued(&self.dir)
    }

    /// Events stored but not yet published, oldest first.
    pub fn to_publish(&self) -> Vec<PathBuf> {
        queued(&self.publish_dir())
    }

    /// Dead letters (their `.json` files), oldest first.
    pub fn dead_letters(&self) -> Vec<PathBuf> {
        queued(&self.dead_dir())
    }

    fn publish_dir(&self) -> PathBuf {
        self.dir.join("publish")
    }

    fn dead_dir(&self) -> PathBuf {
        self.dir.join("dead")
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
        let bytes = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        tokio::task::spawn_blocking(move || write_durably(&dir, &name, &bytes))
            .await
            .map_err(|e| {
                if e.is_cancelled() {
                    // The runtime is shutting down with the node.
                    std::io::Error::new(std::io::ErrorKind::Interrupted, "node stopping")
                } else {
                    std::io::Error::other(e)
                }
            })??;
        self.wake_store.notify_one();
        Ok(())
    }

    /// Stores (and, with `nats`, publishes) the outbox for as long as the node runs: one task that
    /// drives both cursors at once; aborting it stops both.
    pub fn spawn_drainer(
        self: &Arc<Self>,
        store: Store,
        nats: Option<async_nats::Client>,
    ) -> tokio::task::JoinHandle<()> {
        let outbox = Arc::clone(self);
        tokio::spawn(async move {
            let storer = Arc::clone(&outbox).store_loop(store, nats.is_some());
            match nats {
                Some(nats) => {
                    tokio::join!(storer, Arc::clone(&outbox).publish_loop(nats));
                }
                None => storer.await,
            }
        })
    }

    fn update_gauges(&self, to_store: usize) {
        let to_publish = self.to_publish().len();
        metrics::OUTBOX_PENDING.set(i64::try_from(to_store + to_publish).unwrap_or(i64::MAX));
        metrics::OUTBOX_UNPUBLISHED.set(i64::try_from(to_publish).unwrap_or(i64::MAX));
    }

    async fn store_loop(self: Arc<Self>, store: Store, publishing: bool) {
        let mut retries: HashMap<PathBuf, (u32, Instant)> = HashMap::new();
        loop {
            let files = self.to_store();
            self.update_gauges(files.len());
            // A backlog after a long outage may be large: forget retries of files gone in one pass.
            let present: std::collections::HashSet<&PathBuf> = files.iter().collect();
            retries.retain(|f, _| present.contains(f));
            let mut next_wait = Duration::from_secs(1);
            for file in &files {
                if let Some((_, not_before)) = retries.get(file)
                    && *not_before > Instant::now()
                {
                    next_wait = next_wait.min(*not_before - Instant::now());
                    continue;
                }
                match self.store_one(file, &store, publishing).await {
                    Stored::Done => {
                        retries.remove(file);
                    }
                    Stored::Unavailable => {
                        // The database is away: every event behind this one would fail the same.
                        let attempts = retries.get(file).map_or(0, |(n, _)| *n);
                        next_wait = backoff(attempts);
                        retries.insert(file.clone(), (attempts + 1, Instant::now()));
                        break;
                    }
                    Stored::Retry(reason) => {
                        let attempts = retries.get(file).map_or(0, |(n, _)| *n) + 1;
                        if attempts >= MAX_ATTEMPTS {
                            self.bury(
                                file,
                                "retries_exhausted",
                                &format!("{attempts} attempts: {reason}"),
                            );
                            retries.remove(file);
                        } else {
                            retries.insert(
                                file.clone(),
                                (attempts, Instant::now() + backoff(attempts)),
                            );
                        }
                    }
                }
            }
            tokio::select! {
                () = self.wake_store.notified() => {}
                () = tokio::time::sleep(next_wait) => {}
            }
        }
    }

    /// Stores one event; on success hands it to the publisher's folder (or deletes it when nothing
    /// publishes).
    async fn store_one(&self, file: &Path, store: &Store, publishing: bool) -> Stored {
        let entry = match read_entry(file) {
            Ok(entry) => entry,
            Err(e) => {
                self.bury(file, "unreadable", &e);
                return Stored::Done;
            }
        };
        let snapshot = base64::engine::general_purpose::STANDARD
            .decode(&entry.snapshot)
            .unwrap_or_default();
        let snapshot = Some(snapshot.as_slice()).filter(|s| !s.is_empty());
        let event = &entry.event;
        match store
            .insert_event(event, snapshot, entry.embedding.as_deref(), entry.epoch)
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
                if let Some(ticket) = stored.ticket_id.filter(|_| stored.opened_ticket)
                    && let Some(hook) = self
                        .ticket_opened
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .as_ref()
                {
                    hook(ticket);
                }
                if publishing {
                    let mut published = event.clone();
                    published.ticket_id = stored.ticket_id;
                    if let Err(e) = self.hand_to_publisher(file, &published) {
                        tracing::warn!(file = %file.display(), error = %e, "cannot queue a stored event for publishing; retrying");
                        return Stored::Retry(e.to_string());
                    }
                }
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::warn!(file = %file.display(), error = %e, "cannot remove a stored outbox entry");
                }
                Stored::Done
            }
            Err(e @ vms_store::StoreError::Fenced { .. }) => {
                // Raised by this node for a camera another node records now (it was frozen or cut
                // off): the owner raises its own events; this one is neither stored nor published.
                metrics::FENCED_WRITES.with_label_values(&["event"]).inc();
                tracing::warn!(error = %e, event_id = %event.id, "event refused as stale; dropped");
                let _ = std::fs::remove_file(file);
                Stored::Done
            }
            Err(e @ vms_store::StoreError::Superseded(_)) => {
                tracing::info!(reason = %e, event_id = %event.id, "event no longer applies; dropped");
                let _ = std::fs::remove_file(file);
                Stored::Done
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, event_id = %event.id, "cannot store event yet; it waits in the outbox");
                Stored::Unavailable
            }
            Err(e) if e.is_permanent() => {
                self.bury(file, e.kind(), &vms_store::error_chain(&e));
                Stored::Done
            }
            Err(e) => {
                let reason = vms_store::error_chain(&e);
                tracing::warn!(error = %reason, event_id = %event.id, "event refused for now; retrying it later");
                Stored::Retry(reason)
            }
        }
    }

    /// Writes the stored event (with its ticket) into the publisher's folder under the same name.
    fn hand_to_publisher(&self, file: &Path, event: &Event) -> std::io::Result<()> {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        write_durably(&self.publish_dir(), &name, &bytes)?;
        self.wake_publish.notify_one();
        Ok(())
    }

    /// Moves `file` to the dead letters with its reason.
    fn bury(&self, file: &Path, kind: &str, reason: &str) {
        let Some(name) = file.file_name() else {
            return;
        };
        let dead = self.dead_dir().join(name);
        let note = dead.with_extension("reason");
        let moved = std::fs::write(&note, format!("{kind}: {reason}\n"))
            .and_then(|()| std::fs::rename(file, &dead));
        metrics::EVENTS_DEAD_LETTERS
            .with_label_values(&[kind])
            .inc();
        match moved {
            Ok(()) => tracing::error!(file = %dead.display(), reason = %reason, kind,
                "event can never be stored; kept as a dead letter"),
            Err(e) => tracing::error!(file = %file.display(), reason = %reason, error = %e,
                "event can never be stored and cannot be moved to the dead letters"),
        }
    }

    async fn publish_loop(self: Arc<Self>, nats: async_nats::Client) {
        let js = async_nats::jetstream::new(nats);
        let mut attempts = 0u32;
        loop {
            let files = self.to_publish();
            let mut wait = Duration::from_secs(1);
            for file in &files {
                match publish_one(file, &js).await {
                    Ok(()) => {
                        attempts = 0;
                        match std::fs::remove_file(file) {
                            Ok(()) => {}
                            // Set aside as unreadable.
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                tracing::warn!(file = %file.display(), error = %e, "cannot remove a published outbox entry");
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, file = %file.display(), "cannot publish event yet; it waits in the outbox");
                        wait = backoff(attempts);
                        attempts += 1;
                        break;
                    }
                }
            }
            self.update_gauges(self.to_store().len());
            tokio::select! {
                () = self.wake_publish.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// What storing one event came to.
enum Stored {
    /// Stored, dropped as stale, or buried: the next event's turn.
    Done,
    /// The database is away.
    Unavailable,
    /// Refused for a reason that may pass.
    Retry(String),
}

fn backoff(attempts: u32) -> Duration {
    (Duration::from_millis(250) * 2u32.saturating_pow(attempts.min(8))).min(MAX_BACKOFF)
}

/// The `.json` files of `dir`, oldest first (names start with the event's time).
fn queued(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Writes `<dir>/<name>.json` through a fsynced temporary file and a rename.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(format!("{name}.json")))?;
    std::fs::File::open(dir)?.sync_all()
}

fn read_entry(file: &Path) -> Result<Entry, String> {
    std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
}

/// Publishes one stored event to JetStream and waits for its acknowledgement.
async fn publish_one(file: &Path, js: &async_nats::jetstream::Context) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
    let event: Event = match serde_json::from_slice(&bytes) {
        Ok(event) => event,
        Err(e) => {
            // Written by this node after storing; unreadable means a damaged disk. The event is in
            // PostgreSQL, so only the hint is lost: set it aside.
            tracing::error!(file = %file.display(), error = %e, "unreadable stored event set aside");
            let _ = std::fs::rename(file, file.with_extension("bad"));
            return Ok(());
        }
    };
    let subject = subjects::event(event.tenant_id, event.camera_id, &event.kind);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
    js.publish_with_headers(subject, headers, bytes.into())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}
