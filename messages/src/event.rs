//! Analytics events: what a rule saw, on which camera, when; stored once and published once.

use crate::ids::{CameraId, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    /// Deterministic id (camera, rule, time bucket): the same detection retried is the same event.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Camera.
    pub camera_id: CameraId,
    /// Kind, e.g. `intrusion`.
    pub kind: String,
    /// Rule that raised it.
    pub rule: String,
    /// Id of the rule that raised it (none: an escalation, or stored before rule ids were kept).
    /// Tickets group events by it, so a rule deleted and created again under its name is another.
    #[serde(default)]
    pub rule_id: Option<Uuid>,
    /// Detected class.
    pub label: String,
    /// Detector confidence.
    pub score: f32,
    /// Box `[x0, y0, x1, y1]`, fractions of the frame.
    pub bbox: Vec<f32>,
    /// When the frame was captured.
    pub at: DateTime<Utc>,
    /// Node that raised it.
    pub node: String,
    /// Whether a JPEG snapshot is at `/events/{id}/snapshot`.
    pub has_snapshot: bool,
    /// Ticket the event opened or joined (an escalation: the ticket escalated).
    #[serde(default)]
    pub ticket_id: Option<Uuid>,
}

/// Kind of the event raised when a ticket is not acknowledged within its tenant's limit.
pub const ESCALATION_KIND: &str = "escalation";

/// Id of a ticket's escalation event: a ticket is escalated once, whichever node sees it first.
pub fn escalation_event_id(ticket: Uuid) -> Uuid {
    Uuid::new_v5(&EVENT_NAMESPACE, format!("escalation/{ticket}").as_bytes())
}

/// One event with the recordings that cover it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// Segments of its camera overlapping `[at - overlap, at + overlap]` (the recording overlap),
    /// oldest first; the one being recorded appears once it is closed.
    pub segments: Vec<crate::Segment>,
}

/// An event that looks like another, with how much.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SimilarEvent {
    /// The event.
    pub event: Event,
    /// Cosine similarity of the appearance embeddings, up to 1.
    pub similarity: f32,
}

/// Events that look like one event, most alike first.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SimilarEvents {
    /// Most alike first.
    pub items: Vec<SimilarEvent>,
}

/// A page of events, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    /// Events, newest first.
    pub items: Vec<Event>,
    /// Cursor of the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of the event list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    /// Only this camera.
    pub camera: Option<CameraId>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only at or after.
    pub from: Option<DateTime<Utc>>,
    /// Only before.
    pub to: Option<DateTime<Utc>>,
    /// Only with at least this score.
    pub min_score: Option<f32>,
}

/// Deterministic event id: the same camera, rule and bucket always give the same id.
pub fn event_id(camera: CameraId, rule: &str, bucket: i64) -> Uuid {
    Uuid::new_v5(
        &EVENT_NAMESPACE,
        format!("{camera}/{rule}/{bucket}").as_bytes(),
    )
}

/// Namespace of event ids.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6a1b_0f9e_52c4_4b8e_9d8e_5f0a_7c3e_e001);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_deterministic() {
        let c = CameraId::new();
        assert_eq!(event_id(c, "intrusion", 7), event_id(c, "intrusion", 7));
        assert_ne!(event_id(c, "intrusion", 7), event_id(c, "intrusion", 8));
    }
}
