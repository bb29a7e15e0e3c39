//! The cluster's admin surface: nodes (list, drain, undrain, remove) and the placement map.
//! Platform admins only (`nodes:read`, `nodes:write`).

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::ClusterService;
use crate::error::ApiError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use vms_messages::{CameraId, ErrorBody};

fn noted(req: &HttpRequest, node: &str) {
    note(
        req,
        AuditNote {
            object_id: Some(node.to_string()),
            ..AuditNote::default()
        },
    );
}

/// A node id in a path, checked as `node_id` is in the config.
fn node_id(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ApiError::invalid("id", "a node id matches [a-z0-9-]{1,63}"))
    }
}

/// The cluster's nodes (id, API address, roles, labels, capacity, cameras recorded, placed and
/// owned, drained, leader, state) as the answering node sees them: `up` when heard from within
/// `cluster.down_after_ms`, `down` when silent longer (dead, frozen or cut off), `left` when it said
/// it was stopping; with its clock skew.
#[utoipa::path(get, path = "/api/v1/nodes", tag = "cluster", security(("bearer" = ["nodes:read"])),
    responses((status = 200, body = vms_messages::NodeList), (status = 503, body = ErrorBody)))]
pub async fn list_nodes(backend: Service<dyn ClusterService>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(backend.nodes().await?))
}

/// Drain a node: its cameras are handed over to the other nodes make-before-break (the new owner
/// records before the old one stops), and no camera is placed on it until it is undrained. Refused
/// (409) when no other node could take its cameras.
#[utoipa::path(post, path = "/api/v1/nodes/{id}/drain", tag = "cluster", security(("bearer" = ["nodes:write"])),
    params(("id" = String, Path)), responses((status = 200, body = vms_messages::NodeView),
    (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn drain_node(
    backend: Service<dyn ClusterService>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_drained(backend, req, &id, true).await
}

/// Drains or undrains node `raw`, checked and noted in the audit log.
async fn set_drained(
    backend: Service<dyn ClusterService>,
    req: HttpRequest,
    raw: &str,
    drained: bool,
) -> Result<HttpResponse, ApiError> {
    let id = node_id(raw)?;
    noted(&req, &id);
    Ok(HttpResponse::Ok().json(backend.drain_node(&id, drained).await?))
}

/// Undrain a node: cameras may be placed on it again (about its share moves back).
#[utoipa::path(post, path = "/api/v1/nodes/{id}/undrain", tag = "cluster", security(("bearer" = ["nodes:write"])),
    params(("id" = String, Path)), responses((status = 200, body = vms_messages::NodeView),
    (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn undrain_node(
    backend: Service<dyn ClusterService>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_drained(backend, req, &id, false).await
}

/// Remove a node from the cluster: only once it is drained, holds no camera and its process has
/// stopped (409 says which is missing).
#[utoipa::path(delete, path = "/api/v1/nodes/{id}", tag = "cluster", security(("bearer" = ["nodes:write"])),
    params(("id" = String, Path)), responses((status = 204),
    (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn remove_node(
    backend: Service<dyn ClusterService>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = node_id(&id)?;
    noted(&req, &id);
    backend.remove_node(&id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Query of `GET /placement`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlacementQuery {
    /// Only the cameras placed on this node.
    pub node: Option<String>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The placement map: which node records each camera, at which ownership epoch, handovers under
/// way and cameras no node can take (with why); the leader and its epoch; moves so far.
#[utoipa::path(get, path = "/api/v1/placement", tag = "cluster", security(("bearer" = ["nodes:read"])),
    params(PlacementQuery), responses((status = 200, body = vms_messages::PlacementView),
    (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn placement(
    backend: Service<dyn ClusterService>,
    q: web::Query<PlacementQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    let after = match page.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<CameraId>().map_err(|_| {
            ApiError::invalid(
                "cursor",
                "invalid cursor; pass next_cursor from the previous page",
            )
        })?),
    };
    let node = q
        .node
        .as_deref()
        .map(node_id)
        .transpose()
        .map_err(|_| ApiError::invalid("node", "a node id matches [a-z0-9-]{1,63}"))?;
    Ok(HttpResponse::Ok().json(backend.placement(after, node, page.limit).await?))
}
