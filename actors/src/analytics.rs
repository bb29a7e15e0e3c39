//! Analytics of a node: one [`ModelWorker`] for the intrusion rule's model, shared by every camera,
//! and per camera a keyframe [`FrameSampler`] feeding a task that runs the rule and raises events.
//!
//! The rule (for now one per node, applied to cameras whose tenant licence lists the model): a
//! detection of the model's first class at or above `analytics.min_score` anywhere in the frame raises
//! an `intrusion` event, at most one per camera per `analytics.cooldown_seconds` bucket. The event id
//! is derived from (camera, rule, bucket), so it is stored once (`ON CONFLICT DO NOTHING`) and
//! published once (JetStream `Nats-Msg-Id` deduplication) however often it is retried.

use crate::context::NodeContext;
use crate::pipeline::KeyframeSink;
use crate::sampler::{FrameSampler, SampledFrame};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vms_config::AnalyticsConfig;
use vms_messages::event::event_id;
use vms_messages::{Camera, Event, subjects};
use vms_models::worker::DetectorFactory;
use vms_models::{
    Detector, Manifest, ModelError, ModelWorker, OnnxDetector, OwnedFrame, Priority, runtime,
};

/// Name of the node's one rule.
pub const INTRUSION: &str = "intrusion";

/// The node's model worker and rule settings.
pub struct Analytics {
    worker: ModelWorker,
    model: String,
    label: String,
    input: (u32, u32),
    min_score: f32,
    cooldown: i64,
}

impl Analytics {
    /// Loads the rule's model and starts its worker.
    pub fn start(config: &AnalyticsConfig) -> Result<Self, ModelError> {
        let env = runtime::environment(config.onnxruntime.as_deref())?;
        let zoo = config
            .zoo_dir
            .clone()
            .unwrap_or_else(vms_models::registry::default_zoo);
        let manifest = Manifest::load(&zoo.join(&config.model))?;
        let label = manifest.labels.first().cloned().unwrap_or_default();
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
            label,
            input,
            min_score: config.min_score,
            cooldown: i64::from(config.cooldown_seconds),
        })
    }

    /// The model the rule runs, as a tenant licence names it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The worker's counters.
    pub fn worker_stats(&self) -> vms_models::worker::WorkerStats {
        self.worker.stats()
    }
}

/// Analytics of one camera; stops with the value.
pub struct CameraAnalytics {
    _sampler: Arc<FrameSampler>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CameraAnalytics {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CameraAnalytics {
    /// Starts sampling and the rule for `camera`; returns it with the sink the pipeline feeds.
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
        let sink = KeyframeSink(Arc::new(move |params, au, at| {
            feed.push_keyframe(params, au, at)
        }));
        let task = tokio::spawn(run_rule(
            Arc::clone(ctx),
            Arc::clone(analytics),
            camera.clone(),
            rx,
        ));
        Ok((
            Self {
                _sampler: sampler,
                task,
            },
            sink,
        ))
    }
}

async fn run_rule(
    ctx: Arc<NodeContext>,
    analytics: Arc<Analytics>,
    camera: Camera,
    mut frames: mpsc::Receiver<SampledFrame>,
) {
    let mut last_bucket = None;
    let label = camera.id.to_string();
    while let Some(frame) = frames.recv().await {
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
        let Some(best) = detections
            .iter()
            .filter(|d| d.label == analytics.label && d.score >= analytics.min_score)
            .max_by(|a, b| a.score.total_cmp(&b.score))
        else {
            continue;
        };
        let bucket = frame.at.timestamp().div_euclid(analytics.cooldown);
        if last_bucket == Some(bucket) {
            continue;
        }
        last_bucket = Some(bucket);
        let event = Event {
            id: event_id(camera.id, INTRUSION, bucket),
            tenant_id: camera.tenant_id,
            camera_id: camera.id,
            kind: INTRUSION.into(),
            rule: INTRUSION.into(),
            label: best.label.clone(),
            score: best.score,
            bbox: best.bbox.to_vec(),
            at: frame.at,
            node: ctx.node_id().to_string(),
            has_snapshot: true,
        };
        crate::metrics::EVENTS_RAISED
            .with_label_values(&[&label])
            .inc();
        let snapshot = jpeg(&job).unwrap_or_default();
        deliver(&ctx, &event, &snapshot).await;
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

/// Stores the event (retrying while PostgreSQL is away) and publishes it to JetStream with its id as
/// `Nats-Msg-Id`.
async fn deliver(ctx: &NodeContext, event: &Event, snapshot: &[u8]) {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=20 {
        match ctx.store.insert_event(event, Some(snapshot)).await {
            Ok(new) => {
                if new {
                    crate::metrics::EVENTS_STORED
                        .with_label_values(&[&event.camera_id.to_string()])
                        .inc();
                    tracing::info!(event_id = %event.id, camera_id = %event.camera_id, score = event.score, "event");
                }
                break;
            }
            Err(e) if attempt < 20 => {
                tracing::warn!(error = %e, attempt, "cannot store event; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(error = %e, event_id = %event.id, "event not stored");
                return;
            }
        }
    }
    let Some(nats) = &ctx.nats else { return };
    let js = async_nats::jetstream::new(nats.clone());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.id.to_string().as_str());
    let subject = subjects::event(event.tenant_id, event.camera_id, &event.kind);
    let payload = serde_json::to_vec(event).unwrap_or_default();
    match js
        .publish_with_headers(subject, headers, payload.into())
        .await
    {
        Ok(ack) => {
            if let Err(e) = ack.await {
                tracing::warn!(error = %e, event_id = %event.id, "event not acknowledged by JetStream");
            }
        }
        Err(e) => tracing::warn!(error = %e, event_id = %event.id, "cannot publish event"),
    }
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
