//! The HTTP facade of a VMS node (actix-web): REST under `/api/v1`, the OpenAPI document at
//! `/api/v1/openapi.json`, `/healthz`, `/readyz` and `/metrics`.
//!
//! Handlers reach the node only through the [`Backend`] trait, which the node implements with its store
//! and actors; every failure is answered with the one JSON error shape of [`vms_messages::ErrorBody`].

pub mod backend;
pub mod error;
pub mod openapi;
pub mod routes;

pub use backend::{Backend, CameraPage, TenantPage};
pub use error::ApiError;

use actix_web::{App, HttpServer, dev::Server, middleware, web};
use std::sync::Arc;
use vms_config::ApiConfig;

/// Shared state of every handler.
pub type SharedBackend = web::Data<dyn Backend>;

/// Registers every route, the extractor error handlers and the JSON 404 on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig, backend: Arc<dyn Backend>, max_body_bytes: usize) {
    cfg.app_data(web::Data::from(backend))
        .app_data(error::json_config(max_body_bytes))
        .app_data(error::query_config())
        .app_data(error::path_config())
        .app_data(web::PayloadConfig::new(max_body_bytes));
    routes::configure(cfg);
}

/// Binds the API server; run the returned [`Server`] to serve.
pub fn serve(config: &ApiConfig, backend: Arc<dyn Backend>) -> std::io::Result<Server> {
    let max_body = config.max_body_bytes;
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(
                middleware::DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("X-Frame-Options", "DENY"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(middleware::Logger::new("%r %s %Dms").log_target("vms_api::access"))
            .configure(|cfg| configure(cfg, Arc::clone(&backend), max_body))
            .default_service(web::to(routes::not_found))
    })
    .shutdown_timeout(5)
    .disable_signals();
    if config.workers > 0 {
        server = server.workers(config.workers);
    }
    Ok(server.bind(&config.listen)?.run())
}
