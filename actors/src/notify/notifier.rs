//! `NotifierActor`: sends the node's share of queued notifications. Every tick it claims due
//! deliveries from PostgreSQL (`SKIP LOCKED`, so nodes share the work and never send the same attempt),
//! sends them at once (webhooks signed with HMAC-SHA256, e-mail through the SMTP relay), and records
//! each outcome: delivered, retried later with exponential backoff, or dead after the last attempt
//! (at once when an SMTP server refuses permanently, with a 5xx reply).
//!
//! A webhook's signature is `X-VMS-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
//! with the timestamp in `X-VMS-Timestamp`, so a receiver can refuse replays. Unless
//! `notifications.allow_private_targets` is set, a webhook whose host resolves to a loopback,
//! private, link-local or otherwise internal address is refused, and redirects are never followed.

use crate::context::NodeContext;
use crate::metrics;
use crate::signing::signature;
use chrono::Utc;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use vms_config::{NotificationsConfig, SmtpTls};
use vms_messages::{ChannelKind, Event};
use vms_messages::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use vms_store::{AttemptOutcome, DueDelivery};

/// Registry name of the node's notifier.
pub const NOTIFIER_ACTOR: &str = "notifier";
/// Deliveries claimed per tick.
const BATCH: i64 = 32;
/// Wait between ticks when nothing was due.
const IDLE_TICK: Duration = Duration::from_millis(300);

/// Messages of [`NotifierActor`].
pub enum NotifierMsg {
    /// Claim and send what is due.
    Tick,
}

impl ractor::Message for NotifierMsg {}

/// Sends notifications; see the module docs.
pub struct NotifierActor;

/// State of [`NotifierActor`].
pub struct NotifierState {
    ctx: Arc<NodeContext>,
    senders: Arc<Senders>,
}

/// What sends: the HTTP client and the SMTP relay.
struct Senders {
    config: NotificationsConfig,
    http: reqwest::Client,
    smtp: Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String>,
}

fn smtp_transport(
    config: &NotificationsConfig,
    node_id: &str,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), String> {
    let smtp = &config.smtp;
    if smtp.host.is_empty() {
        return Err("no SMTP relay is configured (notifications.smtp.host)".into());
    }
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("notifications.smtp.from {:?}: {e}", smtp.from))?;
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .map_err(|e| format!("smtp relay {}: {e}", smtp.host))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
            .map_err(|e| format!("smtp relay {}: {e}", smtp.host))?,
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(u64::from(config.timeout_seconds))))
        .hello_name(ClientId::Domain(node_id.to_string()));
    if let Some(file) = &smtp.password_file {
        let password = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read notifications.smtp.password_file: {e}"))?;
        builder = builder.credentials(Credentials::new(
            smtp.username.clone(),
            password.trim_end().to_string(),
        ));
    }
    Ok((builder.build(), from))
}

impl Actor for NotifierActor {
    type Msg = NotifierMsg;
    type State = NotifierState;
    type Arguments = Arc<NodeContext>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        ctx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let config = ctx.config.notifications.clone();
        let http = webhook_client(&config).build()?;
        let smtp = smtp_transport(&config, ctx.node_id());
        if let Err(e) = &smtp
            && !config.smtp.host.is_empty()
        {
            tracing::warn!(error = %e, "e-mail notifications cannot be sent");
        }
        let _ = myself.cast(NotifierMsg::Tick);
        Ok(NotifierState {
            ctx,
            senders: Arc::new(Senders { config, http, smtp }),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        NotifierMsg::Tick: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let lease = Duration::from_secs(u64::from(state.senders.config.timeout_seconds) * 2 + 10);
        let due = match state.ctx.store.claim_deliveries(BATCH, lease).await {
            Ok(due) => due,
            Err(e) => {
                tracing::debug!(error = %e, "cannot claim notifications yet");
                myself.send_after(IDLE_TICK * 3, || NotifierMsg::Tick);
                return Ok(());
            }
        };
        let busy = !due.is_empty();
        let sends: Vec<_> = due
            .into_iter()
            .map(|d| {
                let senders = Arc::clone(&state.senders);
                let ctx = Arc::clone(&state.ctx);
                tokio::spawn(async move { attempt(&ctx, &senders, d).await })
            })
            .collect();
        for send in sends {
            let _ = send.await;
        }
        // A full batch may have more behind it: go again at once.
        myself.send_after(if busy { Duration::ZERO } else { IDLE_TICK }, || {
            NotifierMsg::Tick
        });
        Ok(())
    }
}

/// Why an attempt failed.
enum Failure {
    /// Worth another attempt (refused connection, timeout, an HTTP error answer).
    Transient(String),
    /// The receiver said it will never take it (an SMTP 5xx): dead at once.
    Permanent(String),
}

/// Makes one attempt of a claimed delivery and records its outcome.
async fn attempt(ctx: &NodeContext, senders: &Senders, due: DueDelivery) {
    let d = &due.delivery;
    let result = match due.channel.kind {
        ChannelKind::Webhook => send_webhook(senders, &due)
            .await
            .map_err(Failure::Transient),
        ChannelKind::Email => send_email(senders, &due).await,
    };
    let config = &senders.config;
    let attempts = d.attempts + 1;
    let outcome = match result {
        Ok(()) => AttemptOutcome::Delivered,
        Err(Failure::Permanent(e)) => AttemptOutcome::Dead(e),
        Err(Failure::Transient(e)) if attempts >= config.max_attempts => AttemptOutcome::Dead(e),
        Err(Failure::Transient(e)) => {
            let wait = retry_delay(config, attempts);
            AttemptOutcome::Retry(
                e,
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
            )
        }
    };
    let label = match &outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Retry(..) => "retry",
        AttemptOutcome::Dead(_) => "dead",
    };
    metrics::NOTIFICATION_ATTEMPTS
        .with_label_values(&[due.channel.kind.as_str(), label])
        .inc();
    match &outcome {
        AttemptOutcome::Delivered => {
            tracing::info!(delivery_id = %d.id, channel_id = %due.channel.id, event_id = %d.event_id, attempts, "notification delivered")
        }
        AttemptOutcome::Retry(e, at) => {
            tracing::warn!(delivery_id = %d.id, channel_id = %due.channel.id, attempts, error = %e, retry_at = %at, "notification failed; will retry")
        }
        AttemptOutcome::Dead(e) => {
            tracing::warn!(delivery_id = %d.id, channel_id = %due.channel.id, attempts, error = %e, "notification dead after its last attempt")
        }
    }
    if let Err(e) = ctx.store.finish_attempt(d.id, &outcome).await {
        // The claim's lease runs out and the attempt is made again.
        tracing::warn!(delivery_id = %d.id, error = %e, "cannot record notification outcome");
    }
}

/// Wait before attempt `attempts + 1`: doubling from `retry_initial_ms`, capped at `retry_max_ms`.
pub fn retry_delay(config: &NotificationsConfig, attempts: u32) -> Duration {
    let factor = 1u64 << attempts.saturating_sub(1).min(30);
    Duration::from_millis(
        config
            .retry_initial_ms
            .saturating_mul(factor)
            .min(config.retry_max_ms),
    )
}

/// The JSON a webhook receives.
fn webhook_body(due: &DueDelivery) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "delivery_id": due.delivery.id,
        "channel_id": due.channel.id,
        "tenant_id": due.channel.tenant_id,
        "event": due.event,
    }))
    .unwrap_or_default()
}

async fn send_webhook(senders: &Senders, due: &DueDelivery) -> Result<(), String> {
    let url = due.channel.url.as_deref().unwrap_or_default();
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("invalid webhook url: {e}"))?;
    // The request goes to the addresses that were checked: resolving the name again (DNS
    // rebinding) could reach an internal one.
    let pinned;
    let http = if senders.config.allow_private_targets {
        &senders.http
    } else {
        let (host, addrs) = check_public_target(&parsed).await?;
        pinned = webhook_client(&senders.config)
            .resolve_to_addrs(&host, &addrs)
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        &pinned
    };
    let body = webhook_body(due);
    let ts = Utc::now().timestamp();
    let sig = signature(
        due.secret.as_deref().unwrap_or_default().as_bytes(),
        ts,
        &body,
    );
    let resp = http
        .post(parsed)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sig)
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(DELIVERY_HEADER, due.delivery.id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| describe_http_error(&e))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("receiver answered HTTP {}", status.as_u16()))
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    // The source chain holds the useful part (connection refused, dns error, ...).
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {cause}")
    }
}

/// The webhook client's settings: timeout, no redirects, our user agent.
fn webhook_client(config: &vms_config::NotificationsConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(u64::from(config.timeout_seconds)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("vms-notifier/", env!("CARGO_PKG_VERSION")))
}

/// Refuses a webhook host that is, or resolves to, an address inside the node's own networks;
/// answers the host name and the checked addresses to pin the request to.
async fn check_public_target(
    url: &reqwest::Url,
) -> Result<(String, Vec<std::net::SocketAddr>), String> {
    let port = url.port_or_known_default().unwrap_or(80);
    let host = url.host_str().ok_or("webhook url has no host")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    match addrs.iter().find(|ip| is_internal(**ip)) {
        Some(ip) => Err(format!(
            "webhook target address {ip} is internal; set notifications.allow_private_targets to allow it"
        )),
        None if addrs.is_empty() => Err(format!("{host} resolves to no address")),
        None => Ok((
            host.to_string(),
            addrs
                .into_iter()
                .map(|ip| std::net::SocketAddr::new(ip, port))
                .collect(),
        )),
    }
}

/// Loopback, private, link-local, shared, benchmarking, reserved, unspecified, multicast or
/// documentation addresses, and IPv6 addresses that embed an internal IPv4 one (mapped,
/// IPv4-compatible, NAT64, 6to4).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking, 198.18.0.0/15
                || o[0] >= 240 // reserved, 240.0.0.0/4
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let embedded = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                is_internal(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)))
            };
            // IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks).
            if seg[..6].iter().all(|s| *s == 0) && !v6.is_loopback() && !v6.is_unspecified() {
                return embedded(seg[6], seg[7]);
            }
            // NAT64 (64:ff9b::/96, local-use 64:ff9b:1::/48) reaches the IPv4 address in its tail.
            if (seg[0] == 0x64 && seg[1] == 0xff9b) && embedded(seg[6], seg[7]) {
                return true;
            }
            // 6to4 (2002::/16) carries the IPv4 address in its second and third groups.
            if seg[0] == 0x2002 && embedded(seg[1], seg[2]) {
                return true;
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

async fn send_email(senders: &Senders, due: &DueDelivery) -> Result<(), Failure> {
    let (transport, from) = senders
        .smtp
        .as_ref()
        .map_err(|e| Failure::Transient(e.clone()))?;
    let event: Option<Event> = serde_json::from_value(due.event.clone()).ok();
    let (subject, text) = match &event {
        Some(e) => (
            format!("[vms] {} on camera {}", e.kind, e.camera_id),
            format!(
                "{kind} raised by rule {rule:?} on camera {camera} at {at}\n\
                 {label} (score {score:.2})\n\nEvent: /api/v1/events/{id}\nTenant: {tenant}\n",
                kind = e.kind,
                rule = e.rule,
                camera = e.camera_id,
                at = e.at.to_rfc3339(),
                label = e.label,
                score = e.score,
                id = e.id,
                tenant = e.tenant_id,
            ),
        ),
        None => (
            format!("[vms] {}", due.delivery.kind),
            due.event.to_string(),
        ),
    };
    let mut builder = Message::builder()
        .from(from.clone())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN);
    for to in &due.channel.to {
        let mailbox: Mailbox = to
            .parse()
            .map_err(|e| Failure::Permanent(format!("recipient {to:?}: {e}")))?;
        builder = builder.to(mailbox);
    }
    let message = builder
        .body(text)
        .map_err(|e| Failure::Permanent(format!("cannot build the e-mail: {e}")))?;
    transport.send(message).await.map(|_| ()).map_err(|e| {
        let text = format!("smtp: {e}");
        if e.is_permanent() {
            Failure::Permanent(text)
        } else {
            Failure::Transient(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "198.18.0.1",
            "198.19.255.254",
            "240.0.0.1",
            "255.255.255.255",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "2002:c0a8:0101::1",
            "2002:7f00:0001::1",
        ] {
            assert!(is_internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "2606:2800:220:1::",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
            "198.20.0.1",
        ] {
            assert!(!is_internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn retries_back_off_to_the_cap() {
        let c = NotificationsConfig {
            retry_initial_ms: 1000,
            retry_max_ms: 5000,
            ..NotificationsConfig::default()
        };
        let waits: Vec<u64> = (1..=5)
            .map(|a| retry_delay(&c, a).as_millis() as u64)
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000]);
    }
}
