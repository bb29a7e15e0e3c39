//! Analytics rules, scoped by tenant; a rule lives and dies with its camera.

use super::{Store, StoreError, scope_param, unique_as_conflict};
use tokio_postgres::Row;
use uuid::Uuid;
use vms_messages::{
    CameraId, CrossingDirection, Rule, RuleCreate, RuleKind, RulePriority, RuleUpdate, TenantId,
    TenantScope,
};

const RULE_COLS: &str = "id, tenant_id, camera_id, name, kind, detector, classes, min_score, zone, cooldown_seconds, enabled, params, schedule, priority, created_at";

/// Default dwell time of a loitering rule, in seconds.
pub const DEFAULT_DWELL: u32 = 10;
/// Default fewest count of a crowd rule.
pub const DEFAULT_MIN_COUNT: u32 = 3;

/// The kind-specific settings of a rule, as stored in `params`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct RuleParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    dwell_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<[[f32; 2]; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<CrossingDirection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_count: Option<u32>,
}

/// Default lowest score of a rule.
pub const DEFAULT_MIN_SCORE: f32 = 0.6;
/// Default cooldown of a rule, in seconds.
pub const DEFAULT_COOLDOWN: u32 = 30;

fn rule_from_row(row: &Row) -> Rule {
    let zone: Option<serde_json::Value> = row.get("zone");
    let params: RuleParams = serde_json::from_value(row.get("params")).unwrap_or_default();
    let schedule: Option<serde_json::Value> = row.get("schedule");
    Rule {
        id: row.get("id"),
        tenant_id: TenantId(row.get("tenant_id")),
        camera_id: CameraId(row.get("camera_id")),
        name: row.get("name"),
        kind: row.get("kind"),
        detector: row.get("detector"),
        classes: row.get("classes"),
        min_score: row.get("min_score"),
        zone: zone.and_then(|z| serde_json::from_value(z).ok()),
        cooldown_seconds: u32::try_from(row.get::<_, i32>("cooldown_seconds")).unwrap_or(1),
        enabled: row.get("enabled"),
        dwell_seconds: params.dwell_seconds,
        line: params.line,
        direction: params.direction,
        min_count: params.min_count,
        schedule: schedule.and_then(|s| serde_json::from_value(s).ok()),
        priority: RulePriority::parse(row.get("priority")),
        created_at: row.get("created_at"),
    }
}

impl Store {
    /// Adds a rule to a camera within `scope`; its detector must be in the tenant's licence.
    pub async fn create_rule(
        &self,
        scope: TenantScope,
        camera: CameraId,
        req: &RuleCreate,
    ) -> Result<Rule, StoreError> {
        let cam = self.camera(scope, camera).await?;
        let tenant = self.tenant(TenantScope::All, cam.tenant_id).await?;
        if !tenant.allowed_detectors.contains(&req.detector) {
            return Err(StoreError::QuotaExceeded {
                limit: "allowed_detectors",
                message: format!(
                    "the tenant licence does not allow the detector {:?} (allowed_detectors)",
                    req.detector
                ),
            });
        }
        let client = self.pool.get().await?;
        let zone = req.zone.as_ref().map(|z| serde_json::json!(z));
        let cooldown =
            i32::try_from(req.cooldown_seconds.unwrap_or(DEFAULT_COOLDOWN)).unwrap_or(i32::MAX);
        let kind = req.kind.unwrap_or_default();
        let params = match kind {
            RuleKind::Intrusion => RuleParams::default(),
            RuleKind::Loitering => RuleParams {
                dwell_seconds: Some(req.dwell_seconds.unwrap_or(DEFAULT_DWELL)),
                ..RuleParams::default()
            },
            RuleKind::LineCrossing => RuleParams {
                line: req.line,
                direction: Some(req.direction.unwrap_or_default()),
                ..RuleParams::default()
            },
            RuleKind::Crowd => RuleParams {
                min_count: Some(req.min_count.unwrap_or(DEFAULT_MIN_COUNT)),
                ..RuleParams::default()
            },
        };
        let params = serde_json::to_value(&params).unwrap_or_default();
        let schedule = req.schedule.as_ref().map(|s| serde_json::json!(s));
        let priority = req
            .priority
            .unwrap_or_else(|| RulePriority::default_for(kind, &req.detector));
        let result = client
            .query_one(
                &format!(
                    "INSERT INTO rules (id, tenant_id, camera_id, name, kind, detector, classes, min_score, zone,
                                        cooldown_seconds, enabled, params, schedule, priority)
                     VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $9, $10, $12, $13, $14) RETURNING {RULE_COLS}"
                ),
                &[
                    &Uuid::now_v7(),
                    &cam.tenant_id.0,
                    &cam.id.0,
                    &req.name,
                    &req.detector,
                    &req.classes,
                    &req.min_score.unwrap_or(DEFAULT_MIN_SCORE),
                    &zone,
                    &cooldown,
                    &req.enabled.unwrap_or(true),
                    &kind.as_str(),
                    &params,
                    &schedule,
                    &priority.as_str(),
                ],
            )
            .await;
        let row = unique_as_conflict(result, "name", || {
            format!("this camera has a rule named {:?}", req.name)
        })?;
        Ok(rule_from_row(&row))
    }

    /// A camera's rules within `scope` (404 for a camera outside it).
    pub async fn camera_rules(
        &self,
        scope: TenantScope,
        camera: CameraId,
    ) -> Result<Vec<Rule>, StoreError> {
        self.camera(scope, camera).await?;
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!("SELECT {RULE_COLS} FROM rules WHERE camera_id = $1 ORDER BY name"),
                &[&camera.0],
            )
            .await?;
        Ok(rows.iter().map(rule_from_row).collect())
    }

    /// One rule within `scope`.
    pub async fn rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, StoreError> {
        self.one(
            &format!("SELECT {RULE_COLS} FROM rules WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2)"),
            &[&id, &scope_param(scope)],
            "rule",
            rule_from_row,
        )
        .await
    }

    /// Changes a rule within `scope`.
    pub async fn update_rule(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: &RuleUpdate,
    ) -> Result<Rule, StoreError> {
        let zone = req.zone.as_ref().map(|z| serde_json::json!(z));
        let cooldown = req
            .cooldown_seconds
            .map(|c| i32::try_from(c).unwrap_or(i32::MAX));
        let params = serde_json::to_value(RuleParams {
            dwell_seconds: req.dwell_seconds,
            line: req.line,
            direction: req.direction,
            min_count: req.min_count,
        })
        .unwrap_or_default();
        let set_schedule = req.schedule.is_some();
        let schedule = req
            .schedule
            .as_ref()
            .filter(|s| !s.is_empty())
            .map(|s| serde_json::json!(s));
        self.one(
            &format!(
                "UPDATE rules SET min_score = coalesce($3, min_score), zone = coalesce($4, zone),
                 classes = coalesce($5, classes), cooldown_seconds = coalesce($6, cooldown_seconds),
                 enabled = coalesce($7, enabled), params = params || $8,
                 schedule = CASE WHEN $9 THEN $10 ELSE schedule END,
                 priority = coalesce($11, priority)
                 WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {RULE_COLS}"
            ),
            &[
                &id,
                &scope_param(scope),
                &req.min_score,
                &zone,
                &req.classes,
                &cooldown,
                &req.enabled,
                &params,
                &set_schedule,
                &schedule,
                &req.priority.map(RulePriority::as_str),
            ],
            "rule",
            rule_from_row,
        )
        .await
    }

    /// Deletes a rule within `scope`.
    pub async fn delete_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, StoreError> {
        self.one(
            &format!("DELETE FROM rules WHERE id = $1 AND ($2::uuid IS NULL OR tenant_id = $2) RETURNING {RULE_COLS}"),
            &[&id, &scope_param(scope)],
            "rule",
            rule_from_row,
        )
        .await
    }
}
