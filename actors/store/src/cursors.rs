//! Keyset pagination cursors: opaque to clients, decoded and checked here.

use crate::StoreError;
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;
use vms_messages::Segment;

/// Cursor of a list ordered by id: the last id seen.
pub(crate) fn decode_id_cursor(cursor: Option<&str>) -> Result<Uuid, StoreError> {
    match cursor {
        None => Ok(Uuid::nil()),
        Some(c) => Uuid::parse_str(c).map_err(|_| StoreError::InvalidCursor),
    }
}

/// Cursor of a segment list: `<start micros>_<id>` of the last item.
pub(crate) fn decode_segment_cursor(
    cursor: Option<&str>,
) -> Result<Option<(DateTime<Utc>, i64)>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let (micros, id) = c.split_once('_').ok_or(StoreError::InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
    let id: i64 = id.parse().map_err(|_| StoreError::InvalidCursor)?;
    let ts = Utc
        .timestamp_micros(micros)
        .single()
        .ok_or(StoreError::InvalidCursor)?;
    Ok(Some((ts, id)))
}

/// Cursor of a newest-first list keyed by time and id: `<micros>_<uuid>` of the last item.
pub(crate) fn decode_time_id_cursor(
    cursor: Option<&str>,
) -> Result<Option<(DateTime<Utc>, Uuid)>, StoreError> {
    let Some(c) = cursor else { return Ok(None) };
    let (micros, id) = c.split_once('_').ok_or(StoreError::InvalidCursor)?;
    let micros: i64 = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
    let id = Uuid::parse_str(id).map_err(|_| StoreError::InvalidCursor)?;
    let at = Utc
        .timestamp_micros(micros)
        .single()
        .ok_or(StoreError::InvalidCursor)?;
    Ok(Some((at, id)))
}

/// Encodes a time-and-id cursor.
pub(crate) fn time_id_cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{id}", at.timestamp_micros())
}

/// Encodes the cursor after `segment`.
pub fn segment_cursor(segment: &Segment) -> String {
    format!("{}_{}", segment.start.timestamp_micros(), segment.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vms_messages::{CameraId, SegmentOrigin, TenantId};

    #[test]
    fn segment_cursor_round_trips() {
        let seg = Segment {
            id: 42,
            camera_id: CameraId::new(),
            tenant_id: TenantId::new(),
            seq: 1,
            start: Utc
                .timestamp_micros(1_700_000_000_123_456)
                .single()
                .expect("ts"),
            end: Utc::now(),
            duration_ms: 0,
            bytes: 0,
            node: "n".into(),
            media_url: String::new(),
            origin: SegmentOrigin::Live,
            media: Default::default(),
            copies: Default::default(),
        };
        let c = segment_cursor(&seg);
        assert_eq!(
            decode_segment_cursor(Some(&c)).expect("decodes"),
            Some((seg.start, 42))
        );
        assert!(matches!(
            decode_segment_cursor(Some("x")),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_segment_cursor(Some("1_b")),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_id_cursor(Some("nope")),
            Err(StoreError::InvalidCursor)
        ));
    }
}
