//! Footage mirrored to a camera's standby (issue 15, first half). Each write a camera's recorder
//! makes durable (a fragment, behind the init section for a segment's first) goes, as written, to
//! the standby node PostgreSQL names for the camera, over the mirror stream
//! (`cluster::mirror_stream`). The standby checks with PostgreSQL that it is the camera's standby
//! (what another node sends is a hint, like a NATS message), writes the bytes at the same offset
//! of the same file under `<data>/mirror/<tenant>/<camera>/`, makes them durable and
//! acknowledges. One task per camera sends its writes in order, one at a time; a write that finds
//! no standby, no stream or a refusal is counted and left out, and the same task's resync
//! (`cluster::resync`) sends it again from the file once the segment is closed, or the whole
//! segment to a new standby, and records in the index what the standby acknowledged.

use crate::cluster::membership::Membership;
use crate::cluster::mirror_stream::{MirrorClient, MirrorServer, MirroredWrite, WriteHandler};
use crate::cluster::resync::{RESYNC_EVERY, Resync};
use crate::context::NodeContext;
use crate::media::mirror::{MIRROR_QUEUE, MirrorChunk, MirrorHealth, MirrorSink};
use crate::metrics;
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vms_messages::{CameraId, TenantId};

/// How long a camera's standby, as PostgreSQL names it, is trusted before it is read again (by the
/// owner sending and by the standby receiving).
const STANDBY_TTL: Duration = Duration::from_secs(5);
/// A segment file name relative to a camera's folder: at most a day folder and a file, nothing
/// that leaves the folder.
fn relative_file(file: &str) -> Result<PathBuf, String> {
    let path = Path::new(file);
    let parts = path.components().count();
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || !(1..=2).contains(&parts) {
        return Err(format!("not a segment file: {file:?}"));
    }
    Ok(path.to_path_buf())
}

/// Camera standbys read from PostgreSQL, each trusted for [`STANDBY_TTL`].
#[derive(Default)]
struct StandbyCache(HashMap<CameraId, (Option<String>, Instant)>);

impl StandbyCache {
    /// The standby of `camera`, from the cache or PostgreSQL (`None` when it has none or the read
    /// failed).
    async fn get(&mut self, ctx: &NodeContext, camera: CameraId) -> Option<String> {
        if let Some((standby, at)) = self.0.get(&camera)
            && at.elapsed() < STANDBY_TTL
        {
            return standby.clone();
        }
        let standby = ctx.store.standby_of(camera).await.ok().flatten();
        self.0.insert(camera, (standby.clone(), Instant::now()));
        standby
    }
}

/// A camera's way to its standby: the standby's mirror server, as its heartbeats tell it, and the
/// stream to it.
pub(crate) struct StandbyLink {
    membership: Arc<Membership>,
    client: MirrorClient,
}

impl StandbyLink {
    /// Sends one write to `standby` and waits for its acknowledgement; the reason label when it
    /// was not acknowledged.
    pub(crate) async fn send(
        &mut self,
        standby: &str,
        ids: (TenantId, CameraId),
        chunk: &MirrorChunk,
    ) -> Result<(), &'static str> {
        let address = self.membership.mirror_of(standby).ok_or("no_link")?;
        let file = chunk.file.to_string_lossy();
        self.client
            .send(
                (standby, &address),
                ids,
                (&file, chunk.offset),
                &chunk.bytes,
            )
            .await
    }
}

/// What a failure's reason label means, for the camera's status.
fn explain(reason: &str, standby: &str) -> String {
    match reason {
        "no_link" => format!(
            "no mirror stream to standby {standby}: its heartbeat names no mirror server, or it cannot be reached"
        ),
        "no_answer" => format!("standby {standby} did not answer in time"),
        "refused" => format!("standby {standby} refused the fragment"),
        "too_large" => "a fragment too large to mirror".into(),
        other => format!("standby {standby}: {other}"),
    }
}

/// Sends a camera's durable writes to its standby, in order, and between them resyncs its recent
/// segments, until its recorder drops the sender.
async fn mirror_camera(
    ctx: Arc<NodeContext>,
    mut link: StandbyLink,
    (tenant, camera): (TenantId, CameraId),
    mut writes: mpsc::Receiver<MirrorChunk>,
    health: Arc<MirrorHealth>,
) {
    let mut standbys = StandbyCache::default();
    let mut resync = Resync::default();
    let mut tick = tokio::time::interval(RESYNC_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    while open || resync.pending() {
        let chunk = tokio::select! {
            biased;
            chunk = writes.recv(), if open => match chunk {
                Some(chunk) => chunk,
                None => {
                    // Record the last segment's count once it is indexed, then stop.
                    open = false;
                    resync.finish();
                    continue;
                }
            },
            _ = tick.tick() => {
                let standby = standbys.get(&ctx, camera).await.filter(|s| s != ctx.node_id());
                if let Some(standby) = &standby
                    && let Err(e) = resync.round(&ctx, &mut link, (tenant, camera), standby).await
                {
                    tracing::debug!(camera = %camera, error = %e, "standby resync failed; will retry");
                }
                if !open && standby.is_none() {
                    return;
                }
                continue;
            }
        };
        resync.writing(&chunk.file);
        let standby = standbys
            .get(&ctx, camera)
            .await
            .filter(|s| s != ctx.node_id());
        let Some(standby) = standby else {
            metrics::MIRROR_FAILED
                .with_label_values(&["no_standby"])
                .inc();
            resync.missed();
            health.failed(
                None,
                "no standby node: no other node can hold this camera's copy".into(),
                true,
            );
            continue;
        };
        let (file, offset) = (chunk.file.clone(), chunk.offset);
        let len = u64::try_from(chunk.bytes.len()).unwrap_or(0);
        match link.send(&standby, (tenant, camera), &chunk).await {
            Ok(()) => {
                resync.acked(&file, &standby, offset, len);
                metrics::MIRROR_ACKED.inc();
                metrics::MIRROR_ACKED_BYTES.inc_by(len);
                health.acked(&standby);
            }
            Err(reason) => {
                metrics::MIRROR_FAILED.with_label_values(&[reason]).inc();
                resync.missed();
                health.failed(Some(&standby), explain(reason, &standby), false);
            }
        }
    }
}

/// Mirrors cameras over mirror streams to their standbys.
pub struct StreamMirror {
    ctx: Arc<NodeContext>,
    membership: Arc<Membership>,
    cookie: Arc<str>,
}

impl StreamMirror {
    /// Mirrors to the standbys `membership` knows the mirror servers of.
    pub fn new(ctx: Arc<NodeContext>, membership: Arc<Membership>) -> Self {
        let cookie = cluster_cookie(&ctx);
        Self {
            ctx,
            membership,
            cookie,
        }
    }
}

/// The cluster cookie (empty when none is set: placement, which mirroring needs, requires one).
fn cluster_cookie(ctx: &NodeContext) -> Arc<str> {
    let cookie = ctx.config.cluster.resolve_cookie().ok().flatten();
    cookie.unwrap_or_default().into()
}

impl MirrorSink for StreamMirror {
    fn open(
        &self,
        tenant: TenantId,
        camera: CameraId,
        health: Arc<MirrorHealth>,
    ) -> mpsc::Sender<MirrorChunk> {
        let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
        let link = StandbyLink {
            membership: Arc::clone(&self.membership),
            client: MirrorClient::new(Arc::clone(&self.cookie)),
        };
        tokio::spawn(mirror_camera(
            Arc::clone(&self.ctx),
            link,
            (tenant, camera),
            rx,
            health,
        ));
        tx
    }
}

/// What this node, as a standby, knows of the cameras it was sent writes for.
pub struct StandbyState {
    standbys: tokio::sync::Mutex<StandbyCache>,
    /// Whether PostgreSQL must name this node the camera's standby (off only in the test that
    /// shows the check matters).
    check: bool,
}

impl Default for StandbyState {
    fn default() -> Self {
        Self {
            standbys: tokio::sync::Mutex::default(),
            check: true,
        }
    }
}

impl StandbyState {
    /// A standby that writes whatever it is sent, without asking PostgreSQL: the test-only switch
    /// of the mutation test (`actors/tests/mirror.rs`). Never used by a node.
    pub fn unchecked() -> Self {
        Self {
            check: false,
            ..Self::default()
        }
    }
}

/// Starts this node's mirror server on the link server's address (port `cluster.mirror_port`)
/// and tells the others where it is; `None` when it cannot listen (the node runs on, and its
/// cameras' owners find no stream to it).
pub async fn serve(ctx: &Arc<NodeContext>, membership: &Membership) -> Option<MirrorServer> {
    let c = &ctx.config.cluster;
    let Some(ip) = crate::cluster::links::link_listen_addr(c) else {
        tracing::warn!(advertise_host = %c.advertise_host, "no mirror server: cannot tell which address to bind; set cluster.link_listen");
        return None;
    };
    let state = Arc::new(StandbyState::default());
    let handler: WriteHandler = {
        let ctx = Arc::clone(ctx);
        Arc::new(move |write| Box::pin(receive(Arc::clone(&ctx), Arc::clone(&state), write)))
    };
    let address = std::net::SocketAddr::new(ip, c.mirror_port);
    match MirrorServer::bind(address, cluster_cookie(ctx), handler).await {
        Ok(server) => {
            let port = server.address().port();
            membership.set_mirror(format!("{}:{port}", c.advertise_host));
            tracing::info!(address = %server.address(), "mirror server listening");
            Some(server)
        }
        Err(e) => {
            tracing::warn!(%address, error = %e, "no mirror server: cannot listen (cluster.mirror_port)");
            None
        }
    }
}

/// Writes a mirrored write here if PostgreSQL names this node the camera's standby; `Ok` once it
/// is durable, or why not.
pub async fn receive(
    ctx: Arc<NodeContext>,
    state: Arc<StandbyState>,
    write: MirroredWrite,
) -> Result<(), String> {
    let file = relative_file(&write.file)?;
    let camera = write.camera_id;
    let standby = state.standbys.lock().await.get(&ctx, camera).await;
    if state.check && standby.as_deref() != Some(ctx.node_id()) {
        return Err(format!(
            "not the standby of camera {camera}: {}",
            standby.as_deref().unwrap_or("none")
        ));
    }
    let path = ctx.mirror_dir(write.tenant_id, camera).join(file);
    let offset = write.offset;
    let bytes = write.bytes;
    tokio::task::spawn_blocking(move || write_at(&path, offset, &bytes))
        .await
        .map_err(|e| format!("mirror write task: {e}"))??;
    metrics::MIRROR_RECEIVED.inc();
    Ok(())
}

/// Writes `bytes` at `offset` of `path` (created with its folders) and makes them durable.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::FileExt;
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(failed)?;
    file.write_all_at(bytes, offset).map_err(failed)?;
    file.sync_data().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_segment_file_inside_the_camera_folder_is_written() {
        assert!(relative_file("2026-12-03/0000000005.mp4").is_ok());
        for bad in [
            "../x.mp4",
            "/etc/passwd",
            "a/b/c.mp4",
            "",
            "2026-12-03/../../x",
        ] {
            assert!(relative_file(bad).is_err(), "{bad}");
        }
    }
}
