//! Analytics of a node: one [`ModelWorker`] for the node's model, shared by every camera, and per camera
//! a keyframe [`FrameSampler`] feeding a task that checks the camera's rules and raises events.
//!
//! Cameras whose tenant licence lists the node's model are sampled; the camera's enabled rules for that
//! model are checked on every sampled frame by its [`RuleEngine`] (intrusion, loitering, line crossing,
//! crowd; schedules; at most one event per rule per cooldown bucket). Events go to the node's [`Outbox`] on disk, which stores and publishes
//! them; the event id is derived from (camera, rule, bucket), so it is stored once (`ON CONFLICT DO
//! NOTHING`) and published once (JetStream `Nats-Msg-Id` deduplication) however often it is retried.

use crate::context::NodeContext;
use crate::outbox::Outbox;
use crate::pipeline::KeyframeSink;
use crate::rules::RuleEngine;
use crate::sampler::{FrameSampler, SampledFrame};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use vms_config::AnalyticsConfig;
use vms_messages::event::event_id;
use vms_messages::{Camera, CameraId, Event, Rule, TenantScope, subjects};
use vms_models::worker::DetectorFactory;
use vms_models::{
    Detector, Manifest, ModelError, ModelWorker, OnnxDetector, OwnedFrame, Priority, runtime,
};

/// The node's model worker.
pub struct Analytics {
    worker: ModelWorker,
    model: String,
    input: (u32, u32),
    outbox: Arc<Outbox>,
}

impl Analytics {
    /// Loads the node's model and starts its worker; events go to `outbox`.
    pub fn start(config: &AnalyticsConfig, outbox: Arc<Outbox>) -> Result<Self, ModelError> {
        let env = runtime::environment(config.onnxruntime.as_deref())?;
        let zoo = config
            .zoo_dir
            .clone()
            .unwrap_or_else(vms_models::registry::default_zoo);
        let manifest = Manifest::load(&zoo.join(&config.model))?;
        let input = (manifest.input.width, manifest.input.height);
        let threads = config.intra_threads;
        let factory: DetectorFactory = Arc::new(move || {
            Ok(Box::new(OnnxDetector::open(manifest.clone(), env, threads)?) as Box<dyn Detector>)
        });
        let worker = ModelWorker::start(&config.model, factory, config.workers, 64)?;
        tracing::info!(model = %config.model, workers = config.workers, "analytics started");
        Ok(Self {
            worker,
            model: config.model.clone(),
            input,
            outbox,
        })
    }

    /// The model rules may name, as tenant licences name it.
    pub fn model(&self) -> &str {
        &self.model
    }
}

/// Analytics of one camera; stops with the value.
pub struct CameraAnalytics {
    _sampler: Arc<FrameSampler>,
    task: tokio::task::JoinHandle<()>,
    rules: Arc<RwLock<Vec<Rule>>>,
    camera: CameraId,
}

impl Drop for CameraAnalytics {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CameraAnalytics {
    /// Starts sampling and the rules of `camera`; returns it with the sink the pipeline feeds.
    pub fn start(
        ctx: &Arc<NodeContext>,
        analytics: &Arc<Analytics>,
        camera: &Camera,
    ) -> Result<(Self, KeyframeSink), crate::pipeline::PipelineError> {
        let (tx, rx) = mpsc::channel::<SampledFrame>(2);
        let (w, h) = analytics.input;
        let sampler = Arc::new(FrameSampler::start(w, h, move |frame| {
            // A busy detector skips frames rather than falling behind.
            let _ = tx.try_send(frame);
        })?);
        let feed = Arc::clone(&sampler);
        let sink = KeyframeSink(Arc::new(move |picture, at| feed.push_keyframe(picture, at)));
        let rules: Arc<RwLock<Vec<Rule>>> = Arc::default();
        let task = tokio::spawn(run_rules(
            Arc::clone(ctx),
            Arc::clone(analytics),
            camera.clone(),
            Arc::clone(&rules),
            rx,
        ));
        let me = Self {
            _sampler: sampler,
            task,
            rules,
            camera: camera.id,
        };
        Ok((me, sink))
    }

    /// Re-reads the camera's rules (after a change through the API).
    pub async fn reload(&self, ctx: &NodeContext) {
        load_rules(ctx, self.camera, &self.rules).await;
    }
}

async fn load_rules(ctx: &NodeContext, camera: CameraId, into: &RwLock<Vec<Rule>>) {
    match ctx.store.camera_rules(TenantScope::All, camera).await {
        Ok(rules) => *into.write().unwrap_or_else(PoisonError::into_inner) = rules,
        Err(e) => {
            tracing::warn!(camera_id = %camera, error = %e, "cannot read rules; keeping the previous ones")
        }
    }
}

async fn run_rules(
    ctx: Arc<NodeContext>,
    analytics: Arc<Analytics>,
    camera: Camera,
    rules: Arc<RwLock<Vec<Rule>>>,
    mut frames: mpsc::Receiver<SampledFrame>,
) {
    load_rules(&ctx, camera.id, &rules).await;
    let mut engine = RuleEngine::default();
    let label = camera.id.to_string();
    while let Some(frame) = frames.recv().await {
        let active: Vec<Rule> = rules
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.enabled && r.detector == analytics.model)
            .cloned()
            .collect();
        if active.is_empty() {
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
        let detections = match analytics
            .worker
            .submit(job.clone(), Priority::Standard)
            .await
        {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(camera_id = %camera.id, error = %e, "detector failed on a frame");
                continue;
            }
            Err(_) => continue, // dropped by a full queue
        };
        tracing::debug!(camera_id = %camera.id, detections = ?detections, "sampled frame");
        let hits = engine.evaluate(&active, &detections, frame.at);
        if hits.is_empty() {
            continue;
        }
        let snapshot = jpeg(&job).unwrap_or_default();
        for hit in hits {
            let Some(rule) = active.iter().find(|r| r.id == hit.rule) else {
                continue;
            };
            let event = Event {
                id: event_id(camera.id, &rule.id.to_string(), hit.bucket),
                tenant_id: camera.tenant_id,
                camera_id: camera.id,
                kind: rule.kind.clone(),
                rule: rule.name.clone(),
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
            if let Err(e) = analytics.outbox.push(&event, &snapshot).await {
                tracing::error!(event_id = %event.id, error = %e, "cannot queue event in the outbox");
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

/// Creates the `VMS_EVENTS` stream if it does not exist (deduplication window 5 minutes).
pub async fn ensure_stream(nats: &async_nats::Client) -> Result<(), String> {
    let js = async_nats::jetstream::new(nats.clone());
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: subjects::EVENTS_STREAM.into(),
        subjects: vec!["vms.events.>".into()],
        duplicate_window: Duration::from_secs(300),
        ..Default::default()
    })
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}
