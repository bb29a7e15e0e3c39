//! The OpenAPI 3 document, generated from the handlers' annotations and the wire types. Every
//! operation's `security` entry is the permission the guard enforces (see [`crate::guard`]).

use crate::routes;
use crate::routes::{
    audit, cameras, events, exports, holds, identity, live, live_hls, notify, rules, tenants,
    tickets, video,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The API description served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "VMS API", description = "Distributed video management and analytics platform. \
        Authenticate with `Authorization: Bearer <access token or API key>`; each operation's security \
        entry names the permission it needs."),
    modifiers(&Security),
    paths(
        routes::healthz,
        routes::readyz,
        routes::metrics,
        routes::openapi_json,
        routes::cluster::list_nodes,
        routes::cluster::drain_node,
        routes::cluster::undrain_node,
        routes::cluster::remove_node,
        routes::cluster::placement,
        identity::login,
        identity::refresh,
        identity::logout,
        identity::me,
        identity::rotate_signing_key,
        identity::create_user,
        identity::list_users,
        identity::get_user,
        identity::update_user,
        identity::delete_user,
        identity::create_api_key,
        identity::list_api_keys,
        identity::revoke_api_key,
        audit::list_audit,
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::get_tenant,
        tenants::tenant_usage,
        tenants::update_tenant,
        tenants::delete_tenant,
        cameras::create_camera,
        cameras::list_cameras,
        cameras::get_camera,
        cameras::update_camera,
        cameras::delete_camera,
        cameras::list_segments,
        cameras::get_segment,
        cameras::segment_media,
        cameras::camera_storage,
        holds::create_hold,
        holds::list_holds,
        holds::get_hold,
        holds::release_hold,
        holds::hold_event,
        video::stream_token,
        video::playlist,
        video::vod_segment,
        video::timeline,
        video::snapshot,
        live::live_mp4,
        live::whep_offer,
        live::whep_delete,
        live_hls::live_playlist,
        live_hls::live_init,
        live_hls::live_segment,
        live_hls::live_part,
        exports::create_export,
        exports::list_exports,
        exports::get_export,
        exports::delete_export,
        exports::export_media,
        exports::export_manifest,
        exports::export_key,
        rules::list_detectors,
        rules::create_rule,
        rules::list_rules,
        rules::get_rule,
        rules::update_rule,
        rules::delete_rule,
        tickets::list_tickets,
        tickets::get_ticket,
        tickets::acknowledge_ticket,
        tickets::resolve_ticket,
        tickets::close_ticket,
        tickets::comment_ticket,
        notify::create_channel,
        notify::list_channels,
        notify::get_channel,
        notify::update_channel,
        notify::delete_channel,
        notify::list_deliveries,
        notify::retry_delivery,
        events::list_events,
        events::stream_events,
        events::get_event,
        events::event_snapshot,
        events::similar_events,
    ),
    components(schemas(
        vms_messages::ErrorBody,
        vms_messages::ErrorDetail,
        vms_messages::Tenant,
        vms_messages::TenantCreate,
        vms_messages::TenantUpdate,
        vms_messages::TenantUsage,
        vms_messages::Camera,
        vms_messages::CameraCreate,
        vms_messages::CameraUpdate,
        vms_messages::CameraView,
        vms_messages::CameraStatus,
        vms_messages::CameraState,
        vms_messages::RtspTransport,
        vms_messages::Segment,
        vms_messages::CameraStorage,
        vms_messages::SegmentPage,
        vms_messages::SegmentOrigin,
        vms_messages::SegmentMedia,
        vms_messages::SegmentContainer,
        vms_messages::SegmentFragment,
        vms_messages::Hold,
        vms_messages::HoldCreate,
        vms_messages::HoldPage,
        vms_messages::StreamTokenRequest,
        vms_messages::StreamToken,
        vms_messages::Timeline,
        vms_messages::TimelineSpan,
        vms_messages::TimelineGap,
        vms_messages::TimelineEvent,
        vms_messages::TimelineBucket,
        vms_messages::GapReason,
        vms_messages::ExportCreate,
        vms_messages::Export,
        vms_messages::ExportFile,
        vms_messages::ExportState,
        vms_messages::ExportPage,
        vms_messages::ExportManifest,
        vms_messages::ManifestFile,
        vms_messages::ManifestSegment,
        vms_messages::SignedManifest,
        vms_messages::ExportKey,
        vms_messages::Role,
        vms_messages::User,
        vms_messages::UserCreate,
        vms_messages::UserUpdate,
        vms_messages::UserPage,
        vms_messages::ApiKey,
        vms_messages::ApiKeyCreate,
        vms_messages::ApiKeyCreated,
        vms_messages::ApiKeyPage,
        vms_messages::LoginRequest,
        vms_messages::RefreshRequest,
        vms_messages::TokenPair,
        vms_messages::Me,
        vms_messages::SigningKeyRotated,
        vms_messages::AuditEntry,
        vms_messages::AuditRecord,
        vms_messages::AuditPage,
        vms_messages::DetectorInfo,
        vms_messages::DetectorList,
        vms_messages::Rule,
        vms_messages::RuleCreate,
        vms_messages::RuleUpdate,
        vms_messages::RulePage,
        vms_messages::Ticket,
        vms_messages::TicketState,
        vms_messages::TicketView,
        vms_messages::TicketPage,
        vms_messages::TicketHistoryEntry,
        vms_messages::TicketComment,
        vms_messages::Event,
        vms_messages::EventPage,
        vms_messages::EventView,
        vms_messages::NodeList,
        vms_messages::PlacementView,
        vms_messages::PlacementEntry,
        vms_messages::NodeView,
        vms_messages::NodeState,
        vms_messages::DiskUse,
        vms_messages::SimilarEvent,
        vms_messages::SimilarEvents,
        vms_messages::Channel,
        vms_messages::ChannelKind,
        vms_messages::ChannelCreate,
        vms_messages::ChannelCreated,
        vms_messages::ChannelUpdate,
        vms_messages::ChannelPage,
        vms_messages::Delivery,
        vms_messages::DeliveryState,
        vms_messages::DeliveryPage,
        crate::TenantPage,
        crate::CameraPage,
    )),
    tags(
        (name = "health", description = "liveness, readiness, metrics"),
        (name = "auth", description = "login, tokens, sessions"),
        (name = "users", description = "users and roles"),
        (name = "api-keys", description = "API keys"),
        (name = "audit", description = "the audit log"),
        (name = "tenants", description = "tenants and their licences"),
        (name = "cameras", description = "cameras and their live status"),
        (name = "recordings", description = "recorded segments and evidence holds"),
        (name = "video", description = "recorded video for players: HLS, timeline, snapshots, stream tokens"),
        (name = "live", description = "live video: WebRTC (WHEP) and fMP4 over WebSocket"),
        (name = "exports", description = "signed MP4 exports of recorded video"),
        (name = "rules", description = "analytics rules per camera"),
        (name = "events", description = "analytics events"),
        (name = "tickets", description = "tickets opened by events"),
        (name = "notifications", description = "webhook and e-mail channels, delivery log"),
        (name = "cluster", description = "the cluster's nodes and the placement map"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme, and the answers the guard gives to any operation: 429 everywhere,
/// 401 and 403 where a permission is needed.
struct Security;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
        .into()
}

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "an access token (JWT) from /auth/login, or an API key",
                        ))
                        .build(),
                ),
            );
        }
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| {
                    serde_json::to_value(s).is_ok_and(|v| v != serde_json::json!([{}]))
                });
                let responses = &mut op.responses.responses;
                responses
                    .entry("429".into())
                    .or_insert_with(|| error_response("rate limited; see Retry-After"));
                responses
                    .entry("405".into())
                    .or_insert_with(|| error_response("method not allowed"));
                if secured {
                    responses.entry("401".into()).or_insert_with(|| {
                        error_response("missing, invalid or expired credentials")
                    });
                    responses.entry("403".into()).or_insert_with(|| {
                        error_response("the caller's role lacks the permission")
                    });
                }
            }
        }
    }
}

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
