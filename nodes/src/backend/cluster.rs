//! The cluster's nodes (membership and placement), drains and removals.

use super::*;

#[async_trait]
impl ClusterService for NodeBackend {
    async fn nodes(&self) -> Result<vms_messages::NodeList, ApiError> {
        Ok(vms_messages::NodeList {
            items: self.node_views().await?,
        })
    }

    async fn drain_node(
        &self,
        id: &str,
        drained: bool,
    ) -> Result<vms_messages::NodeView, ApiError> {
        if !self.ownership.is_placed() {
            return Err(ApiError::conflict(
                "cluster.placement",
                "cameras are not placed across nodes (cluster.placement is off), so there is nothing to drain",
            ));
        }
        let nodes = self.node_views().await?;
        let Some(node) = nodes.iter().find(|n| n.id == id) else {
            return Err(ApiError::not_found("node"));
        };
        if drained && !node.drained {
            let others = nodes
                .iter()
                .filter(|n| {
                    n.id != id
                        && n.state == vms_messages::NodeState::Up
                        && !n.drained
                        && n.roles.iter().any(|r| r == "ingest")
                })
                .count();
            // What it still records counts as well as what the map puts on it: a node that
            // looked down for a moment may have lost its placements but not its cameras.
            let holds = node.placed.max(u64::from(node.owned));
            if others == 0 && holds > 0 {
                return Err(ApiError::conflict(
                    "id",
                    format!(
                        "node {id} is the last up, undrained ingest node: its {holds} cameras would have nowhere to record; start or undrain another node first"
                    ),
                ));
            }
        }
        let node_id = id.to_string();
        self.db(move |s| async move { s.set_drained(&node_id, drained).await })
            .await?;
        tracing::info!(node_id = %id, drained, "node drain changed");
        let mut view = node.clone();
        view.drained = drained;
        Ok(view)
    }

    async fn remove_node(&self, id: &str) -> Result<(), ApiError> {
        let membership = self.membership()?;
        let nodes = self.node_views().await?;
        let Some(node) = nodes.iter().find(|n| n.id == id) else {
            return Err(ApiError::not_found("node"));
        };
        if !node.drained {
            return Err(ApiError::conflict(
                "id",
                format!("node {id} is not drained; drain it first (POST /api/v1/nodes/{id}/drain)"),
            ));
        }
        let node_id = id.to_string();
        let holds = self
            .db(move |s| async move { s.node_holds_cameras(&node_id).await })
            .await?;
        if holds > 0 {
            return Err(ApiError::conflict(
                "id",
                format!(
                    "node {id} still holds {holds} cameras; wait until the drain has moved them (GET /api/v1/placement?node={id})"
                ),
            ));
        }
        if node.state == vms_messages::NodeState::Up {
            return Err(ApiError::conflict(
                "id",
                format!("node {id} is still running; stop its process first"),
            ));
        }
        membership.forget(id).await.map_err(|e| {
            tracing::warn!(error = %e, "cannot remove a node's heartbeat");
            ApiError::unavailable("NATS unavailable; retry shortly")
        })?;
        let node_id = id.to_string();
        self.db(move |s| async move { s.forget_node(&node_id).await })
            .await?;
        tracing::info!(node_id = %id, "node removed from the cluster");
        Ok(())
    }

    async fn placement(
        &self,
        after: Option<CameraId>,
        node: Option<String>,
        limit: i64,
    ) -> Result<vms_messages::PlacementView, ApiError> {
        let models = self
            .membership
            .as_ref()
            .map(|m| model_placement(&m.nodes()))
            .unwrap_or_default();
        self.db(move |s| async move {
            let leader = s.lease_holder(vms_actors::PLACEMENT_LEASE).await?;
            let tenants = s
                .tenant_leases()
                .await?
                .into_iter()
                .map(|l| vms_messages::TenantPlacement {
                    tenant_id: l.tenant_id,
                    node_id: l.node,
                    epoch: l.epoch,
                })
                .collect();
            let totals = s.placement_totals().await?;
            let items = s.placement_page(after, node.as_deref(), limit).await?;
            let next_cursor = (items.len() as i64 == limit)
                .then(|| items.last().map(|e| e.camera_id.to_string()))
                .flatten();
            Ok(vms_messages::PlacementView {
                leader_epoch: leader.as_ref().map(|l| l.epoch),
                leader: leader.map(|l| l.holder),
                moves: totals.moves,
                unplaced: totals.unplaced,
                handovers: totals.handovers,
                items,
                next_cursor,
                models,
                tenants,
            })
        })
        .await
    }
}

/// Where each model's worker replicas run, from the heartbeats of the nodes that are up.
fn model_placement(nodes: &[vms_messages::NodeView]) -> Vec<vms_messages::ModelPlacement> {
    let mut by_model: std::collections::BTreeMap<String, Vec<vms_messages::ReplicaPlacement>> =
        std::collections::BTreeMap::new();
    for node in nodes
        .iter()
        .filter(|n| n.state == vms_messages::NodeState::Up)
    {
        for r in &node.replicas {
            by_model
                .entry(r.model.clone())
                .or_default()
                .push(vms_messages::ReplicaPlacement {
                    node_id: node.id.clone(),
                    queued: r.queued,
                    sessions: r.sessions,
                    service_us: r.service_us,
                });
        }
    }
    by_model
        .into_iter()
        .map(|(model, replicas)| vms_messages::ModelPlacement { model, replicas })
        .collect()
}
