//! Footage mirrored to a camera's standby (issue 15, first half). Each write a camera's recorder
//! makes durable (a fragment, behind the init section for a segment's first) goes, as written, to
//! the standby node PostgreSQL names for the camera, over the cluster link
//! ([`NodeRpcMsg::MirrorFragment`]). The standby checks with PostgreSQL that it is the camera's
//! standby (a link message is a hint, like a NATS one), writes the bytes at the same offset of the
//! same file under `<data>/mirror/<tenant>/<camera>/`, makes them durable and acknowledges. One
//! task per camera sends its writes in order, one at a time; a write that finds no standby, no
//! link or a refusal is counted and left out, and the same task's resync (`cluster::resync`)
//! sends it again from the file once the segment is closed, or the whole segment to a new standby,
//! and records in the index what the standby acknowledged.

use crate::cluster::links::{CALL_TIMEOUT, NodeRpcMsg, link_to};
use crate::cluster::resync::{RESYNC_EVERY, Resync};
use crate::context::NodeContext;
use crate::media::mirror::{MIRROR_QUEUE, MirrorChunk, MirrorHealth, MirrorSink};
use crate::metrics;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vms_messages::{CameraId, TenantId};

/// How long a camera's standby, as PostgreSQL names it, is trusted before it is read again (by the
/// owner sending and by the standby receiving).
const STANDBY_TTL: Duration = Duration::from_secs(5);
/// Largest write sent over a link: ractor_cluster tears a link down over 16 MiB.
const MAX_CHUNK: usize = 12 << 20;
/// What a standby answers when the write is durable.
const ACK: &str = "ok";

/// What a mirrored write is, ahead of its bytes.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct MirrorHeader {
    tenant_id: TenantId,
    camera_id: CameraId,
    /// The segment file, relative to the camera's folder.
    file: String,
    offset: u64,
}

/// The link message of a write: the bytes, the header (JSON), the header's length (4 bytes,
/// big-endian). The header goes behind the bytes so that the recorder's buffer becomes the message
/// without a copy.
fn encode(header: &MirrorHeader, mut bytes: Vec<u8>) -> Vec<u8> {
    let head = serde_json::to_vec(header).unwrap_or_default();
    bytes.reserve_exact(head.len() + 4);
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&u32::try_from(head.len()).unwrap_or(0).to_be_bytes());
    bytes
}

/// The header of a link message and the length of its bytes (its start); why not when it is
/// malformed.
fn decode(payload: &[u8]) -> Result<(MirrorHeader, usize), String> {
    let tail = payload.len().checked_sub(4).ok_or("short message")?;
    let len = u32::from_be_bytes([
        payload[tail],
        payload[tail + 1],
        payload[tail + 2],
        payload[tail + 3],
    ]) as usize;
    let start = tail.checked_sub(len).ok_or("short header")?;
    let header =
        serde_json::from_slice(&payload[start..tail]).map_err(|e| format!("bad header: {e}"))?;
    Ok((header, start))
}

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

/// Sends one write to `standby` and waits for its acknowledgement; the reason label when it was
/// not acknowledged.
pub(crate) async fn send(
    standby: &str,
    tenant: TenantId,
    camera: CameraId,
    chunk: MirrorChunk,
) -> Result<(), &'static str> {
    if chunk.bytes.len() > MAX_CHUNK {
        return Err("too_large");
    }
    let actor = link_to(standby).ok_or("no_link")?;
    let header = MirrorHeader {
        tenant_id: tenant,
        camera_id: camera,
        file: chunk.file.to_string_lossy().into_owned(),
        offset: chunk.offset,
    };
    let answer = ractor::call_t!(
        actor,
        NodeRpcMsg::MirrorFragment,
        u64::try_from(CALL_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        encode(&header, chunk.bytes)
    )
    .map_err(|_| "no_answer")?;
    if answer == ACK {
        Ok(())
    } else {
        tracing::debug!(standby, answer, "the standby refused a mirrored fragment");
        Err("refused")
    }
}

/// What a failure's reason label means, for the camera's status.
fn explain(reason: &str, standby: &str) -> String {
    match reason {
        "no_link" => format!("no link to standby {standby}"),
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
    tenant: TenantId,
    camera: CameraId,
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
                    && let Err(e) = resync.round(&ctx, (tenant, camera), standby).await
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
        match send(&standby, tenant, camera, chunk).await {
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

/// Mirrors cameras over the cluster's links.
pub struct LinkMirror {
    ctx: Arc<NodeContext>,
}

impl LinkMirror {
    /// Mirrors through this node's links.
    pub fn new(ctx: Arc<NodeContext>) -> Self {
        Self { ctx }
    }
}

impl MirrorSink for LinkMirror {
    fn open(
        &self,
        tenant: TenantId,
        camera: CameraId,
        health: Arc<MirrorHealth>,
    ) -> mpsc::Sender<MirrorChunk> {
        let (tx, rx) = mpsc::channel(MIRROR_QUEUE);
        tokio::spawn(mirror_camera(
            Arc::clone(&self.ctx),
            tenant,
            camera,
            rx,
            health,
        ));
        tx
    }
}

/// The link message of a write of `bytes` at `offset` of `camera`'s segment `file` (relative to
/// its folder), as an owner sends it.
pub fn mirror_payload(
    tenant: TenantId,
    camera: CameraId,
    file: &str,
    offset: u64,
    bytes: &[u8],
) -> Vec<u8> {
    let header = MirrorHeader {
        tenant_id: tenant,
        camera_id: camera,
        file: file.into(),
        offset,
    };
    encode(&header, bytes.to_vec())
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

/// Writes a mirrored write here if PostgreSQL names this node the camera's standby; [`ACK`] once it
/// is durable, or why not.
pub async fn receive(ctx: Arc<NodeContext>, state: Arc<StandbyState>, payload: Vec<u8>) -> String {
    match write_mirrored(&ctx, &state, payload).await {
        Ok(()) => {
            metrics::MIRROR_RECEIVED.inc();
            ACK.into()
        }
        Err(reason) => reason,
    }
}

async fn write_mirrored(
    ctx: &NodeContext,
    state: &StandbyState,
    mut payload: Vec<u8>,
) -> Result<(), String> {
    let (header, len) = decode(&payload)?;
    let file = relative_file(&header.file)?;
    let standby = state.standbys.lock().await.get(ctx, header.camera_id).await;
    if state.check && standby.as_deref() != Some(ctx.node_id()) {
        return Err(format!(
            "not the standby of camera {}: {}",
            header.camera_id,
            standby.as_deref().unwrap_or("none")
        ));
    }
    let path = ctx
        .mirror_dir(header.tenant_id, header.camera_id)
        .join(file);
    // The bytes are the payload's start: written from it, without a copy.
    payload.truncate(len);
    let offset = header.offset;
    tokio::task::spawn_blocking(move || write_at(&path, offset, &payload))
        .await
        .map_err(|e| format!("mirror write task: {e}"))?
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
    fn a_write_travels_whole_and_a_malformed_one_is_refused() {
        let header = MirrorHeader {
            tenant_id: TenantId::new(),
            camera_id: CameraId::new(),
            file: "2026-12-03/0000000005.mp4".into(),
            offset: 1234,
        };
        let payload = encode(&header, b"moof".to_vec());
        let (decoded, len) = decode(&payload).expect("decodes");
        assert_eq!(decoded, header);
        assert_eq!(&payload[..len], b"moof");
        assert!(decode(&payload[..3]).is_err());
        assert!(decode(&[b'{', 0, 0, 0, 9]).is_err());
        assert!(decode(&[b'{', 0, 0, 0, 1]).is_err());
    }

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
