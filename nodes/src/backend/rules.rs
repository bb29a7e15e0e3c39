//! The detectors this node runs, and rules (their cameras re-read them).

use super::*;

#[async_trait]
impl RuleService for NodeBackend {
    async fn detectors(&self) -> Result<DetectorList, ApiError> {
        let running = Arc::clone(&self.models);
        let zoo = self
            .ctx
            .config
            .analytics
            .zoo_dir
            .clone()
            .unwrap_or_else(vms_models::registry::default_zoo);
        let (manifests, failed) =
            tokio::task::spawn_blocking(move || vms_models::registry::manifests(&zoo))
                .await
                .map_err(|_| ApiError::internal())?;
        for e in failed {
            tracing::warn!(error = %e, "model manifest refused");
        }
        let mut items: Vec<DetectorInfo> = manifests
            .into_iter()
            .filter(|m| m.family != vms_models::Family::Embedding)
            .map(|m| DetectorInfo {
                running: running.contains(&m.name),
                name: m.name,
                version: m.version,
                family: m.family.to_string(),
                labels: m.labels,
                licence: m.licence,
                input: [m.input.width, m.input.height],
            })
            .collect();
        items.extend(vms_models::builtin::NAMES.iter().map(|name| {
            DetectorInfo {
                name: (*name).to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                family: "builtin".into(),
                labels: vms_models::builtin::labels(name)
                    .iter()
                    .map(|l| (*l).to_string())
                    .collect(),
                licence: "Apache-2.0".into(),
                input: [320, 180],
                running: running.iter().any(|r| r == name),
            }
        }));
        items.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(DetectorList { items })
    }

    async fn create_rule(
        &self,
        scope: TenantScope,
        camera: CameraId,
        req: RuleCreate,
    ) -> Result<Rule, ApiError> {
        let known = &self.models;
        if !known.contains(&req.detector) {
            return Err(ApiError::invalid(
                "detector",
                format!(
                    "unknown detector {:?}; this node runs: {}",
                    req.detector,
                    if known.is_empty() {
                        "none (analytics are off)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        let rule = self
            .db(move |s| async move { s.create_rule(scope, camera, &req).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }

    async fn list_rules(&self, scope: TenantScope, camera: CameraId) -> Result<RulePage, ApiError> {
        let items = self
            .db(move |s| async move { s.camera_rules(scope, camera).await })
            .await?;
        Ok(RulePage { items })
    }

    async fn get_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError> {
        self.db(move |s| async move { s.rule(scope, id).await })
            .await
    }

    async fn update_rule(
        &self,
        scope: TenantScope,
        id: Uuid,
        req: RuleUpdate,
    ) -> Result<Rule, ApiError> {
        let current = self.get_rule(scope, id).await?;
        if let Some(kind) = vms_messages::RuleKind::parse(&current.kind) {
            req.check_kind(kind)?;
        }
        let rule = self
            .db(move |s| async move { s.update_rule(scope, id, &req).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }

    async fn delete_rule(&self, scope: TenantScope, id: Uuid) -> Result<Rule, ApiError> {
        let rule = self
            .db(move |s| async move { s.delete_rule(scope, id).await })
            .await?;
        self.rules_changed(rule.camera_id);
        Ok(rule)
    }
}
