//! Tracked rules end to end against the simulator (a person walking left to right through a room,
//! sampled one keyframe a second), real ONNX Runtime and PostgreSQL: a line crossed forward raises a
//! `line_crossing` event and the same line backward none; staying two seconds in the room raises a
//! `loitering` event and thirty seconds none; one person is no crowd of two; a rule outside its
//! schedule stays silent; the built-in motion detector sees the walker and the tampering detector
//! nothing. Settings that do not fit a rule's kind are refused, naming the field.

use serde_json::{Value, json};
use std::time::Duration;
use vms_messages::{CameraView, EventPage, RulePage, RulePriority, SimilarEvents};
use vms_testkit::{Sandbox, assert_refused, metric_value, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

async fn kinds_seen(sb: &Sandbox, camera: &str) -> anyhow::Result<Vec<(String, String)>> {
    let page: EventPage = sb.get_typed(&format!("/events?camera_id={camera}")).await?;
    Ok(page.items.into_iter().map(|e| (e.kind, e.rule)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_dwell_crowds_and_schedules_on_a_walking_person() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .scene("person")
        .start()
        .await?;
    let tenant = sb
        .create_tenant_from(
            &json!({"name": "tracked", "allowed_detectors": ["person", "motion", "tampering"]}),
        )
        .await?;
    // The licence's inference share: 1-1000, refused by name outside.
    for (share, status) in [(0, 400), (1001, 400), (4, 200)] {
        let (s, b) = sb
            .request(
                reqwest::Method::PATCH,
                &format!("/tenants/{tenant}"),
                Some(&json!({"inference_share": share})),
            )
            .await?;
        if status == 400 {
            assert_refused(s, &b, 400, "inference_share");
        } else {
            assert_eq!((s, &b["inference_share"]), (200, &json!(4)), "{b}");
        }
    }
    let cam = sb.create_camera(&tenant, "hall", &sb.sim.url(0)).await?;
    let rules = format!("/cameras/{cam}/rules");
    let rule = |body: Value| {
        let (sb, rules) = (&sb, rules.clone());
        async move { sb.post(&rules, &body).await }
    };
    for (body, field) in [
        (
            json!({"name": "x", "detector": "person", "kind": "line_crossing"}),
            "line",
        ),
        (
            json!({"name": "x", "detector": "person", "kind": "line_crossing", "line": [[0.5, 0.5], [0.5, 0.5]]}),
            "line",
        ),
        (
            json!({"name": "x", "detector": "person", "dwell_seconds": 5}),
            "dwell_seconds",
        ),
        (
            json!({"name": "x", "detector": "person", "kind": "crowd", "min_count": 1}),
            "min_count",
        ),
        (
            json!({"name": "x", "detector": "person", "schedule": [{"days": ["mon"], "start": "25:00", "end": "26:00"}]}),
            "schedule",
        ),
    ] {
        let (s, b) = rule(body.clone()).await?;
        assert_refused(s, &b, 400, field);
    }
    let down_the_middle = json!([[0.5, 0.0], [0.5, 1.0]]);
    let cool = 86_400; // one event per rule in this test
    for body in [
        json!({"name": "forward", "detector": "person", "kind": "line_crossing", "line": down_the_middle, "direction": "forward", "cooldown_seconds": cool}),
        json!({"name": "backward", "detector": "person", "kind": "line_crossing", "line": down_the_middle, "direction": "backward", "cooldown_seconds": cool}),
        json!({"name": "lingers", "detector": "person", "kind": "loitering", "dwell_seconds": 2, "cooldown_seconds": cool}),
        json!({"name": "camps", "detector": "person", "kind": "loitering", "dwell_seconds": 30, "cooldown_seconds": cool}),
        json!({"name": "crowd", "detector": "person", "kind": "crowd", "min_count": 2, "cooldown_seconds": cool}),
        // The built-in pixel detectors: the walker is motion; the steady room is no tampering.
        json!({"name": "moves", "detector": "motion", "min_score": 0.2, "cooldown_seconds": cool}),
        json!({"name": "tampered", "detector": "tampering", "cooldown_seconds": cool}),
        json!({"name": "never", "detector": "person", "cooldown_seconds": cool,
               "schedule": [{"days": [], "start": "00:00", "end": "24:00"}]}),
    ] {
        let (s, b) = rule(body.clone()).await?;
        if body["name"] == "never" {
            assert_refused(s, &b, 400, "schedule");
            continue;
        }
        assert_eq!(s, 201, "{body}: {b}");
    }
    // A schedule that is never now: yesterday's weekday, a minute that has passed.
    let (s, b) = rule(json!({"name": "off-hours", "detector": "person", "cooldown_seconds": cool,
        "schedule": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "00:01"}]}))
    .await?;
    assert_eq!(s, 201, "{b}");
    let page: RulePage = sb.get_typed(&rules).await?;
    // Priorities: intrusion rules (the motion one) are high by default, the other kinds standard;
    // a rule's priority can be changed, and a priority that is neither is refused.
    let priority_of = |name: &str| {
        page.items
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.priority)
    };
    assert_eq!(priority_of("moves"), Some(RulePriority::High));
    assert_eq!(priority_of("forward"), Some(RulePriority::Standard));
    assert_eq!(priority_of("crowd"), Some(RulePriority::Standard));
    let crowd = page
        .items
        .iter()
        .find(|r| r.name == "crowd")
        .map(|r| r.id)
        .ok_or_else(|| anyhow::anyhow!("rule crowd missing"))?;
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/rules/{crowd}"),
            Some(&json!({"priority": "high"})),
        )
        .await?;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["priority"], "high", "{b}");
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/rules/{crowd}"),
            Some(&json!({"priority": "urgent"})),
        )
        .await?;
    assert_eq!(s, 400, "{b}");
    let lingers = page
        .items
        .into_iter()
        .find(|r| r.name == "lingers")
        .ok_or_else(|| anyhow::anyhow!("rule lingers missing"))?;
    assert_eq!(
        (lingers.kind.as_str(), lingers.dwell_seconds),
        ("loitering", Some(2)),
        "{lingers:?}"
    );
    let id = lingers.id;
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/rules/{id}"),
            Some(&json!({"min_count": 3})),
        )
        .await?;
    assert_refused(s, &b, 400, "min_count");

    let seen = wait_for(
        "a forward crossing, a loiterer and motion",
        Duration::from_secs(60),
        || {
            let (sb, cam) = (&sb, cam.clone());
            async move {
                let seen = kinds_seen(sb, &cam).await?;
                let has = |k: &str, r: &str| seen.iter().any(|(a, b)| a == k && b == r);
                Ok(
                    (has("line_crossing", "forward") && has("loitering", "lingers"))
                        .then_some(seen),
                )
            }
        },
    )
    .await?;
    // Another walk through, so a wrong rule would have had its chance too.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen = {
        let later = kinds_seen(&sb, &cam).await?;
        assert!(later.len() >= seen.len());
        later
    };
    let rules_hit: Vec<&str> = seen.iter().map(|(_, r)| r.as_str()).collect();
    for silent in ["backward", "camps", "crowd", "tampered"] {
        assert!(!rules_hit.contains(&silent), "{silent} fired: {seen:?}");
    }
    let at_night = rules_hit.contains(&"off-hours");
    let now = chrono::Utc::now().format("%H:%M").to_string();
    assert!(
        !at_night || now.as_str() <= "00:02",
        "off-hours fired outside its window: {seen:?}"
    );
    assert_eq!(
        rules_hit.iter().filter(|r| **r == "forward").count(),
        1,
        "one event per cooldown: {seen:?}"
    );

    // The walker's events keep its appearance: the crossing looks like the loitering (the same
    // person), while motion, a pixel detector, has none.
    let page: EventPage = sb.get_typed(&format!("/events?camera_id={cam}")).await?;
    let id_of = |rule: &str| {
        page.items
            .iter()
            .find(|e| e.rule == rule)
            .map(|e| e.id.to_string())
            .unwrap_or_default()
    };
    let alike: SimilarEvents = sb
        .get_typed(&format!(
            "/events/{}/similar?min_similarity=0.5",
            id_of("forward")
        ))
        .await?;
    assert!(
        alike.items.iter().any(|i| i.event.rule == "lingers"),
        "the same person: {alike:?}"
    );
    assert!(
        alike.items.iter().all(|i| i.event.rule != "moves"
            && i.event.id.to_string() != id_of("forward")
            && (0.5..=1.001).contains(&i.similarity)),
        "{alike:?}"
    );
    let (s, b) = sb
        .get(&format!("/events/{}/similar", id_of("moves")))
        .await?;
    assert_eq!(s, 404, "{b}");

    // Sampling every frame at 5 a second instead of keyframes (one a second) sees about five times
    // as many frames.
    let sampled = |text: &str| metric_value(text, "vms_frames_sampled_total", &cam);
    let frames_in = |seconds: u64| {
        let sb = &sb;
        async move {
            let before = sampled(&sb.metrics().await?);
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            anyhow::Ok(sampled(&sb.metrics().await?) - before)
        }
    };
    let keyframes = frames_in(4).await?;
    for bad in [json!({"sample_fps": 0}), json!({"sample_fps": 31})] {
        let (s, b) = sb
            .request(
                reqwest::Method::PATCH,
                &format!("/cameras/{cam}"),
                Some(&bad),
            )
            .await?;
        assert_refused(s, &b, 400, "sample_fps");
    }
    let patched: CameraView = sb
        .request_typed(
            reqwest::Method::PATCH,
            &format!("/cameras/{cam}"),
            Some(&json!({"sample_fps": 5})),
        )
        .await?;
    assert_eq!(patched.camera.sample_fps, Some(5), "{patched:?}");
    sb.wait_state(&cam, "streaming", Duration::from_secs(15))
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let every = frames_in(4).await?;
    assert!(
        (2.0..=6.0).contains(&keyframes) && every >= 2.5 * keyframes,
        "keyframes only: {keyframes} frames in 4 s; at 5 a second: {every}"
    );
    Ok(())
}
