//! Evidence holds: ranges of a camera's footage that retention never deletes until released.

use crate::error::FieldError;
use crate::ids::{CameraId, TenantId};
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Longest range one hold may cover.
pub const MAX_HOLD_DAYS: i64 = 366;
/// How much footage before and after an event a hold on the event keeps.
pub const EVENT_HOLD_MARGIN_SECONDS: i64 = 30;

/// An evidence hold: the camera's footage from `from` to `to` is kept, whatever retention days,
/// storage quota or disk pressure say, until the hold is released (deleted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Hold {
    /// Hold id.
    pub id: Uuid,
    /// The camera's tenant.
    pub tenant_id: TenantId,
    /// The camera whose footage is held.
    pub camera_id: CameraId,
    /// Start of the held footage.
    pub from: DateTime<Utc>,
    /// End of the held footage.
    pub to: DateTime<Utc>,
    /// Why it is held (a case number, "event intrusion", …).
    pub reason: String,
    /// The event this hold keeps (with its footage), when it was made by marking an event.
    pub event_id: Option<Uuid>,
    /// The export this hold keeps the footage of (released by deleting the export).
    pub export_id: Option<Uuid>,
    /// Who placed it (the user's e-mail).
    pub created_by: String,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
}

/// Request body to place a hold.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldCreate {
    /// The camera whose footage to hold.
    #[schema(value_type = String, format = Uuid)]
    pub camera_id: CameraId,
    /// Start of the footage to hold (RFC 3339).
    pub from: DateTime<Utc>,
    /// End of the footage to hold (RFC 3339), after `from` and at most 366 days after it.
    pub to: DateTime<Utc>,
    /// Why it is held (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub reason: String,
}

impl HoldCreate {
    /// Checks every field, naming the first one at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.to <= self.from {
            return Err(FieldError::new("to", "must be after from"));
        }
        if self.to - self.from > chrono::Duration::days(MAX_HOLD_DAYS) {
            return Err(FieldError::new(
                "to",
                format!("a hold covers at most {MAX_HOLD_DAYS} days"),
            ));
        }
        validate_name("reason", &self.reason)
    }
}

/// A page of holds.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HoldPage {
    /// Holds, by id.
    pub items: Vec<Hold>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(from: i64, to: i64, reason: &str) -> HoldCreate {
        let at = |s| DateTime::from_timestamp(s, 0).expect("time");
        HoldCreate {
            camera_id: CameraId::new(),
            from: at(from),
            to: at(to),
            reason: reason.into(),
        }
    }

    #[test]
    fn a_hold_needs_a_forward_range_of_at_most_a_year_and_a_reason() {
        assert!(hold(0, 60, "case 12").validate().is_ok());
        assert_eq!(hold(60, 60, "x").validate().unwrap_err().field, "to");
        assert_eq!(
            hold(0, 400 * 86_400, "x").validate().unwrap_err().field,
            "to"
        );
        assert_eq!(hold(0, 60, " ").validate().unwrap_err().field, "reason");
    }
}
