//! Analytics of a node: the models rules may name (`analytics.models`), and per camera a keyframe
//! [`FrameSampler`] feeding a task that checks the camera's rules and raises events. Frames for an
//! ONNX model go through [`Inference`] to one of the cluster's worker replicas of it (placed on
//! `inference` nodes, possibly this one); built-in pixel detectors run on the camera's own instance.
//!
//! Cameras whose tenant licence lists one of the node's models are sampled; each frame goes to the
//! models the camera's enabled rules name (at once), and the rules are checked on every sampled frame by its [`RuleEngine`] (intrusion, loitering, line crossing,
//! crowd; schedules; at most one event per rule per cooldown bucket). Events go to the node's [`Outbox`] on disk, which stores and publishes
//! them; the event id is derived from (camera, rule, bucket), so it is stored once (`ON CONFLICT DO
//! NOTHING`) and published once (JetStream `Nats-Msg-Id` deduplication) however often it is retried.

use crate::analytics::inference::{Inference, Routed};
use crate::analytics::outbox::Outbox;
use crate::analytics::rules::RuleEngine;
use crate::context::NodeContext;
use crate::media::ingest::KeyframeSink;
use crate::media::sampler::{FrameSampler, SampledFrame};
use crate::recording::analysis::{CameraAnalysis, KeyframeAnalysis};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use vms_config::AnalyticsConfig;
use vms_messages::event_id;
use vms_messages::{Camera, CameraId, Event, Rule, RulePriority, TenantId, TenantScope, subjects};
use vms_models::DetectorFactory;
use vms_models::OnnxEmbedder;
use vms_models::{
    Batching, Detector, Frame, Manifest, ModelError, ModelWorker, OwnedFrame, Priority,
    QueueObserver, Submission, WorkerOptions, runtime,
};

/// One model rules may name: an ONNX model run by the cluster's worker replicas (`pooled`), or a
/// built-in pixel detector of which every camera has its own instance.
struct NodeModel {
    name: String,
    pooled: Option<PooledModel>,
}

/// What a replica of an ONNX model is started from.
struct PooledModel {
    factory: DetectorFactory,
    input: (u32, u32),
}

/// The node's models: what its cameras sample for, and what its replicas are started from.
pub struct Analytics {
    models: Vec<NodeModel>,
    sample: (u32, u32),
    outbox: Arc<Outbox>,
    /// Appearance embeddings of what object detectors found (events only: a few a second at most).
    embedder: Option<Arc<std::sync::Mutex<OnnxEmbedder>>>,
    /// How long a sampled frame may wait for a model worker.
    frame_deadline: Duration,
    /// Worker options of each replica.
    workers: usize,
    batch: Batching,
}

/// Frames each model worker's queues (high and standard) hold before shedding.
const QUEUE_DEPTH: usize = 64;

/// Size frames are sampled at for `inputs`: a lone model's own input (no resizing in the detector);
/// for several, a 16:9 frame as tall as the tallest input (width a multiple of 4, so rows are not
/// padded), which each detector fits to its own.
fn sample_size(inputs: &[(u32, u32)]) -> (u32, u32) {
    match inputs {
        [] => (320, 180), // built-in detectors only
        [one] => *one,
        _ => {
            let h = inputs.iter().map(|i| i.1).max().unwrap_or(300);
            let w = inputs.iter().map(|i| i.0).max().unwrap_or(300);
            (w.max((h * 16 / 9).next_multiple_of(4)), h)
        }
    }
}

impl Analytics {
    /// Reads the node's models (their manifests; no session is opened here: replicas open theirs);
    /// events go to `outbox`. The appearance embedder is loaded on a node that runs `inference`. A
    /// model that cannot be read is logged and left out; none left is an error.
    pub fn start(
        config: &AnalyticsConfig,
        outbox: Arc<Outbox>,
        inference: bool,
    ) -> Result<Self, ModelError> {
        let env = runtime::environment(config.onnxruntime.as_deref())?;
        let zoo = config
            .zoo_dir
            .clone()
            .unwrap_or_else(vms_models::registry::default_zoo);
        let mut models = Vec::new();
        let mut refused = Vec::new();
        for name in &config.models {
            if vms_models::builtin::create(name).is_some() {
                models.push(NodeModel {
                    name: name.clone(),
                    pooled: None,
                });
                continue;
            }
            let loaded = Manifest::load(&zoo.join(name)).map(|manifest| {
                let input = (manifest.input.width, manifest.input.height);
                let threads = config.intra_threads;
                let factory: DetectorFactory = Arc::new(move || {
                    vms_models::registry::open_detector(manifest.clone(), env, threads)
                });
                NodeModel {
                    name: name.clone(),
                    pooled: Some(PooledModel { factory, input }),
                }
            });
            match loaded {
                Ok(m) => models.push(m),
                Err(e) => {
                    tracing::warn!(model = %name, error = %e, "model refused; the node runs without it");
                    refused.push(format!("{name}: {e}"));
                }
            }
        }
        if models.is_empty() {
            return Err(ModelError::Manifest(format!(
                "no analytics model could be loaded ({})",
                if refused.is_empty() {
                    "analytics.models is empty".to_string()
                } else {
                    refused.join("; ")
                }
            )));
        }
        let inputs: Vec<(u32, u32)> = models
            .iter()
            .filter_map(|m| m.pooled.as_ref().map(|p| p.input))
            .collect();
        let sample = sample_size(&inputs);
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        let embedder = (inference && !config.embedding.is_empty())
            .then(|| {
                Manifest::load(&zoo.join(&config.embedding))
                    .and_then(|m| OnnxEmbedder::open(m, env, config.intra_threads))
                    .map_err(|e| {
                        tracing::warn!(model = %config.embedding, error = %e, "embedding model refused; events keep no appearance")
                    })
                    .ok()
            })
            .flatten()
            .map(|e| Arc::new(std::sync::Mutex::new(e)));
        tracing::info!(models = ?names, workers = config.workers, sample = ?sample, embedding = embedder.is_some(), "analytics started");
        Ok(Self {
            models,
            sample,
            outbox,
            embedder,
            frame_deadline: Duration::from_millis(config.frame_deadline_ms),
            workers: config.workers,
            batch: Batching {
                max: config.batch_max,
                wait: Duration::from_millis(config.batch_wait_ms),
            },
        })
    }

    /// The ONNX models, which run on worker replicas.
    pub fn pooled_models(&self) -> impl Iterator<Item = &str> {
        self.models
            .iter()
            .filter(|m| m.pooled.is_some())
            .map(|m| m.name.as_str())
    }

    /// Opens the sessions of a replica of `model` (blocking: a session takes a while to load).
    pub fn start_worker(&self, model: &str) -> Result<ModelWorker, ModelError> {
        let pooled = self
            .models
            .iter()
            .find(|m| m.name == model)
            .and_then(|m| m.pooled.as_ref())
            .ok_or_else(|| ModelError::Manifest(format!("{model} is not a pooled model")))?;
        let observer: Arc<dyn QueueObserver> =
            Arc::new(super::queue_metrics::QueueMetrics::new(model));
        ModelWorker::start_with(
            model,
            Arc::clone(&pooled.factory),
            WorkerOptions {
                threads: self.workers,
                capacity: QUEUE_DEPTH,
                batch: self.batch,
                observer: Some(observer),
            },
        )
    }

    /// The models rules may name, as tenant licences name them.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.name.as_str())
    }

    /// Whether the node runs `model`.
    pub fn runs(&self, model: &str) -> bool {
        self.models().any(|m| m == model)
    }

    /// The appearance embedding of `bbox` in `frame`, off the async threads; `None` without an
    /// embedding model or when it fails.
    async fn embedding(&self, frame: &OwnedFrame, bbox: [f32; 4]) -> Option<Vec<f32>> {
        let embedder = Arc::clone(self.embedder.as_ref()?);
        let frame = frame.clone();
        tokio::task::spawn_blocking(move || {
            let mut e = embedder.lock().unwrap_or_else(PoisonError::into_inner);
            e.embed(
                &Frame {
                    width: frame.width,
                    height: frame.height,
                    rgb: &frame.rgb,
                },
                Some(bbox),
            )
            .map_err(|err| tracing::debug!(error = %err, "no embedding for this event"))
            .ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Whether `model` runs on worker replicas (not on each camera's own instance).
    fn is_pooled(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|m| m.name == model && m.pooled.is_some())
    }
}

/// Analytics of one camera; stops with the value.
pub struct CameraAnalytics {
    _sampler: Arc<FrameSampler>,
    task: tokio::task::JoinHandle<()>,
    rules: Arc<CameraRules>,
    camera: CameraId,
    tenant: TenantId,
    ctx: Arc<NodeContext>,
}

/// A camera's rules, and its tenant's inference share and licensed detectors, read from
/// PostgreSQL.
struct CameraRules {
    rules: RwLock<Vec<Rule>>,
    share: AtomicU32,
    /// The detectors the tenant's licence allows now: a rule on any other does not run, though
    /// it was allowed when it was made.
    licensed: RwLock<Vec<String>>,
}

impl Default for CameraRules {
    fn default() -> Self {
        Self {
            rules: RwLock::default(),
            share: AtomicU32::new(vms_messages::DEFAULT_INFERENCE_SHARE),
            licensed: RwLock::default(),
        }
    }
}

impl CameraRules {
    /// The rules to run on a frame: enabled, on a detector this node runs and the licence allows.
    fn runnable(&self, runs: impl Fn(&str) -> bool) -> Vec<Rule> {
        let licensed = self.licensed.read().unwrap_or_else(PoisonError::into_inner);
        self.rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| {
                r.enabled
                    && runs(&r.detector)
                    && (!*LICENCE_CHECKED || licensed.contains(&r.detector))
            })
            .cloned()
            .collect()
    }
}

/// Whether a rule runs only on a detector the licence allows now: always, unless a test set
/// `VMS_TEST_LICENCE_CHECK=off` for a node process to show that a withdrawn detector then keeps
/// running (so the licence test can fail). Nothing else may.
static LICENCE_CHECKED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    let off = std::env::var("VMS_TEST_LICENCE_CHECK").as_deref() == Ok("off");
    if off {
        tracing::warn!("VMS_TEST_LICENCE_CHECK=off runs withdrawn detectors: for tests only");
    }
    !off
});

/// The node's analytics as the recording actors see them: what starts a camera's analysis.
pub struct Detection {
    /// Node context (rules are read from its store).
    pub ctx: Arc<NodeContext>,
    /// The node's detectors and outbox.
    pub analytics: Arc<Analytics>,
    /// Where frames for pooled models go: the cluster's replicas.
    pub inference: Arc<dyn Inference>,
}

impl KeyframeAnalysis for Detection {
    fn runs(&self, name: &str) -> bool {
        self.analytics.runs(name)
    }

    fn start(
        &self,
        camera: &Camera,
        epoch: Option<i64>,
    ) -> Result<(Box<dyn CameraAnalysis>, KeyframeSink), String> {
        let (running, sink) =
            CameraAnalytics::start(self, camera, epoch).map_err(|e| e.to_string())?;
        Ok((Box::new(running), sink))
    }
}

impl CameraAnalysis for CameraAnalytics {
    fn reload(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            load_rules(&self.ctx, self.camera, &self.rules).await;
            load_licence(&self.ctx, self.camera, self.tenant, &self.rules).await;
        })
    }
}

impl Drop for CameraAnalytics {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CameraAnalytics {
    /// Starts sampling and the rules of `camera`, whose events carry the ownership `epoch`; returns
    /// it with the sink the pipeline feeds.
    pub fn start(
        detection: &Detection,
        camera: &Camera,
        epoch: Option<i64>,
    ) -> Result<(Self, KeyframeSink), crate::media::sampler::SamplerError> {
        let Detection {
            ctx,
            analytics,
            inference,
        } = detection;
        let (tx, rx) = mpsc::channel::<SampledFrame>(2);
        let label = camera.id.to_string();
        let (w, h) = analytics.sample;
        let sampler = Arc::new(FrameSampler::start(
            w,
            h,
            camera.sample_fps,
            move |frame| {
                crate::metrics::FRAMES_DECODED
                    .with_label_values(&[&label])
                    .inc();
                // A busy detector skips frames rather than falling behind; each skip is counted.
                if tx.try_send(frame).is_err() {
                    crate::metrics::FRAMES_DROPPED
                        .with_label_values(&[label.as_str(), "handoff"])
                        .inc();
                }
            },
        )?);
        let feed = Arc::clone(&sampler);
        let sink = KeyframeSink {
            feed: Arc::new(move |codec, picture, at| feed.push_keyframe(codec, picture, at)),
            every_frame: camera.sample_fps.is_some(),
        };
        let rules: Arc<CameraRules> = Arc::default();
        let task = tokio::spawn(run_rules(
            Arc::clone(ctx),
            Arc::clone(analytics),
            Arc::clone(inference),
            camera.clone(),
            Arc::clone(&rules),
            rx,
            epoch,
        ));
        let me = Self {
            _sampler: sampler,
            task,
            rules,
            camera: camera.id,
            tenant: camera.tenant_id,
            ctx: Arc::clone(ctx),
        };
        Ok((me, sink))
    }
}

async fn load_rules(ctx: &NodeContext, camera: CameraId, into: &CameraRules) {
    match ctx.store.camera_rules(TenantScope::All, camera).await {
        Ok(rules) => *into.rules.write().unwrap_or_else(PoisonError::into_inner) = rules,
        Err(e) => {
            tracing::warn!(camera_id = %camera, error = %e, "cannot read rules; keeping the previous ones")
        }
    }
}

/// Reads the inference share and licensed detectors of `tenant`, whose camera `camera` is, into
/// `into`: when the camera starts, and on every reload (a licence change reloads its tenant's
/// cameras, as reconciliation does).
async fn load_licence(ctx: &NodeContext, camera: CameraId, tenant: TenantId, into: &CameraRules) {
    match ctx.store.tenant(TenantScope::All, tenant).await {
        Ok(t) => {
            into.share.store(t.inference_share, Ordering::Relaxed);
            *into
                .licensed
                .write()
                .unwrap_or_else(PoisonError::into_inner) = t.allowed_detectors;
        }
        Err(e) => {
            tracing::warn!(camera_id = %camera, error = %e, "cannot read the tenant's licence; keeping the previous share and detectors")
        }
    }
}

async fn run_rules(
    ctx: Arc<NodeContext>,
    analytics: Arc<Analytics>,
    inference: Arc<dyn Inference>,
    camera: Camera,
    rules: Arc<CameraRules>,
    mut frames: mpsc::Receiver<SampledFrame>,
    // Events are written with the ownership epoch this camera's actor started under.
    epoch: Option<i64>,
) {
    load_rules(&ctx, camera.id, &rules).await;
    load_licence(&ctx, camera.id, camera.tenant_id, &rules).await;
    let tenant: Arc<str> = Arc::from(camera.tenant_id.to_string());
    let mut engine = RuleEngine::default();
    let mut builtins: HashMap<String, Option<Box<dyn Detector>>> = HashMap::new();
    let label = camera.id.to_string();
    // Detector time on this camera's frames is its tenant's usage.
    let usage = super::usage::tally(camera.tenant_id);
    while let Some(frame) = frames.recv().await {
        // The enabled rules, by the model they need.
        let mut by_model: Vec<(String, Vec<Rule>)> = Vec::new();
        for rule in rules.runnable(|d| analytics.runs(d)) {
            match by_model.iter_mut().find(|(m, _)| *m == rule.detector) {
                Some((_, list)) => list.push(rule),
                None => by_model.push((rule.detector.clone(), vec![rule])),
            }
        }
        if by_model.is_empty() {
            continue; // nothing to check: spend no detector time
        }
        crate::metrics::FRAMES_SAMPLED
            .with_label_values(&[&label])
            .inc();
        let job = OwnedFrame {
            width: frame.width,
            height: frame.height,
            rgb: frame.rgb,
        };
        // Every model the rules need works on the frame at once; built-in pixel detectors (well
        // under a millisecond) run here, on this camera's own instance.
        let deadline = std::time::Instant::now() + analytics.frame_deadline;
        let share = rules.share.load(Ordering::Relaxed);
        let runs = by_model.iter().map(|(model, model_rules)| {
            // A frame is high priority for a model when one of the rules it feeds is.
            let priority = if model_rules.iter().any(|r| r.priority == RulePriority::High) {
                Priority::High
            } else {
                Priority::Standard
            };
            let submitted = analytics.is_pooled(model).then(|| {
                inference.detect(
                    model,
                    job.clone(),
                    Submission {
                        priority,
                        tenant: Arc::clone(&tenant),
                        share,
                        deadline: Some(deadline),
                        busy: Some(Arc::clone(&usage.busy_nanos)),
                    },
                )
            });
            let inline = submitted.is_none().then(|| {
                let detector = builtins
                    .entry(model.clone())
                    .or_insert_with(|| vms_models::builtin::create(model));
                let started = std::time::Instant::now();
                let result = match detector {
                    Some(d) => d.detect(&Frame {
                        width: job.width,
                        height: job.height,
                        rgb: &job.rgb,
                    }),
                    None => Ok(Vec::new()),
                };
                let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
                usage.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
                result
            });
            async move {
                match (submitted, inline) {
                    (Some(pending), _) => pending.await,
                    (None, Some(result)) => Routed::Done(result),
                    (None, None) => Routed::Done(Ok(Vec::new())),
                }
            }
        });
        let results = futures_util::future::join_all(runs.collect::<Vec<_>>()).await;
        // Shed from a full queue, past its deadline, or no replica to take it: not run.
        let unrun = results.iter().find_map(|r| match r {
            Routed::Shed => Some("detector_queue"),
            Routed::NoReplica => Some("no_replica"),
            Routed::Done(Err(vms_models::DetectorError::Expired)) => Some("detector_deadline"),
            Routed::Done(_) => None,
        });
        let counter = if let Some(reason) = unrun {
            crate::metrics::FRAMES_DROPPED.with_label_values(&[label.as_str(), reason])
        } else {
            usage.frames.fetch_add(1, Ordering::Relaxed);
            crate::metrics::FRAMES_DETECTED.with_label_values(&[label.as_str()])
        };
        counter.inc();
        let mut hits = Vec::new();
        for ((model, model_rules), result) in by_model.iter().zip(results) {
            let detections = match result {
                Routed::Done(Ok(d)) => d,
                Routed::Done(Err(vms_models::DetectorError::Expired)) => continue, // counted above
                Routed::Done(Err(e)) => {
                    tracing::warn!(camera_id = %camera.id, model = %model, error = %e, "detector failed on a frame");
                    continue;
                }
                Routed::Shed | Routed::NoReplica => continue, // counted above
            };
            tracing::debug!(camera_id = %camera.id, model = %model, detections = ?detections, "sampled frame");
            hits.extend(engine.evaluate(model_rules, &detections, frame.at));
        }
        if hits.is_empty() {
            continue;
        }
        let snapshot = jpeg(&job).unwrap_or_default();
        for hit in hits {
            let Some(rule) = by_model
                .iter()
                .flat_map(|(_, r)| r)
                .find(|r| r.id == hit.rule)
            else {
                continue;
            };
            let event = Event {
                id: event_id(camera.id, &rule.id.to_string(), hit.bucket),
                tenant_id: camera.tenant_id,
                camera_id: camera.id,
                kind: rule.kind.clone(),
                rule: rule.name.clone(),
                rule_id: Some(rule.id),
                label: hit.label,
                score: hit.score,
                bbox: hit.bbox.to_vec(),
                at: frame.at,
                node: ctx.node_id().to_string(),
                has_snapshot: true,
                ticket_id: None,
            };
            crate::metrics::EVENTS_RAISED
                .with_label_values(&[&label])
                .inc();
            // What an object model found has an appearance; what a pixel detector found does not.
            let embedding = if analytics.is_pooled(&rule.detector) {
                analytics.embedding(&job, hit.bbox).await
            } else {
                None
            };
            match analytics
                .outbox
                .push(&event, &snapshot, embedding, epoch)
                .await
            {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    tracing::info!(event_id = %event.id, "node stopping; the event was not queued")
                }
                Err(e) => {
                    tracing::error!(event_id = %event.id, error = %e, "cannot queue event in the outbox")
                }
            }
        }
    }
}

fn jpeg(frame: &OwnedFrame) -> Option<Vec<u8>> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode(
            &frame.rgb,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )
        .ok()?;
    Some(out.into_inner())
}

/// Creates the `VMS_EVENTS` stream (deduplication window 5 minutes) with the age and size limits of
/// `nats`, or brings an existing stream's limits to them.
pub async fn ensure_stream(
    nats: &async_nats::Client,
    limits: &vms_config::NatsConfig,
) -> Result<(), String> {
    let js = async_nats::jetstream::new(nats.clone());
    let config = async_nats::jetstream::stream::Config {
        name: subjects::EVENTS_STREAM.into(),
        subjects: vec!["vms.events.>".into()],
        duplicate_window: Duration::from_secs(300),
        max_age: Duration::from_secs(u64::from(limits.events_max_age_days) * 86_400),
        max_bytes: i64::try_from(limits.events_max_bytes).unwrap_or(i64::MAX),
        discard: async_nats::jetstream::stream::DiscardPolicy::Old,
        ..Default::default()
    };
    let mut stream = js
        .get_or_create_stream(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let current = &stream.info().await.map_err(|e| e.to_string())?.config;
    if current.max_age != config.max_age || current.max_bytes != config.max_bytes {
        let updated = async_nats::jetstream::stream::Config {
            subjects: current.subjects.clone(),
            ..config
        };
        js.update_stream(updated).await.map_err(|e| e.to_string())?;
        tracing::info!(
            max_age_days = limits.events_max_age_days,
            max_bytes = limits.events_max_bytes,
            "events stream limits updated"
        );
    }
    Ok(())
}
