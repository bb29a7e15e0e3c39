//! Notifications: per-tenant channels (a signed webhook, or e-mail) that receive the tenant's events,
//! and the delivery log that shows each attempt's outcome (dead letters included).

use crate::error::FieldError;
use crate::ids::TenantId;
use crate::validate::validate_name;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most e-mail recipients of a channel.
pub const MAX_RECIPIENTS: usize = 16;
/// Header carrying a webhook's signature: `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "X-VMS-Signature";
/// Header carrying the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-VMS-Timestamp";
/// Header carrying the delivery id (the same on every retry of a delivery).
pub const DELIVERY_HEADER: &str = "X-VMS-Delivery";

/// How a channel delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// HTTP POST of the event as JSON, signed with the channel's secret.
    Webhook,
    /// An e-mail through the node's SMTP relay.
    Email,
}

impl ChannelKind {
    /// The kind as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Email => "email",
        }
    }

    /// Parses a stored kind.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Webhook, Self::Email]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A notification channel of a tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    /// Channel id.
    pub id: Uuid,
    /// Tenant whose events it receives.
    pub tenant_id: TenantId,
    /// Name, unique per tenant.
    pub name: String,
    /// How it delivers.
    pub kind: ChannelKind,
    /// Webhook URL (webhooks only).
    pub url: Option<String>,
    /// E-mail recipients (e-mail only).
    pub to: Vec<String>,
    /// Event kinds it receives (`intrusion`, `escalation`, ...); empty for every kind.
    pub kinds: Vec<String>,
    /// Whether it receives anything.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// Request body to create a channel.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelCreate {
    /// Tenant (required for platform admins; others default to their own).
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
    /// Name, unique per tenant (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub name: String,
    /// `webhook` or `email`.
    pub kind: ChannelKind,
    /// Webhook URL, `http://` or `https://` (webhooks).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// Signing secret of a webhook, 16-256 characters (default: generated, shown once).
    #[serde(default)]
    #[schema(min_length = 16, max_length = 256)]
    pub secret: Option<String>,
    /// E-mail recipients, 1-16 (e-mail).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub to: Vec<String>,
    /// Event kinds it receives (default: every kind).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub kinds: Vec<String>,
    /// Whether it receives anything (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Answer to creating a channel: the channel and, for a webhook, its signing secret (shown only here).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelCreated {
    /// The channel.
    pub channel: Channel,
    /// The webhook's signing secret; keep it, it is not shown again.
    pub secret: Option<String>,
}

/// Request body to change a channel; absent fields stay.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelUpdate {
    /// New webhook URL (webhooks).
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New recipients (e-mail).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub to: Option<Vec<String>>,
    /// New event kinds.
    #[serde(default)]
    #[schema(max_items = 32)]
    pub kinds: Option<Vec<String>>,
    /// Start or stop it.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A page of channels.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelPage {
    /// Channels, by id.
    pub items: Vec<Channel>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// Taken by the receiver.
    Delivered,
    /// Every attempt failed: a dead letter, kept until retried by hand.
    Dead,
}

impl DeliveryState {
    /// The state as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One event on its way to one channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Delivery id (derived from channel and event: an event reaches a channel once).
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Channel.
    pub channel_id: Uuid,
    /// Event delivered.
    pub event_id: Uuid,
    /// Event kind.
    pub kind: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the receiver took it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A page of deliveries, newest first.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub items: Vec<Delivery>,
    /// Cursor of the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Deterministic delivery id: one delivery per channel and event, however often it is queued.
pub fn delivery_id(channel: Uuid, event: Uuid) -> Uuid {
    Uuid::new_v5(&DELIVERY_NAMESPACE, format!("{channel}/{event}").as_bytes())
}

const DELIVERY_NAMESPACE: Uuid = Uuid::from_u128(0x6a1b_0f9e_52c4_4b8e_9d8e_5f0a_7c3e_e002);

/// A webhook URL: `http(s)://host[:port]/...`, printable, at most 2048 characters.
pub fn validate_webhook_url(field: &'static str, url: &str) -> Result<(), FieldError> {
    crate::validate::validate_url(field, url, &["http", "https"])
}

/// A recipient address: an e-mail address without the separators (`<>,;"`) that could smuggle in
/// another recipient or header.
pub fn validate_email_address(field: &'static str, addr: &str) -> Result<(), FieldError> {
    crate::auth::validate_email(field, addr)?;
    if addr.contains(['<', '>', ',', ';', '"']) {
        return Err(FieldError::new(
            field,
            format!(
                "{:?} must be a bare address like ops@example.com",
                addr.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(())
}

fn validate_recipients(to: &[String]) -> Result<(), FieldError> {
    if to.is_empty() || to.len() > MAX_RECIPIENTS {
        return Err(FieldError::new(
            "to",
            format!("an e-mail channel needs 1-{MAX_RECIPIENTS} recipients"),
        ));
    }
    to.iter().try_for_each(|a| validate_email_address("to", a))
}

fn validate_kinds(kinds: &[String]) -> Result<(), FieldError> {
    if kinds.len() > 32 {
        return Err(FieldError::new("kinds", "at most 32 event kinds"));
    }
    kinds.iter().try_for_each(|k| validate_name("kinds", k))
}

impl ChannelCreate {
    /// Checks every field, naming the first at fault; a webhook needs `url`, e-mail needs `to`.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate_name("name", &self.name)?;
        validate_kinds(&self.kinds)?;
        match self.kind {
            ChannelKind::Webhook => {
                let url = self
                    .url
                    .as_deref()
                    .ok_or_else(|| FieldError::new("url", "a webhook channel needs a url"))?;
                validate_webhook_url("url", url)?;
                if !self.to.is_empty() {
                    return Err(FieldError::new("to", "recipients are for e-mail channels"));
                }
                if let Some(s) = &self.secret
                    && (!(16..=256).contains(&s.chars().count()) || s.chars().any(char::is_control))
                {
                    return Err(FieldError::new(
                        "secret",
                        "must be 16-256 printable characters",
                    ));
                }
            }
            ChannelKind::Email => {
                validate_recipients(&self.to)?;
                if self.url.is_some() {
                    return Err(FieldError::new("url", "a url is for webhook channels"));
                }
                if self.secret.is_some() {
                    return Err(FieldError::new(
                        "secret",
                        "a secret is for webhook channels",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl ChannelUpdate {
    /// Checks every present field (whether it fits the channel's kind is checked against the channel).
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Some(url) = &self.url {
            validate_webhook_url("url", url)?;
        }
        if let Some(to) = &self.to {
            validate_recipients(to)?;
        }
        if let Some(k) = &self.kinds {
            validate_kinds(k)?;
        }
        Ok(())
    }

    /// Refuses fields that do not fit a channel of `kind`.
    pub fn check_kind(&self, kind: ChannelKind) -> Result<(), FieldError> {
        match kind {
            ChannelKind::Webhook if self.to.is_some() => {
                Err(FieldError::new("to", "recipients are for e-mail channels"))
            }
            ChannelKind::Email if self.url.is_some() => {
                Err(FieldError::new("url", "a url is for webhook channels"))
            }
            _ => Ok(()),
        }
    }
}

impl Channel {
    /// Whether the channel receives events of `kind`.
    pub fn wants(&self, kind: &str) -> bool {
        self.enabled && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str) -> ChannelCreate {
        ChannelCreate {
            tenant_id: None,
            name: "ops".into(),
            kind: ChannelKind::Webhook,
            url: Some(url.into()),
            secret: None,
            to: vec![],
            kinds: vec![],
            enabled: None,
        }
    }

    #[test]
    fn webhook_urls() {
        for ok in [
            "http://127.0.0.1:9000/hook",
            "https://hooks.example.com/a?b=c",
            "http://[::1]:8080/x",
        ] {
            assert!(webhook(ok).validate().is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ftp://x/y", "scheme"),
            ("http:///path", "host"),
            ("http://host:0/", "port"),
            ("http://host:99999/", "port"),
            ("http://ho st/", "whitespace"),
        ] {
            let e = webhook(bad).validate().unwrap_err();
            assert_eq!(e.field, "url");
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
        let mut w = webhook("http://h/");
        w.secret = Some("short".into());
        assert_eq!(w.validate().unwrap_err().field, "secret");
        let mut e = webhook("http://h/");
        e.kind = ChannelKind::Email;
        assert_eq!(e.validate().unwrap_err().field, "to");
        e.url = None;
        e.to = vec!["ops@example.com".into(), "bad\r\nBcc: x@y".into()];
        assert_eq!(e.validate().unwrap_err().field, "to");
        e.to.pop();
        assert!(e.validate().is_ok());
    }

    #[test]
    fn delivery_ids_are_per_channel_and_event() {
        let (c, e) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(delivery_id(c, e), delivery_id(c, e));
        assert_ne!(delivery_id(c, e), delivery_id(e, c));
    }
}
