//! Watching recorded video: stream tokens for players, the timeline of a camera's footage, and
//! the playback range a playlist covers.

use crate::error::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Shortest lifetime of a stream token, in seconds.
pub const MIN_STREAM_TOKEN_SECONDS: u32 = 30;
/// Longest lifetime of a stream token, in seconds.
pub const MAX_STREAM_TOKEN_SECONDS: u32 = 3600;
/// Lifetime of a stream token when the request names none, in seconds.
pub const DEFAULT_STREAM_TOKEN_SECONDS: u32 = 300;
/// Longest range one playlist or timeline covers, in hours.
pub const MAX_PLAYBACK_HOURS: i64 = 24;
/// Most buckets a timeline answer holds.
pub const MAX_TIMELINE_BUCKETS: u32 = 2000;

/// Request body for a stream token.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamTokenRequest {
    /// Lifetime in seconds, 30-3600 (default 300).
    #[schema(minimum = 30, maximum = 3600)]
    pub ttl_seconds: Option<u32>,
}

impl StreamTokenRequest {
    /// The lifetime asked for, or the field at fault.
    pub fn ttl(&self) -> Result<u32, FieldError> {
        let ttl = self.ttl_seconds.unwrap_or(DEFAULT_STREAM_TOKEN_SECONDS);
        if !(MIN_STREAM_TOKEN_SECONDS..=MAX_STREAM_TOKEN_SECONDS).contains(&ttl) {
            return Err(FieldError::new(
                "ttl_seconds",
                format!("must be {MIN_STREAM_TOKEN_SECONDS}-{MAX_STREAM_TOKEN_SECONDS} seconds"),
            ));
        }
        Ok(ttl)
    }
}

/// A stream token: put it in a media URL as `?token=` where a player cannot send headers. It is
/// good for this camera's video only (playlists, their segments, snapshots, the timeline), for no
/// other camera and for no other API call.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamToken {
    /// The token.
    pub token: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The camera's recorded-video playlist for the last hour, with the token in it.
    pub playlist_url: String,
}

/// Checks a playback range: `to` after `from` and at most `max_hours` later.
pub fn validate_range(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    max_hours: i64,
) -> Result<(), FieldError> {
    if to <= from {
        return Err(FieldError::new("to", "must be after from"));
    }
    if to - from > chrono::Duration::hours(max_hours) {
        return Err(FieldError::new(
            "to",
            format!("a range covers at most {max_hours} hours"),
        ));
    }
    Ok(())
}

/// Why a camera has no footage for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GapReason {
    /// The camera was not sending video (unreachable, or disabled).
    CameraOffline,
    /// The camera moved to another node (its node failed or was drained): recording resumed
    /// there.
    NodeFailover,
    /// The tenant's licence is suspended.
    LicenceSuspended,
    /// Nothing recorded yet at the start of the range, or retention deleted it.
    NotRecorded,
}

/// A stretch of continuous recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineSpan {
    /// Its start.
    pub from: DateTime<Utc>,
    /// Its end.
    pub to: DateTime<Utc>,
    /// Segments in it.
    pub segments: u32,
}

/// A stretch without footage, with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineGap {
    /// Its start.
    pub from: DateTime<Utc>,
    /// Its end.
    pub to: DateTime<Utc>,
    /// Why nothing was recorded.
    pub reason: GapReason,
}

/// An event on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineEvent {
    /// Event id.
    pub id: Uuid,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its kind (`intrusion`, `loitering`, …).
    pub kind: String,
}

/// One bucket of the scrub bar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineBucket {
    /// Its start.
    pub from: DateTime<Utc>,
    /// Share of it with footage, 0-1000 (per mille).
    pub recorded_permille: u16,
    /// Events in it.
    pub events: u32,
}

/// A camera's footage over a range: what a scrub bar draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timeline {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Recorded stretches, in order (segments less than 2 s apart join one span).
    pub spans: Vec<TimelineSpan>,
    /// The stretches between them (and at the range's ends) with their reasons.
    pub gaps: Vec<TimelineGap>,
    /// Events in the range, oldest first (at most 1000).
    pub events: Vec<TimelineEvent>,
    /// The range cut in `buckets` equal parts.
    pub buckets: Vec<TimelineBucket>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_token_lifetimes_name_the_field_at_fault() {
        let at = |s| DateTime::from_timestamp(s, 0).expect("time");
        assert!(validate_range(at(0), at(60), 1).is_ok());
        assert_eq!(validate_range(at(60), at(0), 1).unwrap_err().field, "to");
        assert_eq!(validate_range(at(0), at(7201), 2).unwrap_err().field, "to");
        let ttl = |t| StreamTokenRequest { ttl_seconds: t }.ttl();
        assert_eq!(ttl(None).ok(), Some(DEFAULT_STREAM_TOKEN_SECONDS));
        assert_eq!(ttl(Some(5)).unwrap_err().field, "ttl_seconds");
        assert_eq!(ttl(Some(7200)).unwrap_err().field, "ttl_seconds");
    }
}
