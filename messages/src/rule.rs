//! Analytics rules: per camera, which detector and classes, how sure, where (a polygon zone in
//! normalised coordinates) and how often an event may be raised.

use crate::error::FieldError;
use crate::ids::{CameraId, TenantId};
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most points in a zone polygon.
pub const MAX_ZONE_POINTS: usize = 64;

/// A rule: a detection of one of `classes` by `detector`, at or above `min_score`, whose foot point
/// (bottom centre of the box) lies in `zone`, raises an event of `kind` at most once per `cooldown_seconds`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    /// Rule id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Camera.
    pub camera_id: CameraId,
    /// Name, unique per camera.
    pub name: String,
    /// Event kind it raises (`intrusion`).
    pub kind: String,
    /// Detector (model name).
    pub detector: String,
    /// Classes that count; empty for any.
    pub classes: Vec<String>,
    /// Lowest score that counts.
    pub min_score: f32,
    /// Polygon `[[x, y], ...]` in `[0, 1]`; `null` for the whole frame.
    pub zone: Option<Vec<[f32; 2]>>,
    /// At most one event per this many seconds.
    pub cooldown_seconds: u32,
    /// Whether the rule runs.
    pub enabled: bool,
    /// Loitering: seconds a tracked object must stay in the zone.
    pub dwell_seconds: Option<u32>,
    /// Line crossing: the line `[[x, y], [x, y]]` in `[0, 1]`.
    pub line: Option<[[f32; 2]; 2]>,
    /// Line crossing: which way counts.
    pub direction: Option<CrossingDirection>,
    /// Crowd: fewest objects in the zone at once that raise an event.
    pub min_count: Option<u32>,
    /// When the rule runs (UTC); `null` for always.
    pub schedule: Option<Vec<ScheduleWindow>>,
    /// How its frames queue for the detector: `high` goes before every `standard` frame.
    pub priority: RulePriority,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What a rule looks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A detection whose foot point is in the zone.
    #[default]
    Intrusion,
    /// A tracked object that stays in the zone for `dwell_seconds`.
    Loitering,
    /// A tracked object whose foot point crosses `line` in `direction`.
    LineCrossing,
    /// At least `min_count` detections in the zone at once.
    Crowd,
}

impl RuleKind {
    /// The kind as stored, and as the kind of the events it raises.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intrusion => "intrusion",
            Self::Loitering => "loitering",
            Self::LineCrossing => "line_crossing",
            Self::Crowd => "crowd",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Intrusion,
            Self::Loitering,
            Self::LineCrossing,
            Self::Crowd,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How a rule's frames queue for their detector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RulePriority {
    /// Served before every standard frame (the default for intrusion and fire).
    High,
    /// Served when no high-priority frame waits; tenants share what is left by inference share.
    Standard,
}

impl RulePriority {
    /// The priority as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Standard => "standard",
        }
    }

    /// Parses a stored priority (anything else is standard).
    pub fn parse(s: &str) -> Self {
        if s == "high" {
            Self::High
        } else {
            Self::Standard
        }
    }

    /// The priority a new rule gets when none is given: high for intrusion rules and for the
    /// `fire` detector, standard otherwise.
    pub fn default_for(kind: RuleKind, detector: &str) -> Self {
        if kind == RuleKind::Intrusion || detector == "fire" {
            Self::High
        } else {
            Self::Standard
        }
    }
}

/// Which crossings of a line count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CrossingDirection {
    /// Either way.
    #[default]
    Any,
    /// The way the line points after a quarter turn counter-clockwise on screen (a line drawn top
    /// to bottom: left to right; drawn left to right: bottom to top).
    Forward,
    /// The other way.
    Backward,
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

impl Weekday {
    fn from_chrono(d: chrono::Weekday) -> Self {
        match d {
            chrono::Weekday::Mon => Self::Mon,
            chrono::Weekday::Tue => Self::Tue,
            chrono::Weekday::Wed => Self::Wed,
            chrono::Weekday::Thu => Self::Thu,
            chrono::Weekday::Fri => Self::Fri,
            chrono::Weekday::Sat => Self::Sat,
            chrono::Weekday::Sun => Self::Sun,
        }
    }
}

/// A weekly window in which a rule runs, in UTC: on `days`, from `start` to `end` (`HH:MM`); an
/// `end` before `start` runs past midnight into the next day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// Days the window starts on.
    #[schema(min_items = 1, max_items = 7)]
    pub days: Vec<Weekday>,
    /// Start, `HH:MM` (UTC).
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// End, `HH:MM` (UTC), `24:00` for midnight.
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
    pub end: String,
}

/// Minutes since midnight of `HH:MM` (`24:00` allowed with `allow_24`).
fn minutes(text: &str, allow_24: bool) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) if allow_24 => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Whether `at` falls in one of `windows` (no schedule: always).
pub fn in_schedule(windows: Option<&[ScheduleWindow]>, at: DateTime<Utc>) -> bool {
    use chrono::{Datelike, Timelike};
    let Some(windows) = windows else { return true };
    let now = at.hour() * 60 + at.minute();
    let today = Weekday::from_chrono(at.weekday());
    let yesterday = Weekday::from_chrono(at.weekday().pred());
    windows.iter().any(|w| {
        let (Some(start), Some(end)) = (minutes(&w.start, false), minutes(&w.end, true)) else {
            return false;
        };
        if start < end {
            w.days.contains(&today) && (start..end).contains(&now)
        } else {
            // Past midnight: the evening part today, the morning part from yesterday's window.
            (w.days.contains(&today) && now >= start) || (w.days.contains(&yesterday) && now < end)
        }
    })
}

fn validate_schedule(windows: &[ScheduleWindow]) -> Result<(), FieldError> {
    if windows.is_empty() || windows.len() > 14 {
        return Err(FieldError::new("schedule", "a schedule needs 1-14 windows"));
    }
    for w in windows {
        if w.days.is_empty() {
            return Err(FieldError::new(
                "schedule",
                "each window needs at least one day",
            ));
        }
        let start = minutes(&w.start, false).ok_or_else(|| {
            FieldError::new(
                "schedule",
                format!("start {:?} must be HH:MM, 00:00-23:59", w.start),
            )
        })?;
        let end = minutes(&w.end, true).ok_or_else(|| {
            FieldError::new(
                "schedule",
                format!("end {:?} must be HH:MM, 00:00-24:00", w.end),
            )
        })?;
        if start == end {
            return Err(FieldError::new(
                "schedule",
                "a window's start and end must differ",
            ));
        }
    }
    Ok(())
}

fn validate_line(line: &[[f32; 2]; 2]) -> Result<(), FieldError> {
    if line
        .iter()
        .flatten()
        .any(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
    {
        return Err(FieldError::new(
            "line",
            "line points must be in [0, 1] (fractions of the frame)",
        ));
    }
    let len = ((line[1][0] - line[0][0]).powi(2) + (line[1][1] - line[0][1]).powi(2)).sqrt();
    if len < 0.01 {
        return Err(FieldError::new("line", "the line's two points must differ"));
    }
    Ok(())
}

/// The kind-specific settings of a rule, checked against its kind.
struct KindParams<'a> {
    dwell_seconds: Option<u32>,
    line: Option<&'a [[f32; 2]; 2]>,
    direction: Option<CrossingDirection>,
    min_count: Option<u32>,
}

impl<'a> KindParams<'a> {
    fn of(
        dwell_seconds: Option<u32>,
        line: Option<&'a [[f32; 2]; 2]>,
        direction: Option<CrossingDirection>,
        min_count: Option<u32>,
    ) -> Self {
        Self {
            dwell_seconds,
            line,
            direction,
            min_count,
        }
    }
}

fn validate_kind_params(kind: RuleKind, p: &KindParams<'_>) -> Result<(), FieldError> {
    let only = |field: &'static str, for_kind: RuleKind| {
        Err(FieldError::new(
            field,
            format!("{field} is for {} rules", for_kind.as_str()),
        ))
    };
    if p.dwell_seconds.is_some() && kind != RuleKind::Loitering {
        return only("dwell_seconds", RuleKind::Loitering);
    }
    if (p.line.is_some() || p.direction.is_some()) && kind != RuleKind::LineCrossing {
        return only(
            if p.line.is_some() {
                "line"
            } else {
                "direction"
            },
            RuleKind::LineCrossing,
        );
    }
    if p.min_count.is_some() && kind != RuleKind::Crowd {
        return only("min_count", RuleKind::Crowd);
    }
    if let Some(d) = p.dwell_seconds
        && !(1..=3600).contains(&d)
    {
        return Err(FieldError::new(
            "dwell_seconds",
            "must be between 1 and 3600",
        ));
    }
    if let Some(n) = p.min_count
        && !(2..=1000).contains(&n)
    {
        return Err(FieldError::new("min_count", "must be between 2 and 1000"));
    }
    if let Some(line) = p.line {
        validate_line(line)?;
    }
    Ok(())
}

/// Request body to create a rule on a camera.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleCreate {
    /// Name, unique per camera (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// Detector (a model of the zoo that the tenant's licence allows).
    #[schema(min_length = 1, max_length = 64)]
    pub detector: String,
    /// Classes that count (default: any).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub classes: Vec<String>,
    /// Lowest score (default 0.6).
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub min_score: Option<f32>,
    /// Polygon zone, 3-64 points in `[0, 1]`, not self-intersecting (default: whole frame).
    #[serde(default)]
    #[schema(min_items = 3, max_items = 64)]
    pub zone: Option<Vec<[f32; 2]>>,
    /// Cooldown in seconds, 1-86400 (default 30).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub cooldown_seconds: Option<u32>,
    /// Whether it runs (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// What it looks for (default `intrusion`); the events it raises have this kind.
    #[serde(default)]
    pub kind: Option<RuleKind>,
    /// Loitering: seconds in the zone, 1-3600 (default 10).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    pub dwell_seconds: Option<u32>,
    /// Line crossing (required): two points in `[0, 1]`.
    #[serde(default)]
    pub line: Option<[[f32; 2]; 2]>,
    /// Line crossing: which way counts (default `any`).
    #[serde(default)]
    pub direction: Option<CrossingDirection>,
    /// Crowd: fewest objects at once, 2-1000 (default 3).
    #[serde(default)]
    #[schema(minimum = 2, maximum = 1000)]
    pub min_count: Option<u32>,
    /// When it runs, 1-14 weekly windows in UTC (default: always).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 14)]
    pub schedule: Option<Vec<ScheduleWindow>>,
    /// How its frames queue for the detector (default `high` for intrusion rules and the `fire`
    /// detector, `standard` otherwise).
    #[serde(default)]
    pub priority: Option<RulePriority>,
}

/// Request body to change a rule; absent fields stay.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    /// New lowest score.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub min_score: Option<f32>,
    /// New zone (3-64 points).
    #[serde(default)]
    #[schema(min_items = 3, max_items = 64)]
    pub zone: Option<Vec<[f32; 2]>>,
    /// New classes.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub classes: Option<Vec<String>>,
    /// New cooldown.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 86400)]
    pub cooldown_seconds: Option<u32>,
    /// Start or stop it.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New dwell time (loitering rules).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3600)]
    pub dwell_seconds: Option<u32>,
    /// New line (line-crossing rules).
    #[serde(default)]
    pub line: Option<[[f32; 2]; 2]>,
    /// New direction (line-crossing rules).
    #[serde(default)]
    pub direction: Option<CrossingDirection>,
    /// New fewest count (crowd rules).
    #[serde(default)]
    #[schema(minimum = 2, maximum = 1000)]
    pub min_count: Option<u32>,
    /// New schedule; an empty list removes it (always on).
    #[serde(default)]
    #[schema(max_items = 14)]
    pub schedule: Option<Vec<ScheduleWindow>>,
    /// New priority.
    #[serde(default)]
    pub priority: Option<RulePriority>,
}

/// A page of rules.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RulePage {
    /// Rules of the camera, by name.
    pub items: Vec<Rule>,
}

fn validate_common(
    min_score: Option<f32>,
    zone: Option<&[[f32; 2]]>,
    classes: Option<&[String]>,
    cooldown: Option<u32>,
) -> Result<(), FieldError> {
    if let Some(s) = min_score
        && !(0.0..=1.0).contains(&s)
    {
        return Err(FieldError::new("min_score", "must be between 0 and 1"));
    }
    if let Some(z) = zone {
        validate_zone("zone", z)?;
    }
    if let Some(c) = classes {
        if c.len() > 32 {
            return Err(FieldError::new("classes", "at most 32 classes"));
        }
        for class in c {
            validate_name("classes", class)?;
        }
    }
    if let Some(c) = cooldown
        && !(1..=86_400).contains(&c)
    {
        return Err(FieldError::new(
            "cooldown_seconds",
            "must be between 1 and 86400",
        ));
    }
    Ok(())
}

impl RuleCreate {
    /// Checks every field but the detector (the node knows its models), naming the first at fault.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        validate_name("detector", &self.detector)?;
        validate_common(
            self.min_score,
            self.zone.as_deref(),
            Some(&self.classes),
            self.cooldown_seconds,
        )?;
        let kind = self.kind.unwrap_or_default();
        validate_kind_params(
            kind,
            &KindParams::of(
                self.dwell_seconds,
                self.line.as_ref(),
                self.direction,
                self.min_count,
            ),
        )?;
        if kind == RuleKind::LineCrossing && self.line.is_none() {
            return Err(FieldError::new("line", "a line_crossing rule needs a line"));
        }
        if let Some(w) = &self.schedule {
            validate_schedule(w)?;
        }
        Ok(())
    }
}

impl RuleUpdate {
    /// Checks every present field.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_common(
            self.min_score,
            self.zone.as_deref(),
            self.classes.as_deref(),
            self.cooldown_seconds,
        )?;
        if let Some(w) = self.schedule.as_deref().filter(|w| !w.is_empty()) {
            validate_schedule(w)?;
        }
        Ok(())
    }

    /// Refuses settings that do not fit a rule of `kind`.
    pub fn check_kind(&self, kind: RuleKind) -> Result<(), FieldError> {
        validate_kind_params(
            kind,
            &KindParams::of(
                self.dwell_seconds,
                self.line.as_ref(),
                self.direction,
                self.min_count,
            ),
        )
    }
}

/// A zone: 3-64 points in `[0, 1]`, a polygon whose edges do not cross.
pub fn validate_zone(field: &'static str, zone: &[[f32; 2]]) -> Result<(), FieldError> {
    if !(3..=MAX_ZONE_POINTS).contains(&zone.len()) {
        return Err(FieldError::new(
            field,
            format!(
                "a zone needs 3-{MAX_ZONE_POINTS} points, got {}",
                zone.len()
            ),
        ));
    }
    if zone
        .iter()
        .flatten()
        .any(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
    {
        return Err(FieldError::new(
            field,
            "zone points must be in [0, 1] (fractions of the frame)",
        ));
    }
    let n = zone.len();
    let edge = |i: usize| (zone[i], zone[(i + 1) % n]);
    for i in 0..n {
        for j in i + 1..n {
            // Neighbouring edges share a point; only non-adjacent ones may not meet.
            if j == i + 1 || (i == 0 && j == n - 1) {
                continue;
            }
            let (a, b) = edge(i);
            let (c, d) = edge(j);
            if segments_cross(a, b, c, d) {
                return Err(FieldError::new(
                    field,
                    format!("zone edges {i} and {j} cross: the polygon must not intersect itself"),
                ));
            }
        }
    }
    Ok(())
}

fn orient(a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> f32 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

fn segments_cross(a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2]) -> bool {
    let (o1, o2, o3, o4) = (
        orient(a, b, c),
        orient(a, b, d),
        orient(c, d, a),
        orient(c, d, b),
    );
    (o1 * o2 < 0.0) && (o3 * o4 < 0.0)
}

/// Whether point `p` lies inside `polygon` (even-odd rule).
pub fn contains(polygon: &[[f32; 2]], p: [f32; 2]) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intrusion_and_fire_rules_are_high_priority_by_default() {
        assert_eq!(
            RulePriority::default_for(RuleKind::Intrusion, "person"),
            RulePriority::High
        );
        assert_eq!(
            RulePriority::default_for(RuleKind::Crowd, "fire"),
            RulePriority::High
        );
        assert_eq!(
            RulePriority::default_for(RuleKind::LineCrossing, "person"),
            RulePriority::Standard
        );
        for p in [RulePriority::High, RulePriority::Standard] {
            assert_eq!(RulePriority::parse(p.as_str()), p);
        }
        let create: RuleCreate =
            serde_json::from_str(r#"{"name": "x", "detector": "person", "priority": "standard"}"#)
                .expect("parses");
        assert_eq!(create.priority, Some(RulePriority::Standard));
        assert!(
            serde_json::from_str::<RuleCreate>(
                r#"{"name": "x", "detector": "person", "priority": "urgent"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn zones() {
        let square = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]];
        assert!(validate_zone("zone", &square).is_ok());
        assert!(contains(&square, [0.5, 0.5]));
        assert!(!contains(&square, [0.95, 0.5]));
        let bowtie = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]];
        assert!(
            validate_zone("zone", &bowtie)
                .unwrap_err()
                .message
                .contains("cross")
        );
        assert!(validate_zone("zone", &[[0.0, 0.0], [1.5, 0.0], [0.0, 1.0]]).is_err());
        assert!(validate_zone("zone", &[[0.0, 0.0], [1.0, 0.0]]).is_err());
    }

    #[test]
    fn schedules() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        // 2026-12-02 is a Wednesday.
        let nights = vec![ScheduleWindow {
            days: vec![Weekday::Wed],
            start: "22:00".into(),
            end: "06:00".into(),
        }];
        assert!(in_schedule(Some(&nights), t("2026-12-02T23:00:00Z")));
        assert!(
            in_schedule(Some(&nights), t("2026-12-03T05:59:00Z")),
            "thursday morning"
        );
        assert!(
            !in_schedule(Some(&nights), t("2026-12-03T23:00:00Z")),
            "thursday night"
        );
        assert!(!in_schedule(Some(&nights), t("2026-12-02T12:00:00Z")));
        let office = vec![ScheduleWindow {
            days: vec![Weekday::Mon, Weekday::Wed],
            start: "09:00".into(),
            end: "24:00".into(),
        }];
        assert!(in_schedule(Some(&office), t("2026-12-02T23:59:00Z")));
        assert!(!in_schedule(Some(&office), t("2026-12-02T08:59:00Z")));
        assert!(in_schedule(None, t("2026-12-02T08:59:00Z")));
        assert!(validate_schedule(&office).is_ok());
        let mut bad = office.clone();
        bad[0].start = "9:00".into();
        assert!(
            validate_schedule(&bad)
                .unwrap_err()
                .message
                .contains("HH:MM")
        );
        bad[0].start = "24:00".into();
        assert!(validate_schedule(&bad).is_err());
    }

    #[test]
    fn kind_settings_fit_their_kind() {
        let p = |dwell, min_count| KindParams::of(dwell, None, None, min_count);
        assert!(validate_kind_params(RuleKind::Loitering, &p(Some(5), None)).is_ok());
        assert_eq!(
            validate_kind_params(RuleKind::Intrusion, &p(Some(5), None))
                .unwrap_err()
                .field,
            "dwell_seconds"
        );
        assert_eq!(
            validate_kind_params(RuleKind::Crowd, &p(None, Some(1)))
                .unwrap_err()
                .field,
            "min_count"
        );
        assert!(validate_line(&[[0.5, 0.0], [0.5, 1.0]]).is_ok());
        assert!(validate_line(&[[0.5, 0.5], [0.5, 0.5]]).is_err());
    }
}

/// A detector this node knows, from its model manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetectorInfo {
    /// Name rules and licences use.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Output family (`ssd`, `yolo`, `blazeface`), or `builtin` for the pixel detectors.
    pub family: String,
    /// Classes it reports.
    pub labels: Vec<String>,
    /// Licence of the model.
    pub licence: String,
    /// Input width and height.
    pub input: [u32; 2],
    /// Whether this node runs it (rules may name it).
    pub running: bool,
}

/// The detectors of the model zoo.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetectorList {
    /// Detectors, by name.
    pub items: Vec<DetectorInfo>,
}
