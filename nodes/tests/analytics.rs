//! Analytics end to end against the simulator (a person walking through), real ONNX Runtime, real
//! PostgreSQL and real JetStream: the person raises one intrusion event, stored once and published once
//! (a restarted node re-raises it and neither duplicates), with a JPEG snapshot; a tenant whose licence
//! does not allow the model gets no analytics; the tenant's usage (detector time, frames,
//! camera-hours, bytes) is reported for billing.

use anyhow::Context;
use serde_json::{Value, json};
use std::time::Duration;
use vms_messages::{
    DetectorList, Event, EventPage, EventView, TenantUsage, TicketPage, TicketState, TicketView,
};
use vms_testkit::{Sandbox, api_error, assert_refused, jetstream_events, metric_value, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

/// Messages on JetStream for `subject` with `Nats-Msg-Id` = `id` (every message's id is its event's).
async fn published(subject: &str, id: &str) -> anyhow::Result<usize> {
    let messages = jetstream_events(subject).await?;
    for (msg_id, event) in &messages {
        assert_eq!(
            msg_id.as_deref(),
            Some(event.id.to_string().as_str()),
            "Nats-Msg-Id is the event id"
        );
    }
    Ok(messages
        .iter()
        .filter(|(msg_id, _)| msg_id.as_deref() == Some(id))
        .count())
}

async fn events_of(sb: &Sandbox, camera: &str) -> anyhow::Result<Vec<Event>> {
    let page: EventPage = sb.get_typed(&format!("/events?camera_id={camera}")).await?;
    Ok(page.items)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_walking_in_raises_one_event_stored_and_published_once() -> anyhow::Result<()> {
    let mut sb = Sandbox::builder(VMS)
        .cameras(2)
        .scene("person")
        .start()
        .await?;
    let tenant = sb.create_watched_tenant("watched").await?;
    let cam = sb.create_camera(&tenant, "hall", &sb.sim.url(0)).await?;
    let unlicensed = sb.create_tenant("unwatched", 2).await?;
    let other = sb
        .create_camera(&unlicensed, "hall", &sb.sim.url(1))
        .await?;
    let rule = |body: Value, camera: &str| {
        let path = format!("/cameras/{camera}/rules");
        let sb = &sb;
        async move { sb.post(&path, &body).await }
    };
    let detectors: DetectorList = sb.get_typed("/detectors").await?;
    let person = detectors
        .items
        .iter()
        .find(|d| d.name == "person")
        .context("the person detector is listed")?;
    assert_eq!(
        (person.running, person.family.as_str()),
        (true, "ssd"),
        "{person:?}"
    );
    // Bad rules are refused, naming the field.
    let (s, b) = rule(json!({"name": "x", "detector": "helmet"}), &cam).await?;
    assert_refused(s, &b, 400, "detector");
    assert!(api_error(&b)?.message.contains("person"), "{b}");
    let bowtie = json!([[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]);
    let (s, b) = rule(
        json!({"name": "x", "detector": "person", "zone": bowtie}),
        &cam,
    )
    .await?;
    assert_refused(s, &b, 400, "zone");
    let (s, b) = rule(
        json!({"name": "x", "detector": "person", "zone": [[0, 0], [2, 0], [0, 1]]}),
        &cam,
    )
    .await?;
    assert_refused(s, &b, 400, "zone");
    let (s, b) = rule(json!({"name": "x", "detector": "person"}), &other).await?;
    assert_refused(s, &b, 409, "allowed_detectors");
    // The floor is the zone (the person's feet walk there); the ceiling corner never sees anyone.
    // One bucket a day: every sighting in this test is the same event.
    let floor = json!([[0.0, 0.6], [1.0, 0.6], [1.0, 1.0], [0.0, 1.0]]);
    let (s, b) = rule(
        json!({"name": "floor", "detector": "person", "zone": floor, "cooldown_seconds": 86400}),
        &cam,
    )
    .await?;
    assert_eq!(s, 201, "{b}");
    let ceiling = json!([[0.0, 0.0], [0.2, 0.0], [0.2, 0.2], [0.0, 0.2]]);
    let (s, b) = rule(json!({"name": "ceiling", "detector": "person", "zone": ceiling, "cooldown_seconds": 86400}), &cam).await?;
    assert_eq!(s, 201, "{b}");

    let events = wait_for("an intrusion event", Duration::from_secs(60), || {
        let (sb, cam) = (&sb, cam.clone());
        async move { Ok(Some(events_of(sb, &cam).await?).filter(|e| !e.is_empty())) }
    })
    .await?;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(
        (event.kind.as_str(), event.label.as_str()),
        ("intrusion", "person")
    );
    assert_eq!(
        event.rule, "floor",
        "the ceiling zone never sees the person's feet"
    );
    assert!(event.score >= 0.6, "{event:?}");
    assert_eq!(event.tenant_id.to_string(), tenant.as_str());
    let id = event.id.to_string();
    // The event links to the recording that covers it, once that segment is closed; the event's
    // own fields stay at the top of the answer (`EventView` flattens them).
    let view = wait_for("the event's segment", Duration::from_secs(20), || {
        let (sb, id) = (&sb, id.clone());
        async move {
            let view: EventView = sb.get_typed(&format!("/events/{id}")).await?;
            Ok((!view.segments.is_empty()).then_some(view))
        }
    })
    .await?;
    let at = view.event.at;
    let covered = view
        .segments
        .iter()
        .any(|seg| seg.start <= at && at < seg.end);
    assert!(covered, "a segment holds the event's frame: {view:?}");
    assert_eq!(view.event.id.to_string(), id, "{view:?}");
    assert!(
        view.segments
            .iter()
            .all(|seg| seg.media_url == format!("/api/v1/segments/{}/media", seg.id)),
        "the API links each segment's media: {view:?}"
    );
    let snapshot = sb
        .http()
        .get(format!("{}/events/{id}/snapshot", sb.api()?))
        .send()
        .await?;
    assert_eq!(snapshot.status(), 200);
    assert_eq!(snapshot.headers()["content-type"], "image/jpeg");
    assert!(snapshot.bytes().await?.starts_with(&[0xff, 0xd8]), "a JPEG");
    let subject = vms_messages::subjects::event(tenant.parse()?, cam.parse()?, "intrusion");
    assert_eq!(published(&subject, &id).await?, 1, "published once");

    // The event opened a ticket, which operators move through its states.
    let ticket = wait_for("a ticket", Duration::from_secs(10), || {
        let sb = &sb;
        async move {
            let page: TicketPage = sb.get_typed("/tickets").await?;
            Ok(page.items.into_iter().next())
        }
    })
    .await?;
    assert_eq!(
        (ticket.state, ticket.rule.as_str()),
        (TicketState::Open, "floor"),
        "{ticket:?}"
    );
    assert_eq!(ticket.first_event.to_string(), id);
    let tid = ticket.id.to_string();
    let t: TicketView = sb
        .post_typed(&format!("/tickets/{tid}/acknowledge"), &json!(null))
        .await?;
    assert_eq!(t.ticket.state, TicketState::Acknowledged, "{t:?}");
    assert!(t.ticket.assignee.is_some(), "{t:?}");
    let (s, t) = sb
        .post(&format!("/tickets/{tid}/acknowledge"), &json!(null))
        .await?;
    assert_refused(s, &t, 409, "state");
    assert!(api_error(&t)?.message.contains("acknowledged"), "{t}");
    let (s, t) = sb
        .post(
            &format!("/tickets/{tid}/comments"),
            &json!({"text": "guard sent"}),
        )
        .await?;
    assert_eq!(s, 200, "{t}");
    let t: TicketView = sb
        .post_typed(&format!("/tickets/{tid}/resolve"), &json!(null))
        .await?;
    assert_eq!(t.ticket.state, TicketState::Resolved, "{t:?}");
    let (s, t) = sb
        .post(&format!("/tickets/{tid}/close"), &json!(null))
        .await?;
    assert_eq!(s, 200, "{t}");
    let closed: TicketView = serde_json::from_value(t)?;
    assert_eq!(closed.ticket.state, TicketState::Closed, "{closed:?}");
    let actions: Vec<&str> = closed.history.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["open", "acknowledge", "comment", "resolve", "close"],
        "{closed:?}"
    );

    // A restarted node sees the person again in the same bucket: it re-raises the same event, which is
    // neither stored nor published twice.
    sb.node.take().expect("node").kill().await;
    sb.start_node().await?;
    wait_for(
        "the restarted node to re-raise the event",
        Duration::from_secs(60),
        || {
            let sb = &sb;
            let cam = cam.clone();
            async move {
                Ok(
                    (metric_value(&sb.metrics().await?, "vms_events_raised_total", &cam) >= 1.0)
                        .then_some(()),
                )
            }
        },
    )
    .await?;
    let text = sb.metrics().await?;
    assert_eq!(
        metric_value(&text, "vms_events_stored_total", &cam),
        0.0,
        "stored again after restart"
    );
    assert_eq!(events_of(&sb, &cam).await?.len(), 1, "one row");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        published(&subject, &id).await?,
        1,
        "one message after the retry"
    );

    // The unlicensed tenant's camera records but runs no analytics.
    assert!(events_of(&sb, &other).await?.is_empty());
    assert_eq!(metric_value(&text, "vms_frames_sampled_total", &other), 0.0);
    assert!(metric_value(&text, "vms_frames_sampled_total", &cam) > 0.0);

    // Usage for billing: the watched tenant's detector time, frames, camera-hours and bytes, added
    // by the node every 10 s; the unwatched tenant recorded but spent no detector time.
    let usage_of = |tenant: &str| {
        let (sb, path) = (&sb, format!("/tenants/{tenant}/usage"));
        async move { sb.get_typed::<TenantUsage>(&path).await }
    };
    let usage = wait_for(
        "the watched tenant's usage",
        Duration::from_secs(30),
        || {
            let usage_of = &usage_of;
            let tenant = tenant.clone();
            async move {
                let u = usage_of(&tenant).await?;
                Ok((u.detector_seconds > 0.0 && u.frames_detected > 0).then_some(u))
            }
        },
    )
    .await?;
    println!("usage of the watched tenant: {usage:?}");
    assert!(
        usage.camera_hours > 0.0 && usage.bytes_stored > 0,
        "{usage:?}"
    );
    assert_eq!(usage.cameras, 1);
    let unwatched = usage_of(&unlicensed).await?;
    assert_eq!(
        (unwatched.detector_seconds, unwatched.frames_detected),
        (0.0, 0),
        "{unwatched:?}"
    );
    assert!(unwatched.camera_hours > 0.0, "{unwatched:?}");
    assert!(
        metric_value(
            &sb.metrics().await?,
            "vms_inference_busy_seconds_total",
            &tenant
        ) > 0.0,
        "usage shows in the metrics"
    );
    let (status, body) = sb
        .get(&format!(
            "/tenants/{tenant}/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await?;
    assert_eq!(status, 400);
    assert_eq!(api_error(&body)?.field.as_deref(), Some("to"));
    Ok(())
}
