//! `UploaderActor`: moves this node's segments to the object store once they ended
//! `storage.tier_after_seconds` ago, then drops their local copies once they ended
//! `storage.local_hours` ago. A round runs every `storage.upload_interval_seconds`; a segment whose
//! upload fails waits for the next round, so an unreachable store delays uploads but loses nothing,
//! and the key of each segment is fixed, so nothing is uploaded twice under two names.

use crate::context::NodeContext;
use crate::media::layout::remove_path;
use crate::metrics;
use crate::recording::object_tier::ObjectTier;
use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use futures_util::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vms_store::SegmentFile;

/// Name of the node's uploader (in logs and its supervisor's events).
pub const UPLOADER_ACTOR: &str = "uploader";
/// Segments looked at per database round trip.
const BATCH: i64 = 64;
/// Most segments one round uploads (the next round goes on).
const ROUND_LIMIT: i64 = 2_000;

/// Whether a file must match its row's size to be uploaded (always, but for the mutation test that
/// shows the check is what keeps a file still being written out of the object store).
static SIZE_CHECK: AtomicBool = AtomicBool::new(true);

/// Test-only: switches the size check off (`false`) or on.
pub fn set_size_check(on: bool) {
    SIZE_CHECK.store(on, Ordering::SeqCst);
}

/// Messages of [`UploaderActor`].
pub enum UploaderMsg {
    /// Upload what is due and drop what is old (also sent on a schedule).
    Round,
}

impl ractor::Message for UploaderMsg {}

/// Uploads segments to the object store; see the module docs.
pub struct UploaderActor;

/// Arguments of [`UploaderActor`].
pub struct UploaderArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The object store.
    pub tier: Arc<ObjectTier>,
}

/// What one segment's upload came to.
enum Outcome {
    Uploaded,
    /// Not yet: its file does not match its row (still being written).
    Later,
    /// The store or the index failed it (why): the next round tries again.
    Failed(String),
    /// Its file is gone.
    Missing,
}

async fn upload_one(ctx: &NodeContext, tier: &ObjectTier, file: &SegmentFile) -> Outcome {
    let id = file.segment.id;
    let body = match tokio::fs::read(&file.path).await {
        Ok(body) => Bytes::from(body),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::Missing,
        Err(e) => {
            tracing::warn!(segment = id, path = %file.path.display(), error = %e, "cannot read segment for upload");
            return Outcome::Later;
        }
    };
    if SIZE_CHECK.load(Ordering::SeqCst)
        && i64::try_from(body.len()).ok() != Some(file.segment.bytes)
    {
        tracing::debug!(
            segment = id,
            file_bytes = body.len(),
            indexed = file.segment.bytes,
            "segment file and row differ; upload waits"
        );
        return Outcome::Later;
    }
    let key = ObjectTier::key_for(file);
    let len = body.len() as u64;
    if let Err(e) = tier.put(&key, body).await {
        metrics::TIER_UPLOAD_FAILED.inc();
        return Outcome::Failed(e.to_string());
    }
    match ctx.store.mark_uploaded(id, &key).await {
        Ok(true) => {
            metrics::TIER_UPLOADED.inc();
            metrics::TIER_UPLOADED_BYTES.inc_by(len);
            metrics::TIER_UPLOAD_LAG_SECONDS
                .observe((Utc::now() - file.segment.end).as_seconds_f64().max(0.0));
            Outcome::Uploaded
        }
        // Retention deleted the row while it uploaded: the object must go too.
        Ok(false) => {
            if let Err(e) = tier.delete(&key).await {
                tracing::warn!(key, error = %e, "cannot delete the object of a deleted segment");
            }
            Outcome::Uploaded
        }
        Err(e) => {
            metrics::TIER_UPLOAD_FAILED.inc();
            Outcome::Failed(format!("uploaded but not indexed: {e}"))
        }
    }
}

/// Uploads the segments due (up to [`ROUND_LIMIT`], oldest first), `concurrency` at a time; how
/// many were uploaded.
async fn upload_due(ctx: &NodeContext, tier: &ObjectTier) -> Result<usize, ActorProcessingErr> {
    let storage = &ctx.config.storage;
    let due = Utc::now() - TimeDelta::seconds(i64::from(storage.tier_after_seconds));
    let concurrency = usize::try_from(storage.upload_concurrency).unwrap_or(1);
    let todo = ctx
        .store
        .segments_to_upload(ctx.node_id(), due, ROUND_LIMIT)
        .await?;
    let due = todo.len();
    metrics::TIER_PENDING.set(i64::try_from(due).unwrap_or(i64::MAX));
    let uploads = todo
        .into_iter()
        .map(|f| async move { (f.segment.id, upload_one(ctx, tier, &f).await) });
    let outcomes: Vec<(i64, Outcome)> = futures_util::stream::iter(uploads)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let (mut uploaded, mut failed, mut why) = (0, 0, None);
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Uploaded => uploaded += 1,
            Outcome::Later => {}
            Outcome::Failed(e) => {
                failed += 1;
                why.get_or_insert(e);
            }
            Outcome::Missing => {
                tracing::error!(
                    segment = id,
                    "segment file missing from this node's disk; its row keeps no copy"
                );
                ctx.store.mark_file_missing(id).await?;
            }
        }
    }
    if let Some(error) = why {
        // One line a round, however many failed: an unreachable store fails them all alike.
        tracing::warn!(
            failed,
            uploaded,
            store = tier.describe(),
            error,
            "uploads to the object store failed; retried next round"
        );
    }
    metrics::TIER_PENDING.set(i64::try_from(due - uploaded).unwrap_or(i64::MAX));
    Ok(uploaded)
}

/// Drops local copies of uploaded segments that ended before `before` (at most `limit`); how many.
pub(crate) async fn drop_local_copies(
    ctx: &NodeContext,
    before: chrono::DateTime<Utc>,
    limit: i64,
) -> Result<u64, ActorProcessingErr> {
    let files = ctx
        .store
        .uploaded_local_copies(ctx.node_id(), before, limit)
        .await?;
    if files.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = files.iter().map(|f| f.segment.id).collect();
    // The row first: the API stops serving the local file before it goes.
    let dropped = ctx.store.mark_local_dropped(&ids).await?;
    tokio::task::spawn_blocking(move || {
        for f in files {
            remove_path(&f.path);
        }
    })
    .await?;
    metrics::TIER_LOCAL_DROPPED.inc_by(dropped);
    Ok(dropped)
}

/// Local copies of uploaded segments that ended before this may go (`storage.local_hours` ago).
pub(crate) fn local_cutoff(ctx: &NodeContext) -> chrono::DateTime<Utc> {
    // At most 100 years (validated): the milliseconds fit.
    let keep_ms = (ctx.config.storage.local_hours * 3_600_000.0) as i64;
    Utc::now() - TimeDelta::milliseconds(keep_ms)
}

async fn round(ctx: &NodeContext, tier: &ObjectTier) -> Result<(), ActorProcessingErr> {
    let uploaded = upload_due(ctx, tier).await?;
    let old = local_cutoff(ctx);
    let mut dropped = 0;
    loop {
        let n = drop_local_copies(ctx, old, BATCH).await?;
        dropped += n;
        if n < u64::try_from(BATCH).unwrap_or(u64::MAX) {
            break;
        }
    }
    if uploaded > 0 || dropped > 0 {
        tracing::info!(
            uploaded,
            dropped,
            store = tier.describe(),
            "object tier round"
        );
    }
    Ok(())
}

impl Actor for UploaderActor {
    type Msg = UploaderMsg;
    type State = UploaderArgs;
    type Arguments = UploaderArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let every = Duration::from_secs(u64::from(args.ctx.config.storage.upload_interval_seconds));
        myself.send_interval(every, || UploaderMsg::Round);
        myself.send_message(UploaderMsg::Round)?;
        tracing::info!(store = args.tier.describe(), "object tier on");
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        UploaderMsg::Round: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Err(e) = round(&state.ctx, &state.tier).await {
            tracing::warn!(error = %e, "object tier round failed; will retry");
        }
        Ok(())
    }
}
