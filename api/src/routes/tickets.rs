//! Tickets: list, read with history, acknowledge, resolve, close, comment.

use crate::Service;
use crate::audit::{AuditNote, note};
use crate::backend::TicketService;
use crate::error::ApiError;
use crate::guard::Caller;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;
use vms_messages::{ErrorBody, TicketAction, TicketComment, TicketPage, TicketState, TicketView};

/// Query of the ticket list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// Only tickets in this state.
    pub state: Option<TicketState>,
    /// Cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

fn noted(req: &HttpRequest, t: &TicketView) {
    note(
        req,
        AuditNote {
            tenant_id: Some(t.ticket.tenant_id),
            object_id: Some(t.ticket.id.to_string()),
            ..AuditNote::default()
        },
    );
}

/// List tickets, newest first.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = ["tickets:read"])),
    params(TicketQuery), responses((status = 200, body = TicketPage), (status = 400, body = ErrorBody)))]
pub async fn list_tickets(
    backend: Service<dyn TicketService>,
    caller: Caller,
    q: web::Query<TicketQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = super::page(q.cursor, q.limit)?;
    Ok(HttpResponse::Ok().json(
        backend
            .list_tickets(caller.0.scope(), q.state, page)
            .await?,
    ))
}

/// Get a ticket with its history.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", security(("bearer" = ["tickets:read"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn get_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        backend
            .get_ticket(caller.0.scope(), id.into_inner())
            .await?,
    ))
}

async fn move_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    req: HttpRequest,
    id: Uuid,
    action: TicketAction,
) -> Result<HttpResponse, ApiError> {
    let view = backend
        .move_ticket(caller.0.scope(), id, action, &caller.0)
        .await?;
    noted(&req, &view);
    Ok(HttpResponse::Ok().json(view))
}

/// Acknowledge an open ticket (the caller becomes its assignee).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/acknowledge", tag = "tickets", security(("bearer" = ["tickets:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn acknowledge_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    move_ticket(
        backend,
        caller,
        req,
        id.into_inner(),
        TicketAction::Acknowledge,
    )
    .await
}

/// Resolve an open or acknowledged ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/resolve", tag = "tickets", security(("bearer" = ["tickets:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn resolve_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    move_ticket(backend, caller, req, id.into_inner(), TicketAction::Resolve).await
}

/// Close a ticket; the camera and rule's next event opens a new one.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/close", tag = "tickets", security(("bearer" = ["tickets:write"])),
    params(("id" = String, Path, format = Uuid)), responses(
    (status = 200, body = TicketView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn close_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    move_ticket(backend, caller, req, id.into_inner(), TicketAction::Close).await
}

/// Comment on a ticket.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/comments", tag = "tickets", security(("bearer" = ["tickets:write"])),
    params(("id" = String, Path, format = Uuid)), request_body = TicketComment, responses(
    (status = 200, body = TicketView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn comment_ticket(
    backend: Service<dyn TicketService>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Json<TicketComment>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    body.validate()?;
    let view = backend
        .comment_ticket(caller.0.scope(), id.into_inner(), &caller.0, body.text)
        .await?;
    noted(&req, &view);
    Ok(HttpResponse::Ok().json(view))
}
