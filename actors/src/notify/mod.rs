//! Notifications: delivering events to webhooks and e-mail, and escalating unacknowledged tickets.
//! It imports analytics (escalations go through the event outbox), the node context and the base
//! modules.

pub(crate) mod escalation;
pub(crate) mod notifier;
pub(crate) mod ticket_actor;
pub(crate) mod ticket_keeper;
