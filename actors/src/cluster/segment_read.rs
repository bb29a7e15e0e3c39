//! Segments read over the cluster link from the node that holds the only copy on its disk (not yet
//! in the object store, no standby copy where the request came in), so any node serves any
//! segment ([`NodeRpcMsg::ReadSegment`]). The asking node names the segment by id and a byte range;
//! the holder reads the path from its own row in PostgreSQL (a link message is a hint, never a
//! path), and answers only for a segment it recorded and keeps on its disk, inside its segment
//! folder, at most [`MAX_READ`] bytes at a time (the links carry at most 16 MiB). Export files
//! are read the same way from the node that wrote them ([`LinkObject::Export`]), inside its
//! exports folder.

use crate::cluster::links::{CALL_TIMEOUT, NodeRpcMsg, link_to};
use crate::context::NodeContext;
use crate::media::layout::{is_within, read_range};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use uuid::Uuid;
use vms_messages::{CameraId, ExportState, TenantScope};

/// Most bytes one read asks for.
pub const MAX_READ: u64 = 4 << 20;

/// A read: segment `id` (or an export file), bytes `start..end`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct ReadRequest {
    id: i64,
    start: u64,
    end: u64,
    /// An export file to read instead of a segment.
    #[serde(default)]
    export: Option<(Uuid, CameraId)>,
}

/// What a read over a link reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkObject {
    /// A segment, by id.
    Segment(i64),
    /// An export's file of one camera.
    Export(Uuid, CameraId),
}

/// The answer to a read: `0` and the bytes, or `1` and why not.
fn answer_of(result: Result<Vec<u8>, String>) -> Vec<u8> {
    match result {
        Ok(bytes) => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(0);
            out.extend_from_slice(&bytes);
            out
        }
        Err(why) => {
            let mut out = vec![1];
            out.extend_from_slice(why.as_bytes());
            out
        }
    }
}

/// Answers a read sent over a link to this node.
pub async fn answer(ctx: &NodeContext, payload: &[u8]) -> Vec<u8> {
    answer_of(read_local(ctx, payload).await)
}

async fn read_local(ctx: &NodeContext, payload: &[u8]) -> Result<Vec<u8>, String> {
    let req: ReadRequest =
        serde_json::from_slice(payload).map_err(|e| format!("bad read request: {e}"))?;
    if req.end <= req.start || req.end - req.start > MAX_READ {
        return Err(format!("bad range {}..{}", req.start, req.end));
    }
    if let Some((export, camera)) = req.export {
        return read_export(ctx, export, camera, req.start..req.end).await;
    }
    let file = ctx
        .store
        .segment(TenantScope::All, req.id)
        .await
        .map_err(|e| format!("segment {}: {e}", req.id))?;
    if file.segment.node != ctx.node_id() || !file.on_disk {
        return Err(format!("segment {} is not on this node's disk", req.id));
    }
    if req.end > u64::try_from(file.segment.bytes).unwrap_or(0) {
        return Err(format!("range past the end of segment {}", req.id));
    }
    if !is_within(&file.path, &ctx.config.segments_dir()) {
        tracing::error!(path = %file.path.display(), "segment path outside the data folder refused");
        return Err(format!(
            "segment {} is not in this node's segment folder",
            req.id
        ));
    }
    read_range(file.path, req.start..req.end)
        .await
        .map_err(|e| format!("cannot read segment {}: {e}", req.id))
}

async fn read_export(
    ctx: &NodeContext,
    export: Uuid,
    camera: CameraId,
    range: Range<u64>,
) -> Result<Vec<u8>, String> {
    let row = ctx
        .store
        .export_file(TenantScope::All, export, camera)
        .await
        .map_err(|e| format!("export {export}: {e}"))?;
    if row.node != ctx.node_id() || row.state != ExportState::Done {
        return Err(format!("export {export} is not written on this node"));
    }
    let path = row
        .path
        .ok_or_else(|| format!("export {export} has no file"))?;
    if range.end > row.bytes.unwrap_or(0) {
        return Err(format!("range past the end of export {export}"));
    }
    if !is_within(&path, &ctx.config.data_dir.join("exports")) {
        tracing::error!(path = %path.display(), "export path outside the exports folder refused");
        return Err(format!(
            "export {export} is not in this node's exports folder"
        ));
    }
    read_range(path, range)
        .await
        .map_err(|e| format!("cannot read export {export}: {e}"))
}

/// Whether this node has a link to `node` now.
pub fn linked(node: &str) -> bool {
    link_to(node).is_some()
}

/// Bytes `range` (at most [`MAX_READ`]) of `object`, read from `node` over its link; why not.
pub async fn read_remote(
    node: &str,
    object: LinkObject,
    range: Range<u64>,
) -> Result<Vec<u8>, String> {
    let actor = link_to(node).ok_or_else(|| format!("no link to node {node}"))?;
    let (id, export) = match object {
        LinkObject::Segment(id) => (id, None),
        LinkObject::Export(export, camera) => (0, Some((export, camera))),
    };
    let request = serde_json::to_vec(&ReadRequest {
        id,
        start: range.start,
        end: range.end,
        export,
    })
    .map_err(|e| e.to_string())?;
    let answer = ractor::call_t!(
        actor,
        NodeRpcMsg::ReadSegment,
        u64::try_from(CALL_TIMEOUT.as_millis()).unwrap_or(u64::MAX),
        request
    )
    .map_err(|_| format!("node {node} did not answer in time"))?;
    match answer.split_first() {
        Some((0, bytes)) => Ok(bytes.to_vec()),
        Some((_, why)) => Err(String::from_utf8_lossy(why).into_owned()),
        None => Err(format!("node {node} answered nothing")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_says_whether_it_holds_bytes_or_why_not() {
        assert_eq!(answer_of(Ok(vec![7, 8])), vec![0, 7, 8]);
        assert_eq!(answer_of(Err("no".into())), vec![1, b'n', b'o']);
    }
}
