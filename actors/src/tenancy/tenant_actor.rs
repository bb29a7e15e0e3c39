//! [`TenantActor`]: the one actor in the cluster that speaks for a tenant. It runs on the tenant's
//! home node and leads only while it holds the tenant's lease in PostgreSQL (`tenant:<id>` in
//! `cluster_leases`, [`LEASE_TTL`] long, one epoch higher on every change of holder). It takes the
//! lease itself, trying every [`ROUND`] while it does not lead; the node's keeper renews the leases
//! of all its actors in one statement a round and tells each whether its lease is still its own.
//! While it leads, every [`MEASURE_EVERY`] it:
//!
//! - reads the tenant's standing (licence, cameras, bytes kept) and, every [`MONTH_EVERY`], this
//!   month's camera-hours and detector time, and exports them as `vms_tenant_usage`, from this
//!   node only;
//! - every [`MONTH_EVERY`] too (and as soon as it leads), writes this hour's storage sample
//!   (`tenant_storage_hours`, the most bytes kept in the hour), fenced by its epoch: a holder that
//!   lost the lease writes nothing, and stops leading;
//! - enforces the storage quota across the cluster: over it, it tells every node (a
//!   `StorageOverQuota` hint, which each node checks against PostgreSQL), and each deletes the
//!   oldest unheld footage it holds over the quota at once instead of at its next sweep.
//!
//! A node that dies leaves the lease to expire (or to be taken once it has been silent for
//! `LEASE_TAKEOVER_SILENCE` and seen down); the tenant's new home takes it at a higher epoch. An
//! actor that stops gives its lease up at once.

use crate::cluster::changes;
use crate::cluster::local::LocalActors;
use crate::cluster::membership::{Membership, not_up};
use crate::cluster_auth::ClusterAuth;
use crate::context::NodeContext;
use crate::metrics::{TENANT_LEASES, TENANT_OVER_QUOTA, TENANT_USAGE};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vms_messages::{Change, TenantId};
use vms_store::{MonthUsage, TenantStanding, tenant_lease};

/// Time between tries to take the lease (and between the keeper's renewals).
pub const ROUND: Duration = Duration::from_secs(1);
/// How long a lease lasts unrenewed.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often a leading actor measures its tenant and enforces its quota.
pub const MEASURE_EVERY: Duration = Duration::from_secs(5);
/// How often a leading actor reads its tenant's month of usage (a scan of the month's segments)
/// and writes its storage sample (a write per tenant: once a minute, not at every measure).
pub const MONTH_EVERY: Duration = Duration::from_secs(60);

/// The registered name of `tenant`'s actor.
pub fn tenant_actor_name(tenant: TenantId) -> String {
    format!("tenant:{tenant}")
}

/// Messages of [`TenantActor`].
#[derive(Debug)]
pub enum TenantActorMsg {
    /// Take the lease if it does not lead; measure when due if it does.
    Round,
    /// The keeper's renewal of this node's leases, asked at `asked`: the lease's epoch when it was
    /// renewed, `None` when it is not this node's (any more).
    Renewal {
        /// The epoch renewed.
        epoch: Option<i64>,
        /// When the renewal was sent to PostgreSQL.
        asked: Instant,
    },
}

impl ractor::Message for TenantActorMsg {}

/// Arguments of [`TenantActor`].
pub struct TenantActorArgs {
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// This node's view of the cluster (who is gone, for taking a dead holder's lease).
    pub membership: Arc<Membership>,
    /// Signs the hints it sends the other nodes.
    pub auth: Arc<ClusterAuth>,
    /// This node's actors (its own retention hears the quota hint this way).
    pub actors: Arc<dyn LocalActors>,
    /// The tenant.
    pub tenant: TenantId,
}

/// State of [`TenantActor`].
pub struct TenantActorState {
    args: TenantActorArgs,
    lease: String,
    /// The epoch it leads at, and when its lease was last taken or renewed (no later than that).
    leading: Option<(i64, Instant)>,
    measured: Option<Instant>,
    /// This month's usage, and when it was read.
    month: Option<(MonthUsage, Instant)>,
}

/// Speaks for one tenant across the cluster; see the module docs.
pub struct TenantActor;

/// The `vms_tenant_usage` measures of a standing and month, with the lease's epoch.
fn measures(s: &TenantStanding, month: MonthUsage, epoch: i64) -> Vec<(&'static str, f64)> {
    let mut m = vec![
        ("cameras", f64::from(s.cameras)),
        ("max_cameras", f64::from(s.tenant.max_cameras)),
        ("bytes_stored", s.bytes_stored as f64),
        ("camera_hours_month", month.camera_hours),
        ("detector_seconds_month", month.detector_seconds),
        ("inference_share", f64::from(s.tenant.inference_share)),
        ("lease_epoch", epoch as f64),
        ("licence_expired", f64::from(u8::from(s.expired))),
    ];
    if let Some(q) = s.tenant.storage_quota_bytes {
        m.push(("storage_quota_bytes", q as f64));
    }
    m
}

/// Every measure `vms_tenant_usage` may carry.
const MEASURES: [&str; 9] = [
    "licence_expired",
    "cameras",
    "max_cameras",
    "bytes_stored",
    "storage_quota_bytes",
    "camera_hours_month",
    "detector_seconds_month",
    "inference_share",
    "lease_epoch",
];

impl TenantActorState {
    fn me(&self) -> &str {
        self.args.ctx.node_id()
    }

    /// Stops exporting the tenant's usage: another node leads now, or none.
    fn forget_usage(&self) {
        let tenant = self.args.tenant.to_string();
        for m in MEASURES {
            let _ = TENANT_USAGE.remove_label_values(&[&tenant, m]);
        }
    }

    /// Leads at `epoch`, held as of `at`.
    fn lead(&mut self, epoch: i64, at: Instant) {
        if self.leading.map(|(e, _)| e) != Some(epoch) {
            if self.leading.is_none() {
                TENANT_LEASES.inc();
            }
            tracing::info!(tenant_id = %self.args.tenant, epoch, "tenant lease taken; this node leads the tenant");
            self.measured = None;
            self.month = None;
        }
        self.leading = Some((epoch, at));
    }

    /// The keeper's renewal: a renewed lease goes on; one not renewed is lost, unless this actor
    /// took it after the renewal was asked.
    fn renewed(&mut self, epoch: Option<i64>, asked: Instant) {
        match (epoch, self.leading) {
            (Some(epoch), _) => self.lead(epoch, asked),
            (None, Some((_, at))) if at <= asked => self.lose("another node holds it"),
            (None, _) => {}
        }
    }

    /// Stops leading, because `why`: the lease went elsewhere or ran out.
    fn lose(&mut self, why: &str) {
        if let Some((epoch, _)) = self.leading.take() {
            tracing::warn!(tenant_id = %self.args.tenant, epoch, why, "tenant lease lost; this node no longer leads the tenant");
            self.stop_leading();
        }
    }

    /// Stops leading and exporting the tenant's usage.
    fn stop_leading(&mut self) {
        self.leading = None;
        TENANT_LEASES.dec();
        self.forget_usage();
    }

    async fn round(&mut self) {
        if self
            .leading
            .is_some_and(|(_, at)| at.elapsed() >= LEASE_TTL)
        {
            self.lose("not renewed in time");
        }
        if self.leading.is_none() {
            self.take().await;
        }
        let due = self.measured.is_none_or(|at| at.elapsed() >= MEASURE_EVERY);
        if let (Some((epoch, _)), true) = (self.leading, due) {
            self.measured = Some(Instant::now());
            if let Err(e) = self.measure(epoch).await {
                tracing::debug!(tenant_id = %self.args.tenant, error = %e, "cannot measure the tenant; next round");
            }
        }
    }

    /// Tries to take the lease (from a holder this node's view has gone, once it is silent).
    async fn take(&mut self) {
        let gone = not_up(&self.args.membership.nodes());
        let store = &self.args.ctx.store;
        let asked = Instant::now();
        match store
            .acquire_lease(&self.lease, self.me(), LEASE_TTL, &gone)
            .await
        {
            Ok(Some(epoch)) => self.lead(epoch, asked),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(tenant_id = %self.args.tenant, error = %e, "cannot take the tenant lease")
            }
        }
    }

    async fn measure(&mut self, epoch: i64) -> Result<(), vms_store::StoreError> {
        let tenant = self.args.tenant;
        let store = &self.args.ctx.store;
        let Some(standing) = store.tenant_standing(tenant).await? else {
            return Ok(()); // deleted: the keeper stops this actor
        };
        if self.month.is_none_or(|(_, at)| at.elapsed() >= MONTH_EVERY) {
            if !store
                .record_storage_hour(tenant, standing.bytes_stored, self.me(), epoch)
                .await?
            {
                self.lose("fenced: its epoch is no longer the lease's");
                return Ok(());
            }
            self.month = Some((store.month_usage(tenant).await?, Instant::now()));
        }
        let month = self.month.map(|(m, _)| m).unwrap_or_default();
        let label = tenant.to_string();
        for (measure, value) in measures(&standing, month, epoch) {
            TENANT_USAGE
                .with_label_values(&[&label, measure])
                .set(value);
        }
        if standing.tenant.storage_quota_bytes.is_none() {
            // A quota lifted since the last measure leaves no stale series behind.
            let _ = TENANT_USAGE.remove_label_values(&[&label, "storage_quota_bytes"]);
        }
        if standing.cameras > standing.tenant.max_cameras {
            tracing::warn!(tenant_id = %tenant, cameras = standing.cameras, max_cameras = standing.tenant.max_cameras, "tenant has more cameras than its licence allows");
        }
        if standing
            .tenant
            .storage_quota_bytes
            .is_some_and(|quota| standing.bytes_stored > quota)
        {
            tracing::info!(tenant_id = %tenant, bytes_stored = standing.bytes_stored, quota = ?standing.tenant.storage_quota_bytes, "tenant over its storage quota; telling every node");
            TENANT_OVER_QUOTA.with_label_values(&[&label]).inc();
            self.args.actors.storage_over_quota(tenant);
            changes::publish(
                &self.args.ctx,
                &self.args.auth,
                Change::StorageOverQuota { tenant_id: tenant },
            )
            .await;
        }
        Ok(())
    }
}

impl Actor for TenantActor {
    type Msg = TenantActorMsg;
    type State = TenantActorState;
    type Arguments = TenantActorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let lease = tenant_lease(args.tenant);
        myself.send_interval(ROUND, || TenantActorMsg::Round);
        myself.send_message(TenantActorMsg::Round)?;
        Ok(TenantActorState {
            args,
            lease,
            leading: None,
            measured: None,
            month: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TenantActorMsg::Round => state.round().await,
            TenantActorMsg::Renewal { epoch, asked } => state.renewed(epoch, asked),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.leading.is_some() {
            // The tenant's next home takes the lease at its next round, not at the expiry.
            if let Err(e) = state
                .args
                .ctx
                .store
                .release_lease(&state.lease, state.me())
                .await
            {
                tracing::debug!(tenant_id = %state.args.tenant, error = %e, "cannot give the tenant lease up; it expires");
            }
            tracing::info!(tenant_id = %state.args.tenant, "tenant lease given up; its next home leads");
            state.stop_leading();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vms_messages::Tenant;

    #[test]
    fn the_quota_is_exported_only_when_the_licence_sets_one() {
        let tenant = Tenant {
            id: TenantId::new(),
            name: "t".into(),
            max_cameras: 4,
            retention_days: 30,
            allowed_detectors: vec![],
            expires_at: None,
            ack_sla_seconds: None,
            storage_quota_bytes: None,
            inference_share: 2,
            created_at: chrono::Utc::now(),
        };
        let mut standing = TenantStanding {
            tenant,
            expired: false,
            cameras: 3,
            bytes_stored: 10,
        };
        let month = MonthUsage {
            camera_hours: 1.5,
            detector_seconds: 2.0,
        };
        let names = |m: Vec<(&'static str, f64)>| m.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
        assert!(!names(measures(&standing, month, 1)).contains(&"storage_quota_bytes"));
        standing.tenant.storage_quota_bytes = Some(5);
        let m = measures(&standing, month, 7);
        assert!(m.contains(&("camera_hours_month", 1.5)));
        assert!(m.contains(&("storage_quota_bytes", 5.0)));
        assert!(m.contains(&("lease_epoch", 7.0)));
        assert!(m.iter().all(|(n, _)| MEASURES.contains(n)));
    }
}
