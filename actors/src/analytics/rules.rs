//! The rule engine of one camera: turns each sampled frame's detections into rule hits. Detections are
//! tracked across frames (an IoU tracker), so loitering (dwell time in a zone) and line crossing (with
//! direction) see objects, not boxes; intrusion and crowd look at one frame. A rule runs only inside
//! its schedule, and hits at most once per cooldown bucket; the bucket is part of the event id.

use std::collections::{HashMap, HashSet};
use uuid::Uuid;
use vms_messages::{CrossingDirection, Rule, RuleKind};
use vms_messages::{contains, in_schedule};
use vms_models::Detection;
use vms_models::{Crossing, Track, Tracker, TrackerConfig, crossing, foot};

use chrono::{DateTime, Utc};

/// What a rule saw in a frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// Rule that hit.
    pub rule: Uuid,
    /// Cooldown bucket (time / cooldown): one event per rule and bucket.
    pub bucket: i64,
    /// What it saw (`person`; a crowd: `person x4`).
    pub label: String,
    /// Detector confidence of the best detection involved.
    pub score: f32,
    /// Box of that detection.
    pub bbox: [f32; 4],
}

/// Per-camera state of the rules: tracks, dwell timers, cooldowns.
pub struct RuleEngine {
    tracker: Tracker,
    /// (rule, track) → when the track's foot point entered the rule's zone.
    entered: HashMap<(Uuid, u64), DateTime<Utc>>,
    /// (rule, track) pairs that already hit (a loiterer hits once).
    fired: HashSet<(Uuid, u64)>,
    last_bucket: HashMap<Uuid, i64>,
}

impl Default for RuleEngine {
    fn default() -> Self {
        Self {
            tracker: Tracker::new(TrackerConfig::default()),
            entered: HashMap::new(),
            fired: HashSet::new(),
            last_bucket: HashMap::new(),
        }
    }
}

/// Whether a detection of `label` at `score` counts for `rule` (class and score).
fn counts(rule: &Rule, label: &str, score: f32) -> bool {
    (rule.classes.is_empty() || rule.classes.iter().any(|c| c == label)) && score >= rule.min_score
}

fn in_zone(rule: &Rule, point: [f32; 2]) -> bool {
    rule.zone.as_deref().is_none_or(|z| contains(z, point))
}

/// The best detection an intrusion rule accepts in a frame: class, score, and foot point in the zone.
pub fn rule_match<'a>(rule: &Rule, detections: &'a [Detection]) -> Option<&'a Detection> {
    detections
        .iter()
        .filter(|d| counts(rule, &d.label, d.score) && in_zone(rule, foot(d.bbox)))
        .max_by(|a, b| a.score.total_cmp(&b.score))
}

fn track_hit(t: &Track) -> (String, f32, [f32; 4]) {
    (t.label.clone(), t.score, t.bbox)
}

impl RuleEngine {
    /// Checks `rules` (the enabled ones of this detector) against one frame's detections seen at `at`.
    pub fn evaluate(
        &mut self,
        rules: &[Rule],
        detections: &[Detection],
        at: DateTime<Utc>,
    ) -> Vec<Hit> {
        let tracks = self.tracker.update(detections, at);
        let alive: HashSet<u64> = self.tracker.tracks().iter().map(|t| t.id).collect();
        self.entered.retain(|(_, t), _| alive.contains(t));
        self.fired.retain(|(_, t)| alive.contains(t));
        let mut hits = Vec::new();
        for rule in rules {
            if !in_schedule(rule.schedule.as_deref(), at) {
                continue;
            }
            let seen = match RuleKind::parse(&rule.kind).unwrap_or_default() {
                RuleKind::Intrusion => {
                    rule_match(rule, detections).map(|d| (d.label.clone(), d.score, d.bbox))
                }
                RuleKind::Crowd => {
                    let inside: Vec<&Detection> = detections
                        .iter()
                        .filter(|d| counts(rule, &d.label, d.score) && in_zone(rule, foot(d.bbox)))
                        .collect();
                    let need = rule.min_count.unwrap_or(3) as usize;
                    inside
                        .iter()
                        .max_by(|a, b| a.score.total_cmp(&b.score))
                        .filter(|_| inside.len() >= need)
                        .map(|d| (format!("{} x{}", d.label, inside.len()), d.score, d.bbox))
                }
                RuleKind::Loitering => self.loitering(rule, &tracks, at),
                RuleKind::LineCrossing => line_crossing(rule, &tracks),
            };
            let Some((label, score, bbox)) = seen else {
                continue;
            };
            let bucket = at
                .timestamp()
                .div_euclid(i64::from(rule.cooldown_seconds.max(1)));
            if self.last_bucket.get(&rule.id) == Some(&bucket) {
                continue;
            }
            self.last_bucket.insert(rule.id, bucket);
            hits.push(Hit {
                rule: rule.id,
                bucket,
                label,
                score,
                bbox,
            });
        }
        hits
    }

    fn loitering(
        &mut self,
        rule: &Rule,
        tracks: &[Track],
        at: DateTime<Utc>,
    ) -> Option<(String, f32, [f32; 4])> {
        let dwell = i64::from(rule.dwell_seconds.unwrap_or(10)) * 1000;
        let mut best: Option<&Track> = None;
        for t in tracks {
            let key = (rule.id, t.id);
            if !counts(rule, &t.label, t.score) || !in_zone(rule, t.foot()) {
                self.entered.remove(&key);
                continue;
            }
            let since = *self.entered.entry(key).or_insert(at);
            if (at - since).num_milliseconds() >= dwell && !self.fired.contains(&key) {
                self.fired.insert(key);
                if best.is_none_or(|b| t.score > b.score) {
                    best = Some(t);
                }
            }
        }
        best.map(track_hit)
    }
}

fn line_crossing(rule: &Rule, tracks: &[Track]) -> Option<(String, f32, [f32; 4])> {
    let line = rule.line?;
    let wanted = rule.direction.unwrap_or_default();
    tracks
        .iter()
        .filter(|t| counts(rule, &t.label, t.score))
        .filter(|t| {
            let Some(from) = t.previous_foot else {
                return false;
            };
            match (crossing(line, from, t.foot()), wanted) {
                (None, _) => false,
                (Some(_), CrossingDirection::Any) => true,
                (Some(c), CrossingDirection::Forward) => c == Crossing::Forward,
                (Some(c), CrossingDirection::Backward) => c == Crossing::Backward,
            }
        })
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .map(track_hit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vms_messages::{CameraId, TenantId};

    fn rule(kind: RuleKind) -> Rule {
        Rule {
            id: Uuid::now_v7(),
            tenant_id: TenantId::new(),
            camera_id: CameraId::new(),
            name: kind.as_str().into(),
            kind: kind.as_str().into(),
            detector: "person".into(),
            classes: vec![],
            min_score: 0.5,
            zone: None,
            cooldown_seconds: 1,
            enabled: true,
            dwell_seconds: None,
            line: None,
            direction: None,
            min_count: None,
            schedule: None,
            priority: vms_messages::RulePriority::High,
            created_at: Utc::now(),
        }
    }

    fn person(x: f32) -> Detection {
        Detection {
            label: "person".into(),
            score: 0.9,
            bbox: [x, 0.2, x + 0.3, 0.9],
        }
    }

    /// Walks a person left to right, one frame a second, and returns the hits per frame.
    fn walk(rules: &[Rule]) -> Vec<Vec<Hit>> {
        let mut engine = RuleEngine::default();
        let t0: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().expect("time");
        [0.0, 0.2, 0.4, 0.6]
            .into_iter()
            .enumerate()
            .map(|(i, x)| {
                engine.evaluate(
                    rules,
                    &[person(x)],
                    t0 + chrono::Duration::seconds(i as i64),
                )
            })
            .collect()
    }

    #[test]
    fn a_walker_crosses_forward_not_backward() {
        let mut forward = rule(RuleKind::LineCrossing);
        forward.line = Some([[0.5, 0.0], [0.5, 1.0]]);
        forward.direction = Some(CrossingDirection::Forward);
        let mut backward = forward.clone();
        backward.id = Uuid::now_v7();
        backward.direction = Some(CrossingDirection::Backward);
        let hits: Vec<Uuid> = walk(&[forward.clone(), backward])
            .concat()
            .iter()
            .map(|h| h.rule)
            .collect();
        // Feet at x 0.15, 0.35, 0.55, 0.75: the line is crossed once, between frames 2 and 3.
        assert_eq!(hits, [forward.id]);
    }

    #[test]
    fn loitering_needs_the_dwell_time_and_hits_once() {
        let mut quick = rule(RuleKind::Loitering);
        quick.dwell_seconds = Some(2);
        let mut slow = quick.clone();
        slow.id = Uuid::now_v7();
        slow.dwell_seconds = Some(30);
        let frames = walk(&[quick.clone(), slow]);
        let counts: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(counts, [0, 0, 1, 0], "after 2 s, once");
        assert_eq!(frames[2][0].rule, quick.id);
    }

    #[test]
    fn crowds_count_and_schedules_gate() {
        let mut crowd = rule(RuleKind::Crowd);
        crowd.min_count = Some(2);
        let mut engine = RuleEngine::default();
        let at: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().expect("time"); // a Wednesday
        assert!(
            engine
                .evaluate(&[crowd.clone()], &[person(0.0)], at)
                .is_empty()
        );
        let hits = engine.evaluate(
            &[crowd.clone()],
            &[person(0.0), person(0.6)],
            at + chrono::Duration::seconds(1),
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].label, "person x2");
        crowd.schedule = Some(vec![vms_messages::ScheduleWindow {
            days: vec![vms_messages::Weekday::Mon],
            start: "00:00".into(),
            end: "24:00".into(),
        }]);
        assert!(
            engine
                .evaluate(
                    &[crowd],
                    &[person(0.0), person(0.6)],
                    at + chrono::Duration::seconds(5)
                )
                .is_empty(),
            "outside its schedule"
        );
    }
}
