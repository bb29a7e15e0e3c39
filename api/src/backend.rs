//! What the API needs from the node. The node implements it with its store and actors; tests can
//! implement it with fakes.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use vms_messages::{
    CameraCreate, CameraId, CameraUpdate, CameraView, Segment, SegmentPage, Tenant, TenantCreate,
    TenantId, TenantUpdate,
};

/// A page of tenants.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantPage {
    /// Tenants, ordered by id.
    pub items: Vec<Tenant>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of cameras with their live status.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CameraPage {
    /// Cameras, ordered by id.
    pub items: Vec<CameraView>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The node as the API sees it. Every method is given validated input.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Whether the node can serve (database reachable, actors running); the error says why not.
    async fn ready(&self) -> Result<(), String>;

    /// Creates a tenant.
    async fn create_tenant(&self, req: TenantCreate) -> Result<Tenant, ApiError>;
    /// Lists tenants.
    async fn list_tenants(
        &self,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<TenantPage, ApiError>;
    /// One tenant.
    async fn get_tenant(&self, id: TenantId) -> Result<Tenant, ApiError>;
    /// Changes a tenant.
    async fn update_tenant(&self, id: TenantId, req: TenantUpdate) -> Result<Tenant, ApiError>;
    /// Deletes a tenant without cameras.
    async fn delete_tenant(&self, id: TenantId) -> Result<(), ApiError>;

    /// Adds a camera and starts recording it.
    async fn create_camera(&self, req: CameraCreate) -> Result<CameraView, ApiError>;
    /// Lists cameras, optionally of one tenant.
    async fn list_cameras(
        &self,
        tenant: Option<TenantId>,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<CameraPage, ApiError>;
    /// One camera with live status.
    async fn get_camera(&self, id: CameraId) -> Result<CameraView, ApiError>;
    /// Changes a camera, live.
    async fn update_camera(&self, id: CameraId, req: CameraUpdate) -> Result<CameraView, ApiError>;
    /// Deletes a camera and its recordings.
    async fn delete_camera(&self, id: CameraId) -> Result<(), ApiError>;

    /// A page of a camera's segments overlapping `[from, to)`.
    async fn list_segments(
        &self,
        camera: CameraId,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        cursor: Option<String>,
        limit: i64,
    ) -> Result<SegmentPage, ApiError>;
    /// One segment's index entry.
    async fn get_segment(&self, id: i64) -> Result<Segment, ApiError>;
    /// The file of a segment.
    async fn segment_file(&self, id: i64) -> Result<PathBuf, ApiError>;
}
