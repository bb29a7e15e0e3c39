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
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create a rule on a camera.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
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
        )
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
}

/// A detector this node knows, from its model manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DetectorInfo {
    /// Name rules and licences use.
    pub name: String,
    /// Model version.
    pub version: String,
    /// Output family (`ssd`, `yolo`).
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
