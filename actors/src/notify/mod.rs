//! Notifications: delivering events to webhooks and e-mail, and escalating unacknowledged tickets.

pub mod escalation;
pub mod notifier;
