//! Detector time and frames per tenant on this node, tallied as detectors answer and added to
//! PostgreSQL (`tenant_usage`, by the hour) every [`REPORT_EVERY`], for billing
//! (`GET /tenants/{id}/usage`). What PostgreSQL cannot take yet is kept for the next report.

use crate::NodeContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use vms_messages::TenantId;

/// How often a node adds its tallies to PostgreSQL.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// One tenant's tally since the last report.
#[derive(Default)]
pub struct TenantTally {
    /// Detector time, nanoseconds (a model worker adds to it as it answers).
    pub busy_nanos: Arc<AtomicU64>,
    /// Frames every detector of the camera's rules answered.
    pub frames: AtomicU64,
}

static TALLIES: LazyLock<Mutex<HashMap<TenantId, Arc<TenantTally>>>> =
    LazyLock::new(Mutex::default);

/// The tally of `tenant` on this node.
pub fn tally(tenant: TenantId) -> Arc<TenantTally> {
    let mut all = TALLIES.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(all.entry(tenant).or_default())
}

/// Takes every tally with something in it, leaving zeros: (tenant, nanoseconds, frames).
fn take_all() -> Vec<(TenantId, u64, u64)> {
    let all = TALLIES.lock().unwrap_or_else(PoisonError::into_inner);
    all.iter()
        .map(|(t, tally)| {
            let nanos = tally.busy_nanos.swap(0, Ordering::Relaxed);
            let frames = tally.frames.swap(0, Ordering::Relaxed);
            (*t, nanos, frames)
        })
        .filter(|(_, nanos, frames)| *nanos > 0 || *frames > 0)
        .collect()
}

/// Gives back what could not be stored, for the next report.
fn put_back(tenant: TenantId, nanos: u64, frames: u64) {
    let t = tally(tenant);
    t.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
    t.frames.fetch_add(frames, Ordering::Relaxed);
}

/// Adds the tallies to PostgreSQL every [`REPORT_EVERY`] until the task is aborted.
pub fn spawn_usage_reporter(ctx: Arc<NodeContext>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            report(&ctx).await;
        }
    })
}

async fn report(ctx: &NodeContext) {
    for (tenant, nanos, frames) in take_all() {
        let seconds = nanos as f64 / 1e9;
        let stored = ctx
            .store
            .add_usage(
                tenant,
                ctx.node_id(),
                chrono::Utc::now(),
                seconds,
                i64::try_from(frames).unwrap_or(i64::MAX),
            )
            .await;
        match stored {
            Ok(()) => crate::metrics::INFERENCE_BUSY_SECONDS
                .with_label_values(&[&tenant.to_string()])
                .inc_by(seconds),
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, "cannot store usage yet; kept for the next report");
                put_back(tenant, nanos, frames);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_tally_starts_again_at_zero_and_what_is_given_back_is_kept() {
        let tenant = TenantId::new();
        let t = tally(tenant);
        t.busy_nanos.fetch_add(2_000_000_000, Ordering::Relaxed);
        t.frames.fetch_add(3, Ordering::Relaxed);
        let taken: Vec<_> = take_all()
            .into_iter()
            .filter(|(id, ..)| *id == tenant)
            .collect();
        assert_eq!(taken, vec![(tenant, 2_000_000_000, 3)]);
        assert!(
            take_all().iter().all(|(id, ..)| *id != tenant),
            "nothing left to take"
        );
        put_back(tenant, 5, 1);
        let again: Vec<_> = take_all()
            .into_iter()
            .filter(|(id, ..)| *id == tenant)
            .collect();
        assert_eq!(again, vec![(tenant, 5, 1)]);
    }
}
