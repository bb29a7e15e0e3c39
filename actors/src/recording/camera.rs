//! `CameraActor`: owns one camera's ingest task (RTSP through retina into fragmented MP4 segments)
//! and its state machine `connecting → streaming → backoff → … (failed)`, with exponential backoff
//! and jitter, a connect timeout (a port that accepts but never answers) and a no-frame watchdog (a
//! frozen camera sends nothing at all). Every reconnect starts a new session. A failure touches
//! only this camera.

use crate::backoff::reconnect_delay;
use crate::clock::Clock;
use crate::context::NodeContext;
use crate::media::fragmenter::{ClosedFragments, FragmentRecorder};
use crate::media::ingest::{FailureKind, FlowStats, KeyframeSink};
use crate::media::layout::SegmentLayout;
use crate::media::live::{LiveHub, LivePublisher};
use crate::media::mirror::{MirrorHealth, MirrorSink};
use crate::media::rtsp::{self, IngestEnd, IngestEvent, IngestOptions};
use crate::metrics;
use crate::ownership::Ownership;
use crate::recording::analysis::{CameraAnalysis, KeyframeAnalysis};
use crate::recording::orphans::{self, highest_seq_on_disk};
use crate::recording::segmenter::{SegmenterActor, SegmenterArgs, SegmenterMsg};
use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use vms_config::RecordingConfig;
use vms_messages::{Camera, CameraId, CameraState, CameraStatus};

/// How often the watchdog and rate figures are updated.
const TICK: Duration = Duration::from_millis(500);
/// Retry period of a camera that needs a change to record (unsupported codec, refused credentials).
const SLOW_RETRY: Duration = Duration::from_secs(30);
/// Length of a fragment: what a kill can lose at most, and how often each camera writes.
const FRAGMENT: Duration = Duration::from_secs(1);

/// Registry name of a camera's actor, so the API finds it by id.
pub fn camera_actor_name(id: CameraId) -> String {
    format!("camera:{id}")
}

/// Messages of [`CameraActor`].
pub enum CameraMsg {
    /// Periodic watchdog and statistics.
    Tick,
    /// Start an ingest session (ignored unless `generation` is current).
    Connect {
        /// Generation the reconnect was scheduled for.
        generation: u64,
    },
    /// A segment file is complete (from any session, current or not: it is indexed).
    SegmentClosed(ClosedFragments),
    /// The ingest session of `generation` ended by itself.
    IngestFailed {
        /// Session generation.
        generation: u64,
        /// Classification.
        kind: FailureKind,
        /// Human-readable reason.
        reason: String,
    },
    /// New configuration, applied live.
    Reconfigure(Camera),
    /// Current status.
    GetStatus(RpcReplyPort<CameraStatus>),
    /// The camera's analytics rules changed: re-read them.
    RulesChanged,
}

impl ractor::Message for CameraMsg {}

/// Arguments of [`CameraActor`].
pub struct CameraArgs {
    /// Camera configuration.
    pub camera: Camera,
    /// Node context.
    pub ctx: Arc<NodeContext>,
    /// The cameras this node records, with their epochs.
    pub ownership: Arc<Ownership>,
    /// The node's analytics, when this camera's tenant's licence allows one of its models.
    pub analysis: Option<Arc<dyn KeyframeAnalysis>>,
    /// Where the watchdog reads time.
    pub clock: Arc<dyn Clock>,
    /// Told when the disk is full, so that retention frees space at once.
    pub disk_full: Arc<Notify>,
    /// What carries its durable writes to its standby.
    pub mirror: Option<Arc<dyn MirrorSink>>,
    /// Where it publishes its live video.
    pub live: Arc<LiveHub>,
}

/// State of [`CameraActor`].
pub struct CameraActorState {
    /// Ownership epoch this actor records under (see the cluster's placement).
    epoch: Option<i64>,
    camera: Camera,
    ctx: Arc<NodeContext>,
    ownership: Arc<Ownership>,
    /// Where the watchdog and the rate figures read time.
    clock: Arc<dyn Clock>,
    disk_full: Arc<Notify>,
    mirror: Option<Arc<dyn MirrorSink>>,
    /// How the current recorder's mirroring goes (with a mirror).
    mirror_health: Option<Arc<MirrorHealth>>,
    live: Arc<LiveHub>,
    status: CameraStatus,
    generation: u64,
    ingest: Option<RunningIngest>,
    attempt: u32,
    connect_started: Instant,
    next_seq: i64,
    segmenter: Option<ActorRef<SegmenterMsg>>,
    ticker: Option<JoinHandle<()>>,
    sample: (Instant, u64, u64),
    label: String,
    last_failure: Option<FailureKind>,
    consecutive: u32,
    /// The node's analytics, when this camera's licence allows them.
    analysis: Option<Arc<dyn KeyframeAnalysis>>,
    /// Keyframe sampling and the rules, kept across reconnects.
    analytics: Option<(Box<dyn CameraAnalysis>, KeyframeSink)>,
}

/// Records one camera; see the module docs.
pub struct CameraActor;

/// A running ingest session: its task, how to stop it, and its counters. Dropping it (the actor
/// killed: ractor skips `post_stop`) drops the stop sender, which ends the session too.
struct RunningIngest {
    stop: tokio::sync::watch::Sender<bool>,
    /// Ends with how the session ended and the next segment number.
    task: tokio::task::JoinHandle<(IngestEnd, i64)>,
    stats: Arc<FlowStats>,
}

/// Starts a segmenter for the camera whose actor is `camera`, linked to it.
async fn spawn_segmenter(
    camera: &ActorRef<CameraMsg>,
    args: SegmenterArgs,
) -> Result<ActorRef<SegmenterMsg>, ractor::SpawnErr> {
    let (segmenter, _) = Actor::spawn_linked(None, SegmenterActor, args, camera.get_cell()).await?;
    Ok(segmenter)
}

/// The camera's sampling and rules, when the node has analytics; `None` (recording only) if they
/// cannot start.
fn start_analytics(
    analysis: Option<&Arc<dyn KeyframeAnalysis>>,
    camera: &Camera,
    epoch: Option<i64>,
) -> Option<(Box<dyn CameraAnalysis>, KeyframeSink)> {
    match analysis?.start(camera, epoch) {
        Ok(started) => Some(started),
        Err(e) => {
            tracing::warn!(camera_id = %camera.id, error = %e, "analytics not started; recording only");
            None
        }
    }
}

impl CameraActorState {
    fn set_state(&mut self, state: CameraState, reason: Option<String>) {
        if self.status.state != state {
            let _ = metrics::CAMERA_STATE
                .remove_label_values(&[&self.label, self.status.state.as_str()]);
            metrics::CAMERA_STATE
                .with_label_values(&[&self.label, state.as_str()])
                .set(1);
            tracing::info!(camera_id = %self.camera.id, from = self.status.state.as_str(), to = state.as_str(), reason = reason.as_deref().unwrap_or(""), "camera state");
            self.status.since = self.clock.now();
        }
        self.status.state = state;
        if reason.is_some() || state == CameraState::Disabled {
            self.status.reason = reason;
        }
        if state != CameraState::Streaming {
            self.status.fps = 0.0;
            self.status.bitrate_bps = 0.0;
        }
    }

    /// What the next ingest session needs, or why the camera cannot have one.
    fn ingest_options(&self) -> Result<IngestOptions, String> {
        let url = url::Url::parse(&self.camera.url).map_err(|e| format!("invalid url: {e}"))?;
        let tls = match url.scheme() {
            "rtsps" => Some(Arc::new(vms_store::tls_client_config(
                self.ctx.config.recording.tls_ca_file.as_deref(),
                "recording.tls_ca_file",
            )?)),
            _ => None,
        };
        Ok(IngestOptions {
            url,
            credentials: self
                .camera
                .credentials
                .as_ref()
                .map(|c| (c.username.clone(), c.password.clone())),
            transport: self.camera.transport,
            watchdog: Duration::from_secs(u64::from(self.ctx.config.recording.watchdog_seconds)),
            keyframes: self.analytics.as_ref().map(|(_, sink)| sink.clone()),
            tls,
        })
    }

    /// Stops the ingest session (if any) and hands its unfinished segment to the segmenter.
    async fn teardown(&mut self) {
        self.generation += 1;
        let Some(ingest) = self.ingest.take() else {
            return;
        };
        let _ = ingest.stop.send(true);
        match ingest.task.await {
            Ok((end, next_seq)) => {
                self.next_seq = self.next_seq.max(next_seq);
                if let Some(seg) = end.last {
                    self.forward(seg);
                }
            }
            Err(e) => {
                tracing::error!(camera_id = %self.camera.id, error = %e, "ingest task panicked")
            }
        }
    }

    fn forward(&mut self, seg: ClosedFragments) {
        self.next_seq = self.next_seq.max(seg.seq + 1);
        self.status.segments_written += 1;
        if let Some(segmenter) = &self.segmenter
            && let Err(e) = segmenter.cast(SegmenterMsg::Closed(seg))
        {
            tracing::error!(camera_id = %self.camera.id, error = %e, "segmenter gone; segment not indexed");
        }
    }

    fn connect(&mut self, myself: &ActorRef<CameraMsg>) {
        let options = match self.ingest_options() {
            Ok(options) => options,
            Err(reason) => {
                // A URL that does not parse will not fix itself; say so and retry slowly.
                self.set_state(CameraState::Failed, Some(reason));
                self.schedule_reconnect(myself, true);
                return;
            }
        };
        let r = &self.ctx.config.recording;
        let layout = SegmentLayout {
            camera_dir: self.ctx.camera_dir(self.camera.tenant_id, self.camera.id),
            first_seq: self.next_seq,
        };
        let mut recorder = FragmentRecorder::new(
            layout,
            Duration::from_secs(u64::from(r.segment_seconds)),
            FRAGMENT,
        );
        if let Some(mirror) = &self.mirror {
            let health = Arc::new(MirrorHealth::new(&self.label));
            let writes = mirror.open(self.camera.tenant_id, self.camera.id, Arc::clone(&health));
            recorder.mirror_to(writes, Arc::clone(&health));
            self.mirror_health = Some(health);
        }
        recorder.live_to(LivePublisher::new(self.live.channel(self.camera.id)));
        let generation = self.generation;
        let stats = Arc::new(FlowStats::default());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (me, counters) = (myself.clone(), Arc::clone(&stats));
        let task = tokio::spawn(async move {
            let mut on_event = |event| match event {
                IngestEvent::Frame { bytes, at, .. } => counters.frame(bytes, at),
                IngestEvent::Closed(seg) => {
                    let _ = me.cast(CameraMsg::SegmentClosed(seg));
                }
            };
            let end = rtsp::record(&options, &mut recorder, &mut stopped, &mut on_event).await;
            if let Err(e) = &end.result {
                let _ = me.cast(CameraMsg::IngestFailed {
                    generation,
                    kind: e.kind(),
                    reason: e.to_string(),
                });
            }
            (end, recorder.next_seq())
        });
        self.connect_started = self.clock.instant();
        self.sample = (self.clock.instant(), 0, 0);
        self.ingest = Some(RunningIngest { stop, task, stats });
        self.set_state(CameraState::Connecting, None);
    }

    fn schedule_reconnect(&mut self, myself: &ActorRef<CameraMsg>, slow: bool) {
        let r = &self.ctx.config.recording;
        let max = Duration::from_millis(r.backoff_max_ms);
        let delay = if slow {
            SLOW_RETRY.max(max)
        } else {
            reconnect_delay(
                self.attempt,
                Duration::from_millis(r.backoff_initial_ms),
                max,
            )
        };
        self.attempt = self.attempt.saturating_add(1);
        let generation = self.generation;
        myself.send_after(delay, move || CameraMsg::Connect { generation });
    }

    async fn fail(&mut self, myself: &ActorRef<CameraMsg>, kind: FailureKind, reason: String) {
        self.teardown().await;
        if kind == FailureKind::DiskFull {
            self.disk_full.notify_one();
        }
        let reason = match kind {
            FailureKind::DiskFull => format!("disk full, retention is freeing space: {reason}"),
            _ => reason,
        };
        self.consecutive = if Some(kind) == self.last_failure {
            self.consecutive + 1
        } else {
            1
        };
        self.last_failure = Some(kind);
        let state = if kind.shows_failed(self.consecutive) {
            CameraState::Failed
        } else {
            CameraState::Backoff
        };
        tracing::warn!(camera_id = %self.camera.id, reason = %reason, "camera lost its stream");
        self.set_state(state, Some(reason));
        self.status.reconnects += 1;
        metrics::CAMERA_RECONNECTS
            .with_label_values(&[&self.label])
            .inc();
        self.schedule_reconnect(myself, kind.is_permanent());
    }

    /// Watchdog, connect timeout and rate figures.
    async fn tick(&mut self, myself: &ActorRef<CameraMsg>) {
        let Some(ingest) = &self.ingest else {
            return;
        };
        let stats = Arc::clone(&ingest.stats);
        let frames = stats.frames.load(Ordering::Relaxed);
        let bytes = stats.bytes.load(Ordering::Relaxed);
        let (at, last_frames, last_bytes) = self.sample;
        let elapsed = self.clock.since(at).as_secs_f64().max(1e-3);
        let df = frames.saturating_sub(last_frames);
        let db = bytes.saturating_sub(last_bytes);
        self.sample = (self.clock.instant(), frames, bytes);
        metrics::CAMERA_FRAMES
            .with_label_values(&[&self.label])
            .inc_by(df);
        metrics::CAMERA_BYTES
            .with_label_values(&[&self.label])
            .inc_by(db);
        self.status.last_frame_at = stats.last_frame_at();
        // A streaming camera's figures are updated before the verdict acts (as they always were).
        let was_streaming = self.status.state == CameraState::Streaming;
        let verdict = watchdog(
            &Watched {
                state: self.status.state,
                frames,
                connect_started: self.connect_started,
                last_frame_ms: stats.last_frame_ms.load(Ordering::Relaxed),
            },
            self.clock.as_ref(),
            &self.ctx.config.recording,
        );
        if was_streaming {
            // Smooth over ticks so one late packet does not make the figures jump.
            let fps = df as f64 / elapsed;
            let bps = db as f64 * 8.0 / elapsed;
            self.status.fps = 0.7 * self.status.fps + 0.3 * fps;
            self.status.bitrate_bps = 0.7 * self.status.bitrate_bps + 0.3 * bps;
            metrics::CAMERA_FPS
                .with_label_values(&[&self.label])
                .set(self.status.fps);
            metrics::CAMERA_BITRATE
                .with_label_values(&[&self.label])
                .set(self.status.bitrate_bps);
        }
        match verdict {
            Verdict::Streaming => {
                self.attempt = 0;
                self.last_failure = None;
                self.consecutive = 0;
                self.set_state(CameraState::Streaming, None);
            }
            Verdict::Reconnect(reason) => {
                self.fail(myself, FailureKind::Transient, reason).await;
            }
            Verdict::Fine => {}
        }
    }
}

/// What the watchdog looks at in a camera.
#[derive(Clone, Copy, Debug)]
struct Watched {
    state: CameraState,
    /// Frames since its ingest session started.
    frames: u64,
    /// When its ingest session started connecting.
    connect_started: Instant,
    /// When its last frame arrived (Unix milliseconds).
    last_frame_ms: i64,
}

/// What the watchdog makes of a camera.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Its first frames arrived: it streams.
    Streaming,
    /// It connected but sent nothing in time, or stopped sending: reconnect, for this reason.
    Reconnect(String),
    /// Nothing to do.
    Fine,
}

/// The watchdog's verdict on `camera` at `clock`'s time.
fn watchdog(camera: &Watched, clock: &dyn Clock, r: &RecordingConfig) -> Verdict {
    match camera.state {
        CameraState::Connecting if camera.frames > 0 => Verdict::Streaming,
        CameraState::Connecting
            if clock.since(camera.connect_started)
                > Duration::from_secs(u64::from(r.connect_timeout_seconds)) =>
        {
            Verdict::Reconnect(format!(
                "no video within {} s of connecting (camera accepts but does not answer?)",
                r.connect_timeout_seconds
            ))
        }
        CameraState::Streaming
            if clock.now().timestamp_millis() - camera.last_frame_ms
                > i64::from(r.watchdog_seconds) * 1000 =>
        {
            Verdict::Reconnect(format!(
                "no frames for {} s (camera stopped sending or froze)",
                r.watchdog_seconds
            ))
        }
        _ => Verdict::Fine,
    }
}

impl Actor for CameraActor {
    type Msg = CameraMsg;
    type State = CameraActorState;
    type Arguments = CameraArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let CameraArgs {
            camera,
            ctx,
            ownership,
            analysis,
            clock,
            disk_full,
            mirror,
            live,
        } = args;
        let camera_dir = ctx.camera_dir(camera.tenant_id, camera.id);
        // What the camera's last actor here left unindexed (killed, or the node crashed) is indexed
        // first, at the epoch it was recorded under (`crate::recording::orphans`); numbering goes on after
        // it, so a new segment never overwrites a file.
        let indexed = orphans::index_camera(
            &ctx,
            &ownership,
            camera.tenant_id,
            camera.id,
            clock.now().into(),
        );
        match indexed.await {
            Ok(found) if found != orphans::OrphanSweep::default() => {
                tracing::info!(camera_id = %camera.id, ?found, "segments left by a crash indexed");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(camera_id = %camera.id, error = %e, "cannot index segments left by a crash now; they are when the camera or the node starts again, or go with retention");
            }
        }
        let last_indexed = ctx.store.last_seq(camera.id).await?;
        let on_disk = tokio::task::spawn_blocking(move || highest_seq_on_disk(&camera_dir)).await?;
        // With placement, numbering starts in the block of this node's ownership epoch, so the node
        // handing the camera over, still recording, never writes the same number.
        let epoch = ownership.fencing_epoch(camera.id);
        let epoch_base = epoch.map_or(0, |e| e.saturating_mul(vms_store::SEQ_BLOCK));
        let last_seq = last_indexed.max(on_disk).max(epoch_base);
        let segmenter = spawn_segmenter(
            &myself,
            SegmenterArgs {
                camera_id: camera.id,
                tenant_id: camera.tenant_id,
                ctx: Arc::clone(&ctx),
                ownership: Arc::clone(&ownership),
                epoch,
                clock: Arc::clone(&clock),
            },
        )
        .await?;
        metrics::register_camera(&camera.id.to_string());
        let mut status = CameraStatus::unknown();
        status.node = Some(ctx.node_id().to_string());
        status.reason = None;
        let analytics = start_analytics(analysis.as_ref(), &camera, epoch);
        let started = clock.instant();
        Ok(CameraActorState {
            epoch,
            analysis,
            analytics,
            label: camera.id.to_string(),
            camera,
            ctx,
            ownership,
            clock,
            disk_full,
            mirror,
            mirror_health: None,
            live,
            status,
            generation: 0,
            ingest: None,
            attempt: 0,
            connect_started: started,
            next_seq: last_seq + 1,
            segmenter: Some(segmenter),
            ticker: None,
            sample: (started, 0, 0),
            last_failure: None,
            consecutive: 0,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker = Some(myself.send_interval(TICK, || CameraMsg::Tick));
        if state.camera.enabled {
            state.connect(&myself);
        } else {
            state.set_state(CameraState::Disabled, Some("camera is disabled".into()));
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.ticker.take() {
            t.abort();
        }
        state.teardown().await;
        // Its viewers here see their feed end (the camera stopped, or records elsewhere now).
        state.live.remove(state.camera.id);
        if let Some(segmenter) = state.segmenter.take() {
            let _ = ractor::call_t!(segmenter, SegmenterMsg::Flush, 10_000);
            segmenter.stop(None);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CameraMsg::Tick => state.tick(&myself).await,
            CameraMsg::Connect { generation } => {
                if generation == state.generation && state.ingest.is_none() && state.camera.enabled
                {
                    state.connect(&myself);
                }
            }
            // A segment finished by an older session is still a recording: always index it.
            CameraMsg::SegmentClosed(seg) => state.forward(seg),
            CameraMsg::IngestFailed {
                generation,
                kind,
                reason,
            } if generation == state.generation => {
                state.fail(&myself, kind, reason).await;
            }
            CameraMsg::IngestFailed { .. } => {}
            CameraMsg::RulesChanged => {
                if let Some((analytics, _)) = &state.analytics {
                    analytics.reload().await;
                }
            }
            CameraMsg::Reconfigure(camera) => {
                let resample = camera.sample_fps != state.camera.sample_fps;
                let restart = resample
                    || camera.url != state.camera.url
                    || camera.credentials != state.camera.credentials
                    || camera.transport != state.camera.transport
                    || camera.enabled != state.camera.enabled;
                state.camera = camera;
                if restart {
                    state.teardown().await;
                    if resample && state.analytics.is_some() {
                        // The sampler decodes keyframes or every frame: build it anew.
                        state.analytics = None;
                        state.analytics =
                            start_analytics(state.analysis.as_ref(), &state.camera, state.epoch);
                    }
                    state.attempt = 0;
                    if state.camera.enabled {
                        state.connect(&myself);
                    } else {
                        state.set_state(CameraState::Disabled, Some("camera is disabled".into()));
                    }
                }
            }
            CameraMsg::GetStatus(reply) => {
                let mut status = state.status.clone();
                status.standby = state.mirror_health.as_ref().map(|h| h.status());
                let _ = reply.send(status);
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
        // The segmenter died: start a fresh one; recording goes on meanwhile.
        if let SupervisionEvent::ActorFailed(_, err) = &evt {
            tracing::error!(camera_id = %state.camera.id, error = %err, "segmenter failed; restarting it");
            let segmenter = spawn_segmenter(
                &myself,
                SegmenterArgs {
                    camera_id: state.camera.id,
                    tenant_id: state.camera.tenant_id,
                    ctx: Arc::clone(&state.ctx),
                    ownership: Arc::clone(&state.ownership),
                    epoch: state.epoch,
                    clock: Arc::clone(&state.clock),
                },
            )
            .await?;
            state.segmenter = Some(segmenter);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimulatedClock;

    fn watched(clock: &SimulatedClock, state: CameraState, frames: u64) -> Watched {
        Watched {
            state,
            frames,
            connect_started: clock.instant(),
            last_frame_ms: clock.now().timestamp_millis(),
        }
    }

    #[test]
    fn a_camera_that_answers_nothing_is_reconnected_after_the_connect_timeout() {
        let clock = SimulatedClock::default();
        let r = RecordingConfig::default(); // connect timeout 10 s
        let camera = watched(&clock, CameraState::Connecting, 0);
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            watchdog(&camera, &clock, &r),
            Verdict::Fine,
            "at the timeout"
        );
        clock.advance(Duration::from_millis(1));
        assert!(matches!(
            watchdog(&camera, &clock, &r),
            Verdict::Reconnect(reason) if reason.contains("within 10 s")
        ));
        let answered = Watched {
            frames: 1,
            ..camera
        };
        assert_eq!(watchdog(&answered, &clock, &r), Verdict::Streaming);
    }

    #[test]
    fn a_streaming_camera_silent_past_the_watchdog_is_reconnected() {
        let clock = SimulatedClock::default();
        let r = RecordingConfig::default(); // watchdog 3 s
        let camera = watched(&clock, CameraState::Streaming, 100);
        clock.advance(Duration::from_secs(3));
        assert_eq!(
            watchdog(&camera, &clock, &r),
            Verdict::Fine,
            "3 s of silence"
        );
        clock.advance(Duration::from_millis(1));
        assert!(matches!(
            watchdog(&camera, &clock, &r),
            Verdict::Reconnect(reason) if reason.contains("no frames for 3 s")
        ));
        let backing_off = Watched {
            state: CameraState::Backoff,
            ..camera
        };
        assert_eq!(watchdog(&backing_off, &clock, &r), Verdict::Fine);
    }
}
