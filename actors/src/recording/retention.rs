//! `RetentionActor`: deletes this node's segments past their retention, the oldest ones of tenants
//! over their storage quota, and the oldest ones while the data disk is above its high watermark
//! (down to the low watermark); never footage under an evidence hold. Index rows go first, then files,
//! so the API never serves a row whose file is gone. It also purges the events, tickets and audit rows
//! the tenants' licences no longer keep (`Store::purge_expired_records`; the audit log is kept
//! longest). It also deletes the expired rows of nodes an admin removed, and sweeps this node's
//! orphaned segment files (`crate::recording::orphans`): right after the node starts, then every interval.

use crate::clock::Clock;
use crate::context::NodeContext;
use crate::media::layout::remove_path;
use crate::metrics;
use crate::recording::object_tier::ObjectTier;
use crate::recording::orphans;
use crate::recording::uploader::{drop_local_copies, local_cutoff};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use vms_messages::DiskUse;
use vms_store::SegmentFile;

/// Name of the node's retention actor (in logs and its supervisor's events).
pub const RETENTION_ACTOR: &str = "retention";
/// Segments handled per database round trip.
const BATCH: i64 = 200;

/// Messages of [`RetentionActor`].
pub enum RetentionMsg {
    /// Run a sweep now (also sent on a schedule and when a camera hits a full disk).
    Sweep,
}

impl ractor::Message for RetentionMsg {}

/// Deletes old segments; see the module docs.
pub struct RetentionActor;

/// Size and free space (for the node, not counting root-reserved blocks) of the filesystem
/// holding `path`.
pub fn disk_use(path: &Path) -> std::io::Result<DiskUse> {
    let st = rustix::fs::statvfs(path).map_err(std::io::Error::from)?;
    Ok(DiskUse {
        total_bytes: st.f_blocks.saturating_mul(st.f_frsize),
        free_bytes: st.f_bavail.saturating_mul(st.f_frsize),
    })
}

/// Percentage of the filesystem holding `path` that is in use.
pub fn disk_used_percent(path: &Path) -> std::io::Result<f64> {
    let disk = disk_use(path)?;
    if disk.total_bytes == 0 {
        return Ok(0.0);
    }
    let used = disk.total_bytes.saturating_sub(disk.free_bytes);
    Ok(100.0 * used as f64 / disk.total_bytes as f64)
}

/// Deletes segments: their rows, then their local files and their objects in the object store.
async fn delete(
    ctx: &NodeContext,
    tier: Option<&ObjectTier>,
    segments: Vec<SegmentFile>,
) -> Result<u64, ActorProcessingErr> {
    if segments.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = segments.iter().map(|s| s.segment.id).collect();
    let deleted = ctx.store.delete_segments(&ids).await?;
    let keys: Vec<String> = segments
        .iter()
        .filter_map(|s| s.object_key.clone())
        .collect();
    tokio::task::spawn_blocking(move || {
        for s in segments.iter().filter(|s| s.on_disk) {
            remove_path(&s.path);
        }
    })
    .await?;
    delete_objects(tier, &keys).await;
    metrics::RETENTION_DELETED.inc_by(deleted);
    Ok(deleted)
}

/// Deletes objects whose rows are gone. One that cannot be deleted is logged: the row is gone, so
/// nothing serves it, and the operator's bucket listing shows it.
async fn delete_objects(tier: Option<&ObjectTier>, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    let Some(tier) = tier else {
        tracing::warn!(
            objects = keys.len(),
            "expired segments are in an object store this node has no settings for; delete them there"
        );
        return;
    };
    for key in keys {
        if let Err(e) = tier.delete(key).await {
            tracing::warn!(key, error = %e, "cannot delete an expired segment's object");
        }
    }
}

/// When this process's first retention actor started (a restarted actor keeps it).
static NODE_STARTED: std::sync::OnceLock<SystemTime> = std::sync::OnceLock::new();

/// Arguments of [`RetentionActor`].
pub struct RetentionArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The cameras this node records (the orphan sweep looks harder at the others').
    pub ownership: Arc<crate::ownership::Ownership>,
    /// Cameras tell it when the disk is full: each time, a sweep runs at once.
    pub disk_full: Arc<Notify>,
    /// Where the orphan sweep reads time.
    pub clock: Arc<dyn Clock>,
    /// The object store, when one is set: expired segments' objects go too, and under disk
    /// pressure uploaded segments lose their local copies before anything is deleted.
    pub tier: Option<Arc<ObjectTier>>,
}

/// State of [`RetentionActor`].
pub struct RetentionState {
    ctx: Arc<NodeContext>,
    /// Finds the segment files this node left without a row.
    orphans: orphans::OrphanSweeper,
    /// Turns the cameras' disk-full notices into sweeps.
    on_disk_full: tokio::task::JoinHandle<()>,
    tier: Option<Arc<ObjectTier>>,
}

async fn sweep(state: &mut RetentionState) -> Result<u64, ActorProcessingErr> {
    let ctx = &state.ctx;
    let tier = state.tier.as_deref();
    let mut total = 0;
    loop {
        let expired = ctx.store.expired_segments(ctx.node_id(), BATCH).await?;
        let n = expired.len();
        total += delete(ctx, tier, expired).await?;
        if n < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            break;
        }
    }
    loop {
        let keys = ctx
            .store
            .delete_expired_segments_of_removed_nodes(BATCH)
            .await?;
        let n = keys.len() as u64;
        delete_objects(tier, &keys.into_iter().flatten().collect::<Vec<_>>()).await;
        if n > 0 {
            tracing::info!(deleted = n, "expired segment rows of removed nodes deleted");
        }
        if n < u64::try_from(BATCH).unwrap_or(u64::MAX) {
            break;
        }
    }
    loop {
        let over = ctx.store.over_quota_segments(ctx.node_id(), BATCH).await?;
        if over.is_empty() {
            break;
        }
        let deleted = delete(ctx, tier, over).await?;
        if deleted == 0 {
            break;
        }
        metrics::RETENTION_QUOTA_DELETED.inc_by(deleted);
        tracing::info!(
            deleted,
            "segments of tenants over their storage quota deleted"
        );
        total += deleted;
    }
    state.orphans.sweep(ctx).await?;
    crate::recording::mirrored::index_mirrored(ctx, SystemTime::now()).await?;
    // Standby copies go with the uploader's local copies' age, a whole uploaded day at a time;
    // here, beside the sweep that walks the same folders, not in every upload round.
    if tier.is_some() {
        crate::recording::mirrored::drop_uploaded_days(ctx, local_cutoff(ctx)).await?;
    }
    let dir = ctx.config.segments_dir();
    let t = &ctx.config.retention;
    let used = |d: &Path| disk_used_percent(d).unwrap_or(0.0);
    if used(&dir) > f64::from(t.disk_high_watermark_percent) {
        tracing::warn!(
            used_percent = used(&dir),
            high = t.disk_high_watermark_percent,
            "disk above high watermark; deleting oldest segments"
        );
        // Copies the object store holds go first: no footage is lost for them. Standby copies of
        // past days the object store holds whole, then local copies of uploaded segments.
        if tier.is_some() {
            crate::recording::mirrored::drop_uploaded_days(ctx, chrono::Utc::now()).await?;
        }
        while used(&dir) > f64::from(t.disk_low_watermark_percent) {
            if drop_local_copies(ctx, chrono::Utc::now(), 20).await? == 0 {
                break;
            }
        }
        while used(&dir) > f64::from(t.disk_low_watermark_percent) {
            let oldest = ctx.store.oldest_segments(ctx.node_id(), 20).await?;
            if oldest.is_empty() {
                tracing::warn!("disk above watermark and no segments left to delete");
                break;
            }
            total += delete(ctx, tier, oldest).await?;
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "retention sweep");
    }
    purge_records(ctx).await?;
    Ok(total)
}

/// Deletes the events, tickets and audit rows the tenants' licences no longer keep, in batches.
async fn purge_records(ctx: &NodeContext) -> Result<(), ActorProcessingErr> {
    let audit_days = ctx.config.retention.audit_days;
    loop {
        let purged = ctx.store.purge_expired_records(audit_days, BATCH).await?;
        if purged != vms_store::Purged::default() {
            tracing::info!(
                events = purged.events,
                tickets = purged.tickets,
                audit = purged.audit,
                "expired records purged"
            );
        }
        let full = u64::try_from(BATCH).unwrap_or(u64::MAX);
        if purged.events < full && purged.tickets < full && purged.audit < full {
            return Ok(());
        }
    }
}

impl Actor for RetentionActor {
    type Msg = RetentionMsg;
    type State = RetentionState;
    type Arguments = RetentionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        RetentionArgs {
            ctx,
            ownership,
            disk_full,
            clock,
            tier,
        }: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let every = Duration::from_secs(u64::from(ctx.config.retention.interval_seconds));
        myself.send_interval(every, || RetentionMsg::Sweep);
        // Footage a crash left behind is indexed as soon as the node is back.
        myself.send_message(RetentionMsg::Sweep)?;
        let on_disk_full = tokio::spawn(async move {
            loop {
                disk_full.notified().await;
                if myself.cast(RetentionMsg::Sweep).is_err() {
                    return;
                }
            }
        });
        Ok(RetentionState {
            ctx,
            orphans: orphans::OrphanSweeper::new(
                *NODE_STARTED.get_or_init(|| clock.now().into()),
                ownership,
                clock,
            ),
            on_disk_full,
            tier,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.on_disk_full.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        RetentionMsg::Sweep: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Err(e) = sweep(state).await {
            tracing::warn!(error = %e, "retention sweep failed; will retry");
        }
        Ok(())
    }
}
