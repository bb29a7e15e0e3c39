//! What players read: a camera's segments over a range as one line without overlaps (HLS, exports)
//! and its timeline (recorded spans, gaps with why, events, scrub-bar buckets).

use crate::SegmentFile;
use crate::segments::SEGMENT_COLS;
use crate::{Store, StoreError, scope_param};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use vms_messages::{
    CameraId, GapReason, TenantScope, Timeline, TimelineBucket, TimelineEvent, TimelineGap,
    TimelineSpan,
};

/// Most segments one playback query returns (24 hours of 5 s segments, with room).
pub const MAX_PLAYBACK_SEGMENTS: i64 = 20_000;
/// Segments closer than this (milliseconds) belong to one span.
pub const SPAN_JOIN_MS: i64 = 2000;
/// Most events a timeline lists.
const MAX_TIMELINE_EVENTS: i64 = 1000;

/// One recorded stretch as the timeline needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// First frame.
    pub start: DateTime<Utc>,
    /// Just after the last frame.
    pub end: DateTime<Utc>,
    /// The node that recorded it.
    pub node: String,
}

impl Store {
    /// The segments of `camera` (within `scope`, else NotFound) overlapping `from..to`, oldest
    /// first, as one line (see [`one_line`]: of two copies of the same time, the longer plays).
    pub async fn playback_segments(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<SegmentFile>, StoreError> {
        self.camera(scope, camera).await?;
        let rows = self
            .segment_files(
                &format!(
                    "SELECT {SEGMENT_COLS} FROM segments
                     WHERE camera_id = $1 AND end_ts > $2 AND start_ts < $3
                       AND ($4::uuid IS NULL OR tenant_id = $4)
                     ORDER BY start_ts, id LIMIT $5"
                ),
                &[
                    &camera.0,
                    &from,
                    &to,
                    &scope_param(scope),
                    &MAX_PLAYBACK_SEGMENTS,
                ],
            )
            .await?;
        Ok(one_line(rows, |f| (f.segment.start, f.segment.end)))
    }

    /// The fMP4 segment of `camera` (within `scope`, else NotFound) holding `at` (or the latest
    /// before it; the latest of all when `at` is `None`); `None` when there is none.
    pub async fn segment_at(
        &self,
        scope: TenantScope,
        camera: CameraId,
        at: Option<DateTime<Utc>>,
    ) -> Result<Option<SegmentFile>, StoreError> {
        self.camera(scope, camera).await?;
        Ok(self
            .segment_files(
                &format!(
                    "SELECT {SEGMENT_COLS} FROM segments
                     WHERE camera_id = $1 AND container = 'fmp4' AND init_len IS NOT NULL
                       AND ($2::timestamptz IS NULL OR start_ts <= $2)
                       AND ($3::uuid IS NULL OR tenant_id = $3)
                     ORDER BY start_ts DESC, id DESC LIMIT 1"
                ),
                &[&camera.0, &at, &scope_param(scope)],
            )
            .await?
            .pop())
    }

    /// The timeline of `camera` (within `scope`, else NotFound) over `from..to` in `buckets`.
    pub async fn timeline(
        &self,
        scope: TenantScope,
        camera: CameraId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        buckets: u32,
    ) -> Result<Timeline, StoreError> {
        let cam = self.camera(scope, camera).await?;
        let client = self.pool.get().await?;
        let recorded = client
            .query(
                "SELECT start_ts, end_ts, node FROM segments
                 WHERE camera_id = $1 AND end_ts > $2 AND start_ts < $3
                 ORDER BY start_ts, id LIMIT $4",
                &[&camera.0, &from, &to, &MAX_PLAYBACK_SEGMENTS],
            )
            .await?
            .iter()
            .map(|r| Recorded {
                start: r.get(0),
                end: r.get(1),
                node: r.get(2),
            })
            .collect();
        let events = client
            .query(
                "SELECT id, at, kind FROM events WHERE camera_id = $1 AND at >= $2 AND at < $3
                 ORDER BY at, id LIMIT $4",
                &[&camera.0, &from, &to, &MAX_TIMELINE_EVENTS],
            )
            .await?
            .iter()
            .map(|r| TimelineEvent {
                id: r.get::<_, Uuid>(0),
                at: r.get(1),
                kind: r.get(2),
            })
            .collect();
        let expires: Option<DateTime<Utc>> = client
            .query_opt(
                "SELECT expires_at FROM tenants WHERE id = $1",
                &[&cam.tenant_id.0],
            )
            .await?
            .and_then(|r| r.get(0));
        Ok(timeline(
            TimelineInput {
                from,
                to,
                now: Utc::now(),
                buckets,
                licence_expires: expires,
            },
            one_line(recorded, |r| (r.start, r.end)),
            events,
        ))
    }
}

/// `items` (in start order) as one line: of two that overlap by more than 500 ms (copies of the
/// same time: a node's recovered or fenced segment beside the new owner's), the longer is kept.
pub fn one_line<T>(items: Vec<T>, range: impl Fn(&T) -> (DateTime<Utc>, DateTime<Utc>)) -> Vec<T> {
    let overlap = Duration::milliseconds(500);
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    'items: for item in items {
        let (start, end) = range(&item);
        while let Some(last) = out.last() {
            let (last_start, last_end) = range(last);
            if start >= last_end - overlap {
                break;
            }
            if end - start <= last_end - last_start {
                continue 'items;
            }
            out.pop();
        }
        out.push(item);
    }
    out
}

/// What a timeline is computed over, beside the footage and the events.
#[derive(Clone, Copy, Debug)]
pub struct TimelineInput {
    /// Start of the range.
    pub from: DateTime<Utc>,
    /// End of the range.
    pub to: DateTime<Utc>,
    /// Now: no gap is reported in the future.
    pub now: DateTime<Utc>,
    /// Buckets wanted (at least 1).
    pub buckets: u32,
    /// When the tenant's licence expires (or expired).
    pub licence_expires: Option<DateTime<Utc>>,
}

/// The timeline over `input`'s range of `recorded` (one line, in order) and `events`.
pub fn timeline(
    input: TimelineInput,
    recorded: Vec<Recorded>,
    events: Vec<TimelineEvent>,
) -> Timeline {
    let (from, to) = (input.from, input.to);
    let mut spans: Vec<(TimelineSpan, String, String)> = Vec::new();
    for r in &recorded {
        let (start, end) = (r.start.max(from), r.end.min(to));
        match spans.last_mut() {
            Some((span, _, last_node)) if (start - span.to).num_milliseconds() <= SPAN_JOIN_MS => {
                span.to = span.to.max(end);
                span.segments += 1;
                last_node.clone_from(&r.node);
            }
            _ => spans.push((
                TimelineSpan {
                    from: start,
                    to: end,
                    segments: 1,
                },
                r.node.clone(),
                r.node.clone(),
            )),
        }
    }
    let suspended = |at: DateTime<Utc>| input.licence_expires.is_some_and(|e| at >= e);
    let mut gaps = Vec::new();
    let horizon = to.min(input.now);
    let mut cursor = from;
    let mut previous_node: Option<&str> = None;
    for (span, first_node, last_node) in &spans {
        if (span.from - cursor).num_milliseconds() > SPAN_JOIN_MS {
            let reason = if suspended(cursor) {
                GapReason::LicenceSuspended
            } else {
                match previous_node {
                    None => GapReason::NotRecorded,
                    Some(node) if node != first_node => GapReason::NodeFailover,
                    Some(_) => GapReason::CameraOffline,
                }
            };
            gaps.push(TimelineGap {
                from: cursor,
                to: span.from,
                reason,
            });
        }
        cursor = span.to;
        previous_node = Some(last_node);
    }
    if (horizon - cursor).num_milliseconds() > SPAN_JOIN_MS {
        gaps.push(TimelineGap {
            from: cursor,
            to: horizon,
            reason: if suspended(cursor) {
                GapReason::LicenceSuspended
            } else if previous_node.is_none() {
                GapReason::NotRecorded
            } else {
                GapReason::CameraOffline
            },
        });
    }
    let spans: Vec<TimelineSpan> = spans.into_iter().map(|(s, _, _)| s).collect();
    let buckets = buckets(&input, &spans, &events);
    Timeline {
        from,
        to,
        spans,
        gaps,
        events,
        buckets,
    }
}

/// The range cut into `input.buckets` equal parts, each with its recorded share and events.
fn buckets(
    input: &TimelineInput,
    spans: &[TimelineSpan],
    events: &[TimelineEvent],
) -> Vec<TimelineBucket> {
    let n = i64::from(input.buckets.max(1));
    let total_ms = (input.to - input.from).num_milliseconds().max(1);
    (0..n)
        .map(|i| {
            let start = input.from + Duration::milliseconds(total_ms * i / n);
            let end = input.from + Duration::milliseconds(total_ms * (i + 1) / n);
            let len = (end - start).num_milliseconds().max(1);
            let covered: i64 = spans
                .iter()
                .map(|s| {
                    (s.to.min(end) - s.from.max(start))
                        .num_milliseconds()
                        .max(0)
                })
                .sum();
            TimelineBucket {
                from: start,
                recorded_permille: u16::try_from((covered * 1000 / len).clamp(0, 1000))
                    .unwrap_or(1000),
                events: u32::try_from(
                    events
                        .iter()
                        .filter(|e| e.at >= start && e.at < end)
                        .count(),
                )
                .unwrap_or(u32::MAX),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time")
    }

    fn rec(start: i64, end: i64, node: &str) -> Recorded {
        Recorded {
            start: at(start),
            end: at(end),
            node: node.into(),
        }
    }

    #[test]
    fn gaps_say_why_and_buckets_count_footage_and_events() {
        let input = TimelineInput {
            from: at(0),
            to: at(100),
            now: at(200),
            buckets: 4,
            licence_expires: Some(at(80)),
        };
        let recorded = vec![
            rec(10, 15, "a"),
            rec(15, 20, "a"),
            rec(30, 35, "a"),
            rec(40, 45, "b"),
            rec(45, 50, "b"),
        ];
        let event = TimelineEvent {
            id: Uuid::nil(),
            at: at(31),
            kind: "intrusion".into(),
        };
        let t = timeline(input, one_line(recorded, |r| (r.start, r.end)), vec![event]);
        assert_eq!(t.spans.len(), 3);
        assert_eq!(
            (t.spans[0].from, t.spans[0].to, t.spans[0].segments),
            (at(10), at(20), 2)
        );
        let reasons: Vec<_> = t.gaps.iter().map(|g| (g.from, g.to, g.reason)).collect();
        assert_eq!(
            reasons,
            [
                (at(0), at(10), GapReason::NotRecorded),
                (at(20), at(30), GapReason::CameraOffline),
                (at(35), at(40), GapReason::NodeFailover),
                (at(50), at(100), GapReason::CameraOffline),
            ]
        );
        assert_eq!(t.buckets.len(), 4);
        // 0-25 s: 10 s recorded; 25-50 s: 15 s recorded and the event.
        assert_eq!(t.buckets[0].recorded_permille, 400);
        assert_eq!(
            (t.buckets[1].recorded_permille, t.buckets[1].events),
            (600, 1)
        );
        assert_eq!(t.buckets[3].recorded_permille, 0);
        let late = timeline(
            TimelineInput {
                licence_expires: Some(at(50)),
                ..input
            },
            vec![rec(10, 50, "a")],
            Vec::new(),
        );
        assert_eq!(
            late.gaps.last().map(|g| g.reason),
            Some(GapReason::LicenceSuspended)
        );
    }

    #[test]
    fn overlapping_copies_are_played_once_the_longer_kept() {
        let line = |items| one_line(items, |r: &Recorded| (r.start, r.end));
        assert_eq!(
            line(vec![rec(0, 5, "a"), rec(2, 7, "b"), rec(5, 10, "a")]),
            [rec(0, 5, "a"), rec(5, 10, "a")]
        );
        // A short recovered copy gives way to the whole segment it overlaps.
        assert_eq!(
            line(vec![rec(0, 3, "b"), rec(1, 6, "a"), rec(6, 11, "a")]),
            [rec(1, 6, "a"), rec(6, 11, "a")]
        );
    }
}
