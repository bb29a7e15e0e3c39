//! Any node serves the API, but a camera runs on the node placement gave it. Two small NATS
//! protocols connect them:
//!
//! - **Changes**: a node whose API created, changed or deleted a tenant, camera or rule applies it
//!   and publishes a [`ClusterChange`] on `vms.cluster.<cluster>.changes`; every other node of the
//!   cluster reads the entity from the store and applies it too (the owner restarts or reconfigures
//!   the camera, the others only update what they keep). Changes are signed with the cluster cookie
//!   and refused when forged, stale or replayed (`crate::cluster_auth`); a removal is applied only
//!   when the store no longer has the row, so no message alone deletes footage.
//! - **Live status**: asked of the owner over its ractor_cluster link (`crate::cluster::links`), or, without a
//!   link, on `vms.cluster.<cluster>.node.<node>.camera-status`, a request-reply subject each node
//!   answers for the cameras it runs. So `GET /cameras/{id}` on any node shows the owner's live status;
//!   an owner that does not answer in time is reported as such, with a retry hint.

use crate::cluster::local::LocalActors;
use crate::cluster_auth::{ClusterAuth, Refusal};
use crate::context::NodeContext;
use futures_util::StreamExt;
use std::sync::Arc;
use vms_messages::{CameraId, CameraStatus, Change, ClusterChange, TenantScope, subjects};
use vms_store::StoreError;

/// Publishes `change` (made on this node, and applied here already) to the other nodes.
pub async fn publish(ctx: &NodeContext, auth: &ClusterAuth, change: Change) {
    let nats = &ctx.nats;
    let msg = auth.sealed_change(change);
    match serde_json::to_vec(&msg) {
        Ok(bytes) => {
            let subject = subjects::cluster_changes(&ctx.config.cluster.name);
            if let Err(e) = nats.publish(subject, bytes.into()).await {
                tracing::warn!(error = %e, ?change, "cannot tell the other nodes of a change");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode a cluster change"),
    }
}

/// The live status of `camera` from `node`, which runs it: over the ractor_cluster link, or over
/// NATS request-reply when there is no link; `None` when it does not answer in time.
pub async fn remote_status(
    ctx: &NodeContext,
    node: &str,
    camera: CameraId,
) -> Option<CameraStatus> {
    if let Some(status) = crate::cluster::links::camera_status(node, camera).await {
        crate::metrics::REMOTE_STATUS
            .with_label_values(&["link"])
            .inc();
        return Some(status);
    }
    let nats = &ctx.nats;
    let subject = subjects::camera_status(&ctx.config.cluster.name, node);
    let reply = tokio::time::timeout(
        crate::cluster::links::CALL_TIMEOUT,
        nats.request(subject, camera.to_string().into_bytes().into()),
    )
    .await
    .ok()?
    .ok()?;
    let status = serde_json::from_slice(&reply.payload).ok()?;
    crate::metrics::REMOTE_STATUS
        .with_label_values(&["nats"])
        .inc();
    Some(status)
}

/// Applies the changes other nodes publish and answers status requests, for as long as the node
/// runs.
pub fn spawn(
    ctx: Arc<NodeContext>,
    auth: Arc<ClusterAuth>,
    actors: Arc<dyn LocalActors>,
) -> tokio::task::JoinHandle<()> {
    let nats = ctx.nats.clone();
    tokio::spawn(async move {
        let cluster = ctx.config.cluster.name.clone();
        let changes = nats.subscribe(subjects::cluster_changes(&cluster)).await;
        let status = nats
            .subscribe(subjects::camera_status(&cluster, ctx.node_id()))
            .await;
        let (Ok(mut changes), Ok(mut status)) = (changes, status) else {
            tracing::error!(
                "cannot subscribe to cluster changes; changes made on other nodes apply here only after a restart"
            );
            return;
        };
        loop {
            tokio::select! {
                Some(msg) = changes.next() => {
                    match serde_json::from_slice::<ClusterChange>(&msg.payload) {
                        Ok(c) if c.origin != ctx.node_id() => match auth.admit_change(&c) {
                            Ok(()) => apply(&ctx, actors.as_ref(), c.change).await,
                            Err(why) => {
                                why.count("change");
                                tracing::warn!(origin = %c.origin, seq = c.seq, reason = why.as_str(), "cluster change refused");
                            }
                        },
                        Ok(_) => {}
                        Err(e) => {
                            Refusal::BadSignature.count("change");
                            tracing::warn!(error = %e, "unreadable cluster change ignored");
                        }
                    }
                }
                Some(msg) = status.next() => {
                    let Some(reply) = msg.reply else { continue };
                    let camera = std::str::from_utf8(&msg.payload).ok().and_then(|s| s.parse::<CameraId>().ok());
                    let answer = match camera {
                        Some(c) => crate::cluster::links::local_status(c).await,
                        None => None,
                    };
                    // No answer for a camera not running here: the asker reports it as moving.
                    if let Some(s) = answer
                        && let Ok(bytes) = serde_json::to_vec(&s)
                    {
                        let _ = nats.publish(reply, bytes.into()).await;
                    }
                }
                else => break,
            }
        }
    })
}

/// Applies a change made on another node, once the store confirms it.
async fn apply(ctx: &NodeContext, actors: &dyn LocalActors, change: Change) {
    tracing::debug!(?change, "change made on another node");
    match change {
        Change::Tenant { tenant_id } => match ctx.store.tenant(TenantScope::All, tenant_id).await {
            Ok(t) => actors.upsert_tenant(t),
            Err(e) => {
                tracing::warn!(tenant_id = %tenant_id, error = %e, "cannot load a tenant changed elsewhere");
            }
        },
        // A removal is acted on only when the store says the row is gone: a message alone never
        // deletes anything (a still-present row means the message lied, or was overtaken).
        Change::TenantRemoved { tenant_id } => {
            match ctx.store.tenant(TenantScope::All, tenant_id).await {
                Err(StoreError::NotFound(_)) => actors.remove_tenant(tenant_id),
                Ok(_) => {
                    tracing::warn!(tenant_id = %tenant_id, "tenant removal ignored: the tenant is still in the store");
                }
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant_id, error = %e, "tenant removal not applied: cannot check the store; the periodic reconcile will");
                }
            }
        }
        Change::Camera { camera_id } => match ctx.store.camera(TenantScope::All, camera_id).await {
            Ok(c) => actors.upsert_camera(c),
            Err(e) => {
                tracing::warn!(camera_id = %camera_id, error = %e, "cannot load a camera changed elsewhere");
            }
        },
        Change::CameraRemoved {
            camera_id,
            tenant_id,
        } => match ctx.store.camera(TenantScope::All, camera_id).await {
            Err(StoreError::NotFound(_)) => actors.remove_camera(camera_id, tenant_id),
            Ok(_) => {
                tracing::warn!(camera_id = %camera_id, "camera removal ignored: the camera is still in the store");
            }
            Err(e) => {
                tracing::warn!(camera_id = %camera_id, error = %e, "camera removal not applied: cannot check the store; the periodic reconcile will");
            }
        },
        Change::Rules { camera_id } => actors.rules_changed(camera_id),
        Change::StorageOverQuota { tenant_id } => {
            if over_quota(ctx, tenant_id).await {
                actors.storage_over_quota(tenant_id);
            }
        }
    }
}

/// Whether PostgreSQL says `tenant` keeps more footage than its quota (a hint says so; the store
/// decides, from the tenant's standing: its licence and bytes kept, in one query).
async fn over_quota(ctx: &NodeContext, tenant: vms_messages::TenantId) -> bool {
    match ctx.store.tenant_standing(tenant).await {
        Ok(Some(s)) => s
            .tenant
            .storage_quota_bytes
            .is_some_and(|quota| s.bytes_stored > quota),
        Ok(None) => false,
        Err(e) => {
            tracing::debug!(tenant_id = %tenant, error = %e, "cannot read a tenant's standing; the next sweep enforces its quota");
            false
        }
    }
}
