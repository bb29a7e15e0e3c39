//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types.

use crate::routes;
use utoipa::OpenApi;

/// The API description served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "VMS API", description = "Distributed video management and analytics platform"),
    paths(
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::create_tenant,
        routes::list_tenants,
        routes::get_tenant,
        routes::update_tenant,
        routes::delete_tenant,
        routes::create_camera,
        routes::list_cameras,
        routes::get_camera,
        routes::update_camera,
        routes::delete_camera,
        routes::list_segments,
        routes::get_segment,
        routes::segment_media,
    ),
    components(schemas(
        vms_messages::ErrorBody,
        vms_messages::ErrorDetail,
        vms_messages::Tenant,
        vms_messages::TenantCreate,
        vms_messages::TenantUpdate,
        vms_messages::Camera,
        vms_messages::CameraCreate,
        vms_messages::CameraUpdate,
        vms_messages::CameraView,
        vms_messages::CameraStatus,
        vms_messages::CameraState,
        vms_messages::Segment,
        vms_messages::SegmentPage,
        crate::TenantPage,
        crate::CameraPage,
    )),
    tags(
        (name = "health", description = "liveness, readiness, metrics"),
        (name = "tenants", description = "tenants and their licences"),
        (name = "cameras", description = "cameras and their live status"),
        (name = "recordings", description = "recorded segments"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
