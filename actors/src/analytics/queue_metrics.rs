//! [`QueueMetrics`]: what a model worker's queues do, per tenant and priority, as Prometheus
//! metrics (`vms_inference_queued`, `_dropped_total`, `_served_total`, `_wait_seconds`).

use crate::metrics::{INFERENCE_DROPPED, INFERENCE_QUEUED, INFERENCE_SERVED, INFERENCE_WAIT};
use std::time::Duration;
use vms_models::{DropReason, Priority, QueueObserver};

/// The metrics of one model's worker.
pub struct QueueMetrics {
    model: String,
}

impl QueueMetrics {
    /// Metrics labelled with `model`.
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_string(),
        }
    }
}

impl QueueObserver for QueueMetrics {
    fn queued(&self, tenant: &str, priority: Priority, depth: usize) {
        INFERENCE_QUEUED
            .with_label_values(&[&self.model, tenant, priority.as_str()])
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    fn dropped(&self, tenant: &str, priority: Priority, reason: DropReason) {
        INFERENCE_DROPPED
            .with_label_values(&[&self.model, tenant, priority.as_str(), reason.as_str()])
            .inc();
    }

    fn served(&self, tenant: &str, priority: Priority, waited: Duration) {
        let labels = [self.model.as_str(), tenant, priority.as_str()];
        INFERENCE_SERVED.with_label_values(&labels).inc();
        INFERENCE_WAIT
            .with_label_values(&labels)
            .observe(waited.as_secs_f64());
    }
}
