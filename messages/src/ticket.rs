//! Tickets: what an operator works on. An event opens one, or joins the unfinished one of the same
//! camera and rule; it moves open → acknowledged → resolved → closed.

use crate::error::FieldError;
use crate::ids::{CameraId, TenantId, UserId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a ticket stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Raised, nobody on it yet.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Dealt with.
    Resolved,
    /// Finished; new events open a new ticket.
    Closed,
}

impl TicketState {
    /// The state as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved, Self::Closed]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// The states an action may start from, and where it leads.
    pub fn transition(action: TicketAction) -> (&'static [TicketState], TicketState) {
        match action {
            TicketAction::Acknowledge => (&[Self::Open], Self::Acknowledged),
            TicketAction::Resolve => (&[Self::Open, Self::Acknowledged], Self::Resolved),
            TicketAction::Close => (
                &[Self::Open, Self::Acknowledged, Self::Resolved],
                Self::Closed,
            ),
        }
    }
}

/// A state change an operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketAction {
    /// open → acknowledged.
    Acknowledge,
    /// open or acknowledged → resolved.
    Resolve,
    /// any unfinished or resolved → closed.
    Close,
}

impl TicketAction {
    /// The action as written in the history.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
            Self::Close => "close",
        }
    }
}

/// A ticket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    /// Ticket id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Camera.
    pub camera_id: CameraId,
    /// Rule whose events it gathers.
    pub rule: String,
    /// Event kind.
    pub kind: String,
    /// State.
    pub state: TicketState,
    /// Who acknowledged it.
    pub assignee: Option<UserId>,
    /// Events gathered.
    pub events: i32,
    /// The event that opened it.
    pub first_event: Uuid,
    /// The latest event.
    pub last_event: Uuid,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was escalated for not being acknowledged within the tenant's `ack_sla_seconds`.
    pub escalated_at: Option<DateTime<Utc>>,
}

/// One line of a ticket's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketHistoryEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (e-mail, or `system`).
    pub actor: String,
    /// `open`, `event`, `acknowledge`, `resolve`, `close`, `comment`.
    pub action: String,
    /// State after it.
    pub state: TicketState,
    /// Comment text.
    pub comment: Option<String>,
}

/// A ticket with its history.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketView {
    /// The ticket.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// What happened to it, oldest first.
    pub history: Vec<TicketHistoryEntry>,
}

/// A page of tickets, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketPage {
    /// Tickets.
    pub items: Vec<Ticket>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Request body of a comment.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketComment {
    /// Text, 1-4000 characters.
    #[schema(min_length = 1, max_length = 4000)]
    pub text: String,
}

impl TicketComment {
    /// Checks the text.
    pub fn validate(&self) -> Result<(), FieldError> {
        let n = self.text.chars().count();
        if self.text.trim().is_empty() || n > 4000 {
            return Err(FieldError::new(
                "text",
                "must be 1-4000 characters, not blank",
            ));
        }
        Ok(())
    }
}
