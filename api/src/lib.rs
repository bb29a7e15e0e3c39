//! The HTTP facade of a VMS node (actix-web): REST under `/api/v1`, the OpenAPI document at
//! `/api/v1/openapi.json`, `/healthz`, `/readyz`, `/metrics`, and the web console at `/`.
//!
//! Handlers reach the node only through the service traits of [`backend`] (one per resource, each
//! handler taking the one it uses), which the node implements with its store and actors; every failure is answered with the one JSON error shape of [`vms_messages::ErrorBody`].
//! Access is decided in one place, [`guard`], from the permission each operation declares in the
//! OpenAPI document; [`audit`] records every change.

mod audit;
mod auth;
mod backend;
mod console;
mod error;
mod guard;
mod hls;
mod live;
mod openapi;
mod ratelimit;
mod routes;
mod stream_token;

// The modules are private: what the node and the tools use is re-exported here.
pub use auth::{
    API_KEY_PREFIX, Authenticator, Claims, argon2, decode_access, encode_access,
    hash_password_blocking, secret_hash, token_kid, verify_password_blocking,
};
pub use backend::{
    AuditService, Backend, CameraPage, CameraService, ClusterService, CredentialService,
    EventService, ExportService, HealthService, HoldService, NotificationService, Page,
    RangeReader, RuleService, SegmentSource, TenantPage, TenantService, TicketService, UserService,
    VideoService,
};
pub use error::ApiError;
pub use guard::Guard;
pub use routes::segment_media_url;

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use std::sync::Arc;
use vms_config::NodeConfig;

/// The service a handler or middleware takes, as actix app data: `Service<dyn CameraService>`.
pub type Service<S> = web::Data<S>;

/// Registers every route, the extractor error handlers and the JSON 404 on `cfg`.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    backend: Arc<dyn Backend>,
    guard: web::Data<Guard>,
    live: web::Data<live::Live>,
    max_body_bytes: usize,
) {
    backend::register_services(cfg, &backend);
    cfg.app_data(guard)
        .app_data(live)
        .app_data(error::json_config(max_body_bytes))
        .app_data(error::query_config())
        .app_data(error::path_config())
        .app_data(web::PayloadConfig::new(max_body_bytes));
    routes::configure(cfg);
}

fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::RANGE,
        ])
        .expose_headers(["Retry-After", "Content-Range"])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}

/// Binds the API server; run the returned [`Server`] to serve.
pub fn serve(config: &NodeConfig, backend: Arc<dyn Backend>) -> std::io::Result<Server> {
    let api = config.api.clone();
    let auth = Arc::new(Authenticator::new(
        Arc::clone(&backend) as Arc<dyn CredentialService>,
        &config.auth,
    ));
    let guard = web::Data::new(Guard::new(auth, &api));
    let live = web::Data::new(live::Live::new(config.live.clone()));
    let origins = api.cors_allowed_origins.clone();
    let max_body = api.max_body_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(middleware::from_fn(audit::record))
            .wrap(middleware::from_fn(guard::screen))
            .wrap(cors(&origins))
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "no-referrer"))
                    .add(("Cache-Control", "no-store"))
                    .add((
                        "Content-Security-Policy",
                        "default-src 'none'; frame-ancestors 'none'",
                    )),
            )
            .wrap(
                // The request line with any stream token's value replaced: no secret in the log.
                middleware::Logger::new("%{request}xi %s %Dms")
                    .custom_request_replace("request", |req| {
                        let query = req.query_string();
                        let sep = if query.is_empty() { "" } else { "?" };
                        format!(
                            "{} {}{sep}{} {:?}",
                            req.method(),
                            req.path(),
                            stream_token::redact_query(query),
                            req.version()
                        )
                    })
                    .log_target("vms_api::access"),
            )
            .configure(|cfg| {
                configure(
                    cfg,
                    Arc::clone(&backend),
                    guard.clone(),
                    live.clone(),
                    max_body,
                )
            })
            .default_service(web::to(routes::not_found))
    })
    .shutdown_timeout(5)
    .disable_signals();
    if api.workers > 0 {
        server = server.workers(api.workers);
    }
    Ok(server.bind(&api.listen)?.run())
}
