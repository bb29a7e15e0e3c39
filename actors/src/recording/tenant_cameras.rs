//! `TenantCameras`: one per tenant on every node; holds the tenant's licence and supervises the
//! cameras this node records, restarting a crashed camera from its configuration without touching
//! the others. When the licence ends, its cameras stop recording (their recordings stay) until the
//! licence is renewed. (The cluster-wide, leased `TenantActor` lives in `tenancy/`.)

use crate::clock::Clock;
use crate::context::NodeContext;
use crate::media::layout::remove_path;
use crate::media::live::LiveHub;
use crate::media::mirror::MirrorSink;
use crate::metrics;
use crate::ownership::Ownership;
use crate::recording::analysis::KeyframeAnalysis;
use crate::recording::camera::{CameraActor, CameraArgs, CameraMsg, camera_actor_name};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use vms_messages::{Camera, CameraId, Tenant};

/// How often the licence's end date is checked.
const LICENCE_CHECK: Duration = Duration::from_secs(1);

/// Delay before a crashed camera is restarted.
const RESTART_DELAY: Duration = Duration::from_millis(500);

/// Messages of [`TenantCameras`].
pub enum TenantCamerasMsg {
    /// A camera was added or changed.
    CameraUpserted(Camera),
    /// A camera was deleted: stop it and delete its files.
    CameraRemoved(CameraId),
    /// The tenant (licence) changed.
    Updated(Tenant),
    /// (Re)start a camera actor that is not running.
    Start(CameraId),
    /// Stop or resume recording as the licence's end date requires.
    CheckLicence,
    /// The camera is recorded by another node now: stop it here, keeping its files.
    Release(CameraId),
    /// Bring the cameras and their rules in line with PostgreSQL (a change hint may have been lost).
    Reconcile,
    /// A message for one of its cameras' actors; dropped (with any reply port in it) when that
    /// camera does not run here.
    ToCamera(CameraId, CameraMsg),
}

impl ractor::Message for TenantCamerasMsg {}

/// Arguments of [`TenantCameras`].
pub struct TenantCamerasArgs {
    /// The tenant.
    pub tenant: Tenant,
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The cameras this node records.
    pub ownership: Arc<Ownership>,
    /// The node's analytics, when it runs any.
    pub analysis: Option<Arc<dyn KeyframeAnalysis>>,
    /// Where its cameras read time.
    pub clock: Arc<dyn Clock>,
    /// What its cameras tell when the disk is full (retention listens).
    pub disk_full: Arc<Notify>,
    /// What carries its cameras' durable writes to their standbys.
    pub mirror: Option<Arc<dyn MirrorSink>>,
    /// Where its cameras publish their live video.
    pub live: Arc<LiveHub>,
}

struct RunningCamera {
    camera: Camera,
    actor: Option<ActorRef<CameraMsg>>,
}

/// State of [`TenantCameras`].
pub struct TenantCamerasState {
    tenant: Tenant,
    ctx: Arc<NodeContext>,
    ownership: Arc<Ownership>,
    analysis: Option<Arc<dyn KeyframeAnalysis>>,
    clock: Arc<dyn Clock>,
    disk_full: Arc<Notify>,
    mirror: Option<Arc<dyn MirrorSink>>,
    live: Arc<LiveHub>,
    cameras: HashMap<CameraId, RunningCamera>,
    by_actor: HashMap<ActorId, CameraId>,
    /// Cameras released to other nodes, still finalising their open segment: a camera placed here
    /// again starts once its previous actor has stopped.
    stopping: HashMap<CameraId, tokio::task::JoinHandle<()>>,
    /// The licence has ended: no camera records.
    suspended: bool,
}

/// Whether two versions of a camera record alike (what a reconciliation would change).
fn same_settings(a: &Camera, b: &Camera) -> bool {
    a.url == b.url
        && a.credentials == b.credentials
        && a.enabled == b.enabled
        && a.sample_fps == b.sample_fps
        && a.transport == b.transport
        && a.retention_days == b.retention_days
}

/// Supervises one tenant's cameras; see the module docs.
pub struct TenantCameras;

impl TenantCamerasState {
    async fn start(&mut self, myself: &ActorRef<TenantCamerasMsg>, id: CameraId) {
        let analytics = self.analytics_allowed(&self.tenant);
        let Some(running) = self.cameras.get_mut(&id) else {
            return;
        };
        // With `cluster.fake_cameras` the node takes its cameras without recording them.
        let records = !self.ctx.config.cluster.fake_cameras && self.ownership.owns(id);
        if running.actor.is_some() || self.suspended || !records {
            return;
        }
        if let Some(previous) = self.stopping.remove(&id) {
            let _ = previous.await;
        }
        let args = CameraArgs {
            camera: running.camera.clone(),
            ctx: Arc::clone(&self.ctx),
            ownership: Arc::clone(&self.ownership),
            analysis: analytics.then(|| self.analysis.clone()).flatten(),
            clock: Arc::clone(&self.clock),
            disk_full: Arc::clone(&self.disk_full),
            mirror: self.mirror.clone(),
            live: Arc::clone(&self.live),
        };
        match Actor::spawn_linked(
            Some(camera_actor_name(id)),
            CameraActor,
            args,
            myself.get_cell(),
        )
        .await
        {
            Ok((actor, _)) => {
                self.by_actor.insert(actor.get_id(), id);
                running.actor = Some(actor);
            }
            Err(e) => {
                tracing::warn!(camera_id = %id, error = %e, "camera actor did not start; retrying");
                myself.send_after(RESTART_DELAY * 4, move || TenantCamerasMsg::Start(id));
            }
        }
    }

    /// A camera created or changed: reconfigures its actor (which restarts only for a change that
    /// needs it), or starts it.
    async fn upsert(&mut self, myself: &ActorRef<TenantCamerasMsg>, camera: Camera) {
        let id = camera.id;
        match self.cameras.get_mut(&id) {
            Some(running) => {
                running.camera = camera.clone();
                if let Some(actor) = &running.actor {
                    let _ = actor.cast(CameraMsg::Reconfigure(camera));
                } else {
                    // Not running here yet (placed here now, or restarting): start it.
                    self.start(myself, id).await;
                }
            }
            None => {
                self.cameras.insert(
                    id,
                    RunningCamera {
                        camera,
                        actor: None,
                    },
                );
                self.start(myself, id).await;
            }
        }
    }

    /// A camera deleted: stops it and deletes its files.
    async fn remove(&mut self, id: CameraId) {
        if let Some(running) = self.cameras.remove(&id) {
            if let Some(actor) = running.actor {
                self.by_actor.remove(&actor.get_id());
                let _ = actor
                    .stop_and_wait(None, Some(Duration::from_secs(10)))
                    .await;
            }
            metrics::forget_camera(&id.to_string());
            let dir = self.ctx.camera_dir(running.camera.tenant_id, id);
            tokio::task::spawn_blocking(move || remove_path(&dir));
        }
    }

    /// Applies what PostgreSQL says of this tenant's cameras: each one there is upserted (a no-op
    /// when nothing changed), each one gone is removed, and every running camera re-reads its rules.
    async fn reconcile(&mut self, myself: &ActorRef<TenantCamerasMsg>) {
        if self.ctx.config.cluster.fake_cameras {
            return; // nothing records: nothing to bring in line
        }
        let cameras = match self.ctx.store.tenant_cameras(self.tenant.id).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(tenant_id = %self.tenant.id, error = %e, "cannot reconcile cameras yet");
                return;
            }
        };
        let known: std::collections::HashSet<CameraId> = cameras.iter().map(|c| c.id).collect();
        let gone: Vec<CameraId> = self
            .cameras
            .keys()
            .filter(|id| !known.contains(id))
            .copied()
            .collect();
        for id in gone {
            tracing::info!(camera_id = %id, "camera deleted (reconciled); removing it here");
            self.remove(id).await;
        }
        for camera in cameras {
            let changed = self
                .cameras
                .get(&camera.id)
                .is_none_or(|r| !same_settings(&r.camera, &camera));
            if changed {
                tracing::info!(camera_id = %camera.id, "camera changed (reconciled)");
            }
            self.upsert(myself, camera).await;
        }
        for running in self.cameras.values() {
            if let Some(actor) = &running.actor {
                let _ = actor.cast(CameraMsg::RulesChanged);
            }
        }
    }

    /// Whether the licence allows one of the node's analytics models.
    fn analytics_allowed(&self, tenant: &Tenant) -> bool {
        self.analysis
            .as_ref()
            .is_some_and(|a| tenant.allowed_detectors.iter().any(|d| a.runs(d)))
    }

    /// Stops every camera when the licence has ended and starts them again when it is renewed.
    async fn apply_licence(&mut self, myself: &ActorRef<TenantCamerasMsg>) {
        let expired = self.tenant.licence_expired(chrono::Utc::now());
        if expired && !self.suspended {
            self.suspended = true;
            tracing::warn!(tenant_id = %self.tenant.id, "licence expired; recording stopped, recordings kept");
            self.stop_all().await;
        } else if !expired && self.suspended {
            self.suspended = false;
            tracing::info!(tenant_id = %self.tenant.id, "licence renewed; recording resumes");
            let ids: Vec<CameraId> = self.cameras.keys().copied().collect();
            for id in ids {
                self.start(myself, id).await;
            }
        }
    }

    /// Stops every running camera concurrently (each may finalise its open segment).
    async fn stop_all(&mut self) {
        let actors: Vec<ActorRef<CameraMsg>> = self
            .cameras
            .values_mut()
            .filter_map(|r| r.actor.take())
            .collect();
        self.by_actor.clear();
        let stops: Vec<_> = actors
            .into_iter()
            .map(|a| {
                tokio::spawn(
                    async move { a.stop_and_wait(None, Some(Duration::from_secs(10))).await },
                )
            })
            .collect();
        for stop in stops {
            if let Ok(Err(e)) = stop.await {
                tracing::warn!(error = %e, "camera did not stop cleanly");
            }
        }
        for (_, released) in self.stopping.drain() {
            let _ = released.await;
        }
    }
}

impl Actor for TenantCameras {
    type Msg = TenantCamerasMsg;
    type State = TenantCamerasState;
    type Arguments = TenantCamerasArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let cameras = args.ctx.store.tenant_cameras(args.tenant.id).await?;
        let cameras = cameras
            .into_iter()
            .map(|c| {
                (
                    c.id,
                    RunningCamera {
                        camera: c,
                        actor: None,
                    },
                )
            })
            .collect();
        Ok(TenantCamerasState {
            suspended: args.tenant.licence_expired(chrono::Utc::now()),
            tenant: args.tenant,
            ctx: args.ctx,
            ownership: args.ownership,
            analysis: args.analysis,
            clock: args.clock,
            disk_full: args.disk_full,
            mirror: args.mirror,
            live: args.live,
            cameras,
            by_actor: HashMap::new(),
            stopping: HashMap::new(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ids: Vec<CameraId> = state.cameras.keys().copied().collect();
        for id in ids {
            state.start(&myself, id).await;
        }
        myself.send_interval(LICENCE_CHECK, || TenantCamerasMsg::CheckLicence);
        tracing::info!(tenant_id = %state.tenant.id, cameras = state.cameras.len(), suspended = state.suspended, "tenant started");
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.stop_all().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TenantCamerasMsg::CameraUpserted(camera) => state.upsert(&myself, camera).await,
            TenantCamerasMsg::CameraRemoved(id) => state.remove(id).await,
            TenantCamerasMsg::Reconcile => state.reconcile(&myself).await,
            TenantCamerasMsg::Updated(tenant) => {
                let restart =
                    state.analytics_allowed(&tenant) != state.analytics_allowed(&state.tenant);
                let reread = tenant.inference_share != state.tenant.inference_share
                    || tenant.allowed_detectors != state.tenant.allowed_detectors;
                state.tenant = tenant;
                if reread && !restart {
                    // The cameras' rule tasks read the share and the licensed detectors again:
                    // their next frames go with the new share, to the detectors still allowed.
                    for actor in state.cameras.values().filter_map(|r| r.actor.as_ref()) {
                        let _ = actor.cast(CameraMsg::RulesChanged);
                    }
                }
                if restart && !state.suspended {
                    // Analytics were granted or withdrawn: restart the cameras with or without them.
                    state.stop_all().await;
                    let ids: Vec<CameraId> = state.cameras.keys().copied().collect();
                    for id in ids {
                        state.start(&myself, id).await;
                    }
                }
                state.apply_licence(&myself).await;
            }
            TenantCamerasMsg::Start(id) => state.start(&myself, id).await,
            TenantCamerasMsg::Release(id) => {
                let actor = state.cameras.get_mut(&id).and_then(|r| r.actor.take());
                if let Some(actor) = actor {
                    state.by_actor.remove(&actor.get_id());
                    // Stopping tears the pipeline down at once, then finalises and indexes the open
                    // segment (files stay). Indexing may wait for the database, which a node cut off
                    // from it cannot reach: the cameras released with this one must not wait behind
                    // it, so each stops on its own.
                    let stop = tokio::spawn(async move {
                        let _ = actor
                            .stop_and_wait(None, Some(Duration::from_secs(10)))
                            .await;
                        metrics::forget_camera(&id.to_string());
                    });
                    state.stopping.insert(id, stop);
                }
            }
            TenantCamerasMsg::CheckLicence => state.apply_licence(&myself).await,
            TenantCamerasMsg::ToCamera(id, msg) => {
                if let Some(actor) = state.cameras.get(&id).and_then(|r| r.actor.as_ref()) {
                    let _ = actor.cast(msg);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        evt: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match &evt {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("stopped: {}", reason.as_deref().unwrap_or("no reason")),
            ),
            _ => return Ok(()),
        };
        let Some(id) = state.by_actor.remove(&cell.get_id()) else {
            return Ok(());
        };
        if let Some(running) = state.cameras.get_mut(&id) {
            running.actor = None;
            tracing::error!(camera_id = %id, why = %why, "camera actor ended unexpectedly; restarting it");
            myself.send_after(RESTART_DELAY, move || TenantCamerasMsg::Start(id));
        }
        Ok(())
    }
}
