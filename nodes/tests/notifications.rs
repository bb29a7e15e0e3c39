//! Notifications end to end against the simulator (a person walking through), real ONNX Runtime,
//! PostgreSQL and JetStream, and local receivers: one intrusion event reaches a webhook once, signed
//! with the channel's secret, and an e-mail inbox once, and the SSE stream live; a webhook that
//! answers 500 and a recipient the SMTP server refuses become dead letters after their attempts,
//! visible and retryable through the API; the unacknowledged ticket is escalated once, with an
//! escalation event stored, published and notified.

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use vms_messages::{
    ChannelCreated, Delivery, DeliveryPage, DeliveryState, Event, EventPage, Tenant, TicketView,
};
use vms_testkit::{Sandbox, api_error, assert_refused, jetstream_events, wait_for};
use vms_testkit::{SmtpReceiver, WebhookReceiver};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const SECRET: &str = "test-webhook-secret-0123456789";

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn deliveries(sb: &Sandbox, channel: &str, state: &str) -> anyhow::Result<Vec<Delivery>> {
    let page: DeliveryPage = sb
        .get_typed(&format!(
            "/notification-channels/{channel}/deliveries?state={state}"
        ))
        .await?;
    Ok(page.items)
}

async fn new_channel(sb: &Sandbox, body: Value) -> anyhow::Result<(String, ChannelCreated)> {
    let created: ChannelCreated = sb.post_typed("/notification-channels", &body).await?;
    Ok((created.channel.id.to_string(), created))
}

/// The newest event of `kind`, if any.
async fn first_event(sb: &Sandbox, kind: &str) -> anyhow::Result<Option<Event>> {
    let page: EventPage = sb.get_typed(&format!("/events?kind={kind}")).await?;
    Ok(page.items.into_iter().next())
}

async fn wait_dead(sb: &Sandbox, channel: &str) -> anyhow::Result<Delivery> {
    wait_for("a dead letter", Duration::from_secs(30), || async move {
        Ok(deliveries(sb, channel, "dead").await?.into_iter().next())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_webhooks_and_email_once_and_unacknowledged_tickets_escalate()
-> anyhow::Result<()> {
    let hook = WebhookReceiver::start(200).await?;
    let broken = WebhookReceiver::start(500).await?;
    let smtp = SmtpReceiver::start("refused").await?;
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .scene("person")
        .env("VMS_NOTIFICATIONS__ALLOW_PRIVATE_TARGETS", "true")
        .env("VMS_NOTIFICATIONS__MAX_ATTEMPTS", "3")
        .env("VMS_NOTIFICATIONS__RETRY_INITIAL_MS", "200")
        .env("VMS_NOTIFICATIONS__SMTP__HOST", "127.0.0.1")
        .env("VMS_NOTIFICATIONS__SMTP__PORT", &smtp.port.to_string())
        .env("VMS_NOTIFICATIONS__SMTP__TLS", "none")
        .env("VMS_NOTIFICATIONS__SMTP__FROM", "vms@test.local")
        .start()
        .await?;
    let t: Tenant = sb
        .post_typed(
            "/tenants",
            &json!({"name": "notified", "allowed_detectors": ["person"], "ack_sla_seconds": 8}),
        )
        .await?;
    assert_eq!(t.ack_sla_seconds, Some(8), "{t:?}");
    let tenant = t.id.to_string();

    // Bad channels are refused, naming the field.
    for (body, field) in [
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "webhook", "url": "ftp://h/x"}),
            "url",
        ),
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "webhook"}),
            "url",
        ),
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "webhook", "url": hook.url, "secret": "short"}),
            "secret",
        ),
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "email"}),
            "to",
        ),
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "email", "to": ["a@b\r\nBcc: c@d"]}),
            "to",
        ),
        (
            json!({"name": "x", "kind": "email", "to": ["a@b.c"]}),
            "tenant_id",
        ),
        (
            json!({"tenant_id": tenant, "name": "x", "kind": "pager", "to": ["a@b.c"]}),
            "body",
        ),
    ] {
        let (s, b) = sb.post("/notification-channels", &body).await?;
        let named = api_error(&b)?.field;
        assert!(
            s == 400 && (named.as_deref() == Some(field) || field == "body"),
            "{body}: {s} {b}"
        );
    }

    let (hook_id, created) = new_channel(
        &sb,
        json!({"tenant_id": tenant, "name": "ops hook", "kind": "webhook", "url": hook.url, "secret": SECRET}),
    )
    .await?;
    assert_eq!(
        created.secret.as_deref(),
        Some(SECRET),
        "the secret is answered once"
    );
    let (s, b) = sb
        .post(
            "/notification-channels",
            &json!({"tenant_id": tenant, "name": "ops hook", "kind": "email", "to": ["x@y.z"]}),
        )
        .await?;
    assert_refused(s, &b, 409, "name");
    let (broken_id, created) = new_channel(
        &sb,
        json!({"tenant_id": tenant, "name": "broken hook", "kind": "webhook", "url": broken.url, "kinds": ["intrusion"]}),
    )
    .await?;
    assert!(
        created
            .secret
            .as_deref()
            .is_some_and(|s| s.starts_with("whsec_") && s.len() > 40),
        "a generated secret: {created:?}"
    );
    let (mail_id, _) = new_channel(
        &sb,
        json!({"tenant_id": tenant, "name": "ops mail", "kind": "email", "to": ["ops@example.test"], "kinds": ["intrusion"]}),
    )
    .await?;
    let (refused_id, _) = new_channel(
        &sb,
        json!({"tenant_id": tenant, "name": "refused mail", "kind": "email", "to": ["refused@example.test"]}),
    )
    .await?;
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/notification-channels/{hook_id}"),
            Some(&json!({"to": ["a@b.c"]})),
        )
        .await?;
    assert_refused(s, &b, 400, "to");
    let (s, got) = sb.get(&format!("/notification-channels/{hook_id}")).await?;
    assert_eq!(s, 200, "{got}");
    assert!(
        !got.to_string().contains(SECRET),
        "the secret is never shown again"
    );

    let cam = sb.create_camera(&tenant, "hall", &sb.sim.url(0)).await?;
    // Watch the live stream before anything happens.
    let seen = Arc::new(Mutex::new(String::new()));
    let stream_url = format!("{}/events/stream?camera_id={cam}&seconds=120", sb.api()?);
    // A client of its own: the sandbox's gives up on a response after 10 s.
    let resp = reqwest::Client::new()
        .get(&stream_url)
        .bearer_auth(&sb.admin_key)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let sse = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut resp = resp;
            while let Ok(Some(chunk)) = resp.chunk().await {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&chunk));
            }
        })
    };
    let floor = json!([[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]);
    let (s, b) = sb
        .post(
            &format!("/cameras/{cam}/rules"),
            &json!({"name": "floor", "detector": "person", "zone": floor, "cooldown_seconds": 86400}),
        )
        .await?;
    assert_eq!(s, 201, "{b}");

    let event = wait_for("an intrusion event", Duration::from_secs(60), || {
        first_event(&sb, "intrusion")
    })
    .await?;
    let id = event.id.to_string();
    let ticket = event.ticket_id.context("the event opened a ticket")?;

    // The webhook got it once, signed.
    let req = wait_for("the webhook delivery", Duration::from_secs(20), || {
        let hook = &hook;
        async move { Ok(hook.received().into_iter().next()) }
    })
    .await?;
    assert!(req.request_line.starts_with("POST /hook "), "{req:?}");
    assert_eq!(req.headers["content-type"], "application/json");
    let ts = &req.headers["x-vms-timestamp"];
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&req.body);
    assert_eq!(
        req.headers["x-vms-signature"],
        format!("sha256={}", hmac_hex(SECRET, &signed)),
        "signature over timestamp.body with the channel's secret"
    );
    let body: Value = serde_json::from_slice(&req.body)?;
    assert_eq!(body["event"]["id"], id.as_str(), "{body}");
    assert_eq!(body["event"]["kind"], "intrusion");
    assert_eq!(body["tenant_id"], tenant.as_str());
    let ok = deliveries(&sb, &hook_id, "delivered").await?;
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0].attempts, 1);
    assert_eq!(ok[0].id.to_string(), req.headers["x-vms-delivery"]);

    // The inbox got it once.
    let mail = wait_for("the e-mail", Duration::from_secs(20), || {
        let smtp = &smtp;
        async move { Ok(smtp.messages().into_iter().next()) }
    })
    .await?;
    assert!(mail.contains(&id), "{mail}");
    assert!(mail.contains("To: ops@example.test"), "{mail}");
    assert!(mail.contains("intrusion"), "{mail}");

    // The broken webhook and the refused recipient end as dead letters, with why.
    let dead = wait_dead(&sb, &broken_id).await?;
    assert_eq!(dead.attempts, 3, "{dead:?}");
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("500")),
        "{dead:?}"
    );
    let tries = broken.received();
    assert_eq!(tries.len(), 3, "one request per attempt");
    assert!(
        tries
            .iter()
            .all(|r| r.headers["x-vms-delivery"] == dead.id.to_string()),
        "every attempt carries the same delivery id"
    );
    let refused = wait_dead(&sb, &refused_id).await?;
    assert_eq!(
        refused.attempts, 1,
        "a permanent refusal is not retried: {refused:?}"
    );
    assert!(
        refused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("554")),
        "{refused:?}"
    );
    // A dead letter can be queued again; a delivered one cannot.
    let again: Delivery = sb
        .post_typed(
            &format!("/notification-deliveries/{}/retry", dead.id),
            &json!(null),
        )
        .await?;
    assert_eq!(again.state, DeliveryState::Pending, "{again:?}");
    let (s, b) = sb
        .post(
            &format!("/notification-deliveries/{}/retry", ok[0].id),
            &json!(null),
        )
        .await?;
    assert_refused(s, &b, 409, "state");
    wait_for(
        "the retried letter to die again",
        Duration::from_secs(30),
        || {
            let broken = &broken;
            async move { Ok((broken.received().len() == 6).then_some(())) }
        },
    )
    .await?;

    // Nobody acknowledges the ticket: it is escalated once, after 8 s.
    let escalation = wait_for("the escalation event", Duration::from_secs(30), || {
        first_event(&sb, "escalation")
    })
    .await?;
    assert_eq!(escalation.ticket_id, Some(ticket), "{escalation:?}");
    assert_eq!(escalation.camera_id.to_string(), cam);
    let view: TicketView = sb.get_typed(&format!("/tickets/{ticket}")).await?;
    let escalated = view.ticket.escalated_at.context("escalated")?;
    let escalations = view
        .history
        .iter()
        .filter(|h| h.action == "escalate")
        .count();
    assert_eq!(escalations, 1, "{view:?}");
    let waited = (escalated - view.ticket.opened_at).num_milliseconds();
    assert!(
        (8000..14000).contains(&waited),
        "escalated after {waited} ms"
    );
    // Published once, and notified to the channel that wants every kind (not to the intrusion-only ones).
    let subject = vms_messages::subjects::event(tenant.parse()?, cam.parse()?, "escalation");
    let published = jetstream_events(&subject).await?;
    assert_eq!(published.len(), 1, "{published:?}");
    let escalation_id = escalation.id.to_string();
    wait_for("the escalation webhook", Duration::from_secs(20), || {
        let (hook, escalation_id) = (&hook, escalation_id.clone());
        async move {
            Ok(hook
                .received()
                .iter()
                .any(|r| String::from_utf8_lossy(&r.body).contains(&escalation_id))
                .then_some(()))
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await; // anything sent twice would show by now
    assert_eq!(
        hook.received().len(),
        2,
        "intrusion and escalation, once each"
    );
    assert_eq!(
        smtp.messages().len(),
        1,
        "the mail channel wants intrusions only"
    );
    assert!(deliveries(&sb, &mail_id, "delivered").await?.len() == 1);

    // The live stream showed the intrusion and the escalation, each once.
    let text = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(text.matches(&format!("id: {id}\n")).count(), 1, "{text}");
    assert_eq!(
        text.matches(&format!("id: {escalation_id}\n")).count(),
        1,
        "{text}"
    );
    assert!(text.starts_with(": connected"), "{text}");
    sse.abort();
    Ok(())
}
