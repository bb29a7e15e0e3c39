//! `SegmenterActor`: takes finished segment files from its camera, makes them durable (fsync file and
//! folder) before indexing them in PostgreSQL, then announces them on NATS (`SegmentReady`) and queues a
//! `VideoJob` for analytics. While the database is away, segments wait in order and are retried, so
//! nothing recorded is lost.

use crate::clock::Clock;
use crate::context::NodeContext;
use crate::media::fragmenter::ClosedFragments;
use crate::metrics;
use crate::ownership::Ownership;
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vms_messages::{
    CameraId, JobPriority, Segment, SegmentReady, TenantId, VideoJob, WIRE_VERSION, subjects,
};
use vms_store::{NewSegment, StoreError};

/// How long to wait before retrying the database.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Messages of [`SegmenterActor`].
pub enum SegmenterMsg {
    /// A segment file is complete.
    Closed(ClosedFragments),
    /// Retry indexing what is pending.
    Retry,
    /// Try to index everything pending now; replies with how many are still pending.
    Flush(RpcReplyPort<usize>),
}

impl ractor::Message for SegmenterMsg {}

/// Arguments of [`SegmenterActor`].
pub struct SegmenterArgs {
    /// Camera whose segments these are.
    pub camera_id: CameraId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The node's grants (told when a camera's first segment here is indexed).
    pub ownership: Arc<Ownership>,
    /// Ownership epoch the camera's actor started under: every segment it records is written with
    /// it (none without placement).
    pub epoch: Option<i64>,
    /// Where the indexing lag is measured.
    pub clock: Arc<dyn Clock>,
}

/// State of [`SegmenterActor`].
pub struct SegmenterState {
    args: SegmenterArgs,
    pending: VecDeque<NewSegment>,
    retry_scheduled: bool,
    label: String,
}

/// Indexes a camera's segments; see the module docs.
pub struct SegmenterActor;

/// fsync a file and the folder holding it, so the file outlives a crash before its index row exists.
fn sync_file_and_dir(path: &Path) -> std::io::Result<u64> {
    let file = std::fs::File::open(path)?;
    file.sync_all()?;
    let len = file.metadata()?.len();
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(len)
}

impl Actor for SegmenterActor {
    type Msg = SegmenterMsg;
    type State = SegmenterState;
    type Arguments = SegmenterArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let label = args.camera_id.to_string();
        Ok(SegmenterState {
            args,
            pending: VecDeque::new(),
            retry_scheduled: false,
            label,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SegmenterMsg::Closed(seg) => {
                let path = seg.path.clone();
                let synced = tokio::task::spawn_blocking(move || sync_file_and_dir(&path)).await;
                let bytes = match synced {
                    Ok(Ok(len)) => i64::try_from(len).unwrap_or(i64::MAX),
                    Ok(Err(e)) => {
                        tracing::warn!(camera_id = %state.args.camera_id, path = %seg.path.display(), error = %e, "segment file unreadable; not indexed");
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                state.pending.push_back(NewSegment {
                    camera_id: state.args.camera_id,
                    tenant_id: state.args.tenant_id,
                    seq: seg.seq,
                    start: seg.start,
                    end: seg.end,
                    bytes,
                    path: seg.path,
                    media: seg.media,
                });
                drain(&myself, state).await;
            }
            SegmenterMsg::Retry => {
                state.retry_scheduled = false;
                drain(&myself, state).await;
            }
            SegmenterMsg::Flush(reply) => {
                drain(&myself, state).await;
                let _ = reply.send(state.pending.len());
            }
        }
        Ok(())
    }
}

/// Indexes pending segments in order until done or the database is away.
async fn drain(myself: &ActorRef<SegmenterMsg>, state: &mut SegmenterState) {
    let ctx = Arc::clone(&state.args.ctx);
    while let Some(seg) = state.pending.front() {
        match ctx
            .store
            .insert_segment(seg, ctx.node_id(), state.args.epoch)
            .await
        {
            Ok((segment, inserted)) => {
                state.pending.pop_front();
                if inserted {
                    state.args.ownership.segment_indexed(segment.camera_id);
                    announce(&ctx, &segment, &state.label, state.args.clock.now()).await;
                }
            }
            Err(e @ StoreError::Fenced { .. }) => {
                // This node was frozen or cut off and the camera records elsewhere now: the file stays
                // on disk, unindexed (the new owner's recording covers the time).
                metrics::FENCED_WRITES.with_label_values(&["segment"]).inc();
                if let Some(seg) = state.pending.pop_front() {
                    tracing::warn!(camera_id = %seg.camera_id, seq = seg.seq, path = %seg.path.display(), error = %e, "segment refused (stale owner); kept on disk, not indexed");
                }
            }
            Err(StoreError::NotFound(_)) => {
                // The camera was deleted meanwhile; its files go with it.
                if let Some(seg) = state.pending.pop_front() {
                    let _ = std::fs::remove_file(&seg.path);
                }
            }
            Err(e) if e.is_unavailable() => {
                if !state.retry_scheduled {
                    tracing::warn!(camera_id = %state.args.camera_id, pending = state.pending.len(), error = %e, "database unavailable; segment indexing will be retried");
                    state.retry_scheduled = true;
                    myself.send_after(RETRY_AFTER, || SegmenterMsg::Retry);
                }
                break;
            }
            Err(e) => {
                let seg = state.pending.pop_front();
                tracing::error!(camera_id = %state.args.camera_id, seq = seg.map(|s| s.seq), error = ?e, "segment refused by the database; file kept on disk, not indexed");
            }
        }
    }
    metrics::SEGMENTS_PENDING
        .with_label_values(&[&state.label])
        .set(i64::try_from(state.pending.len()).unwrap_or(i64::MAX));
}

/// Seconds from a segment's `end` to its indexing at `now`.
fn indexing_lag(end: DateTime<Utc>, now: DateTime<Utc>) -> f64 {
    (now - end).num_milliseconds() as f64 / 1000.0
}

/// Metrics, log line, `SegmentReady` and `VideoJob` for a segment indexed at `now`.
async fn announce(ctx: &NodeContext, segment: &Segment, label: &str, now: DateTime<Utc>) {
    metrics::CAMERA_SEGMENTS.with_label_values(&[label]).inc();
    metrics::CAMERA_SEGMENT_LAG
        .with_label_values(&[label])
        .set(indexing_lag(segment.end, now));
    tracing::info!(camera_id = %segment.camera_id, seq = segment.seq, duration_ms = segment.duration_ms, bytes = segment.bytes, "segment recorded");
    let nats = &ctx.nats;
    let ready = SegmentReady {
        v: WIRE_VERSION,
        segment: segment.clone(),
    };
    let overlap = chrono::Duration::seconds(i64::from(ctx.config.recording.overlap_seconds));
    let job = VideoJob {
        v: WIRE_VERSION,
        segment_id: segment.id,
        camera_id: segment.camera_id,
        tenant_id: segment.tenant_id,
        from: segment.start - overlap,
        to: segment.end,
        priority: JobPriority::High,
    };
    for (subject, payload) in [
        (
            subjects::segment_ready(segment.tenant_id, segment.camera_id),
            serde_json::to_vec(&ready),
        ),
        (
            subjects::video_job(segment.tenant_id, segment.camera_id),
            serde_json::to_vec(&job),
        ),
    ] {
        match payload {
            Ok(bytes) => {
                if let Err(e) = nats.publish(subject, bytes.into()).await {
                    tracing::warn!(camera_id = %segment.camera_id, error = %e, "nats publish failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode nats payload"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;

    #[test]
    fn the_indexing_lag_is_measured_on_the_segmenters_clock_in_simulated_time() {
        let clock = SimulatedClock::default();
        let end = clock.now();
        assert_eq!(indexing_lag(end, clock.now()), 0.0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(indexing_lag(end, clock.now()), 1.5);
        clock.advance(Duration::from_secs(60));
        assert_eq!(indexing_lag(end, clock.now()), 61.5);
    }
}
