//! Bad input of every kind gets a clear error (4xx with the JSON error shape naming the field, or a
//! camera status with a reason) and nothing is lost or crashes.

use serde_json::{Value, json};
use std::time::Duration;
use vms_api::CameraPage;
use vms_messages::{CameraState, CameraView};
use vms_testkit::{Sandbox, api_error};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

fn assert_error(
    status: u16,
    body: &Value,
    want_status: u16,
    want_code: &str,
    want_field: Option<&str>,
) {
    assert_eq!(status, want_status, "status of {body}");
    let error = api_error(body).expect("an error answer");
    assert_eq!(error.code, want_code, "code of {body}");
    assert!(!error.message.is_empty(), "message in {body}");
    if let Some(field) = want_field {
        assert_eq!(error.field.as_deref(), Some(field), "field of {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_bad_input_get_clear_4xx_errors() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let tenant = sb.create_tenant("acme", 1).await?;
    let url = sb.sim.url(0);
    let sb = &sb;
    let camera = |body: Value| async move { sb.post("/cameras", &body).await };

    for bad in [
        "http://127.0.0.1/x",
        "rtsp://",
        "rtsp://host:99999/x",
        "not a url",
        "rtsp://a b/c",
    ] {
        let (s, b) = camera(json!({"tenant_id": tenant, "name": "x", "url": bad})).await?;
        assert_error(s, &b, 400, "invalid_field", Some("url"));
    }
    let (s, b) = camera(
        json!({"tenant_id": "01a20177-0000-7000-8000-000000000000", "name": "x", "url": url}),
    )
    .await?;
    assert_error(s, &b, 400, "invalid_field", Some("tenant_id"));
    let (s, b) = camera(json!({"tenant_id": "not-a-uuid", "name": "x", "url": url})).await?;
    assert_error(s, &b, 400, "invalid_field", None);
    let (s, b) =
        camera(json!({"tenant_id": tenant, "name": "x", "url": url, "colour": "red"})).await?;
    assert_error(s, &b, 400, "invalid_field", Some("colour"));
    let (s, b) = camera(json!({"tenant_id": tenant, "url": url})).await?;
    assert_error(s, &b, 400, "invalid_field", Some("name"));
    let (s, b) = camera(json!({"tenant_id": tenant, "name": "", "url": url})).await?;
    assert_error(s, &b, 400, "invalid_field", Some("name"));
    let (s, b) = camera(json!({"tenant_id": tenant, "name": "x".repeat(5000), "url": url})).await?;
    assert_error(s, &b, 400, "invalid_field", Some("name"));
    let (s, b) =
        camera(json!({"tenant_id": tenant, "name": "x", "url": url, "retention_days": 99999}))
            .await?;
    assert_error(s, &b, 400, "invalid_field", Some("retention_days"));
    let (s, b) =
        camera(json!({"tenant_id": tenant, "name": "x", "url": url, "retention_days": 365}))
            .await?;
    assert_error(s, &b, 409, "quota_exceeded", Some("retention_days"));

    // Quota of one camera: the second is refused naming the limit; a duplicate name is a conflict.
    let (s, b) = camera(json!({"tenant_id": tenant, "name": "door", "url": url})).await?;
    assert_eq!(s, 201, "{b}");
    let (s, b) = camera(json!({"tenant_id": tenant, "name": "door", "url": url})).await?;
    assert_error(s, &b, 409, "quota_exceeded", Some("max_cameras"));
    assert!(api_error(&b)?.message.contains("at most 1"), "{b}");
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(&json!({"max_cameras": 3})),
        )
        .await?;
    assert_eq!(s, 200, "{b}");
    let (s, b) = camera(json!({"tenant_id": tenant, "name": "door", "url": url})).await?;
    assert_error(s, &b, 409, "conflict", Some("name"));
    let (s, b) = sb
        .request(
            reqwest::Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(&json!({"max_cameras": 0})),
        )
        .await?;
    assert_error(s, &b, 409, "conflict", Some("max_cameras"));
    let (s, b) = sb
        .request(reqwest::Method::DELETE, &format!("/tenants/{tenant}"), None)
        .await?;
    assert_error(s, &b, 409, "conflict", None);
    let (s, b) = sb.post("/tenants", &json!({"name": "acme"})).await?;
    assert_error(s, &b, 409, "conflict", Some("name"));

    // Malformed bodies.
    let api = sb.api()?;
    let raw = |body: &'static str, ctype: &'static str| {
        let url = format!("{api}/cameras");
        async move {
            let resp = sb
                .http()
                .post(url)
                .header("content-type", ctype)
                .body(body)
                .send()
                .await?;
            let status = resp.status().as_u16();
            Ok::<_, anyhow::Error>((status, resp.json::<Value>().await.unwrap_or(Value::Null)))
        }
    };
    let (s, b) = raw("{not json", "application/json").await?;
    assert_error(s, &b, 400, "invalid_json", None);
    let (s, b) = raw("", "application/json").await?;
    assert_error(s, &b, 400, "invalid_json", None);
    let (s, b) = raw("[1,2]", "application/json").await?;
    assert_error(s, &b, 400, "invalid_field", None);
    let (s, b) = raw("name=x", "application/x-www-form-urlencoded").await?;
    assert_error(s, &b, 415, "unsupported_media_type", None);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(200_000));
    let resp = sb
        .http()
        .post(format!("{api}/tenants"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await?;
    let s = resp.status().as_u16();
    assert_error(s, &resp.json().await?, 413, "payload_too_large", None);

    // Paths and queries.
    let (s, b) = sb.get("/cameras/not-a-uuid").await?;
    assert_error(s, &b, 400, "invalid_path", Some("id"));
    let (s, b) = sb
        .get("/cameras/01a20177-0000-7000-8000-000000000000")
        .await?;
    assert_error(s, &b, 404, "not_found", None);
    let (s, b) = sb.get("/segments/999999999/media").await?;
    assert_error(s, &b, 404, "not_found", None);
    // Refused before routing: no escaped path reaches a handler.
    let (s, b) = sb.get("/segments/..%2F..%2Fetc%2Fpasswd/media").await?;
    assert_error(s, &b, 400, "invalid_field", Some("path"));
    let (s, b) = sb.get("/cameras?limit=0").await?;
    assert_error(s, &b, 400, "invalid_field", Some("limit"));
    let (s, b) = sb.get("/cameras?limit=abc").await?;
    assert_error(s, &b, 400, "invalid_query", None);
    let (s, b) = sb.get("/cameras?bogus=1").await?;
    assert_error(s, &b, 400, "invalid_query", Some("bogus"));
    let (s, b) = sb.get("/tenants?cursor=garbage").await?;
    assert_error(s, &b, 400, "invalid_field", Some("cursor"));
    let cams: CameraPage = sb
        .get_typed(&format!("/cameras?tenant_id={tenant}"))
        .await?;
    let cam = cams.items[0].camera.id.to_string();
    let (s, b) = sb
        .get(&format!("/cameras/{cam}/segments?cursor=1_x"))
        .await?;
    assert_error(s, &b, 400, "invalid_field", Some("cursor"));
    let (s, b) = sb
        .get(&format!("/cameras/{cam}/segments?from=yesterday"))
        .await?;
    assert_error(s, &b, 400, "invalid_query", None);
    let (s, b) = sb
        .get(&format!(
            "/cameras/{cam}/segments?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"
        ))
        .await?;
    assert_error(s, &b, 400, "invalid_field", Some("to"));
    let (s, b) = sb.get("/no/such/route").await?;
    assert_error(s, &b, 404, "not_found", None);

    // The OpenAPI document lists every route.
    let (s, doc) = sb.get("/openapi.json").await?;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/tenants",
        "/api/v1/cameras/{id}",
        "/api/v1/cameras/{id}/segments",
        "/api/v1/segments/{id}/media",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    // Nothing above broke the node, and nothing was lost: the one camera is still there and records.
    sb.wait_state(&cam, "streaming", Duration::from_secs(20))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_cameras_report_why_in_their_status() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .env("VMS_RECORDING__CONNECT_TIMEOUT_SECONDS", "3")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 8).await?;
    // A port that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_port = silent.local_addr()?.port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let closed_port = vms_testkit::free_port()?;
    let cases = [
        (
            "refused",
            format!("rtsp://127.0.0.1:{closed_port}/cam0"),
            "backoff",
            "",
        ),
        (
            "unresolvable",
            "rtsp://no-such-host.invalid/cam0".to_string(),
            "backoff",
            "",
        ),
        (
            "silent",
            format!("rtsp://127.0.0.1:{silent_port}/cam0"),
            "backoff",
            "",
        ),
        ("wrong-path", sb.sim.url_of("/nope"), "failed", "404"),
        (
            "mjpeg",
            sb.sim.url_of("/mjpeg0"),
            "failed",
            "unsupported codec jpeg",
        ),
    ];
    // A good camera records first; the broken ones then must not disturb it.
    let good = sb.create_camera(&tenant, "good", &sb.sim.url(0)).await?;
    sb.wait_state(&good, "streaming", Duration::from_secs(20))
        .await?;
    let mut ids = Vec::new();
    for (name, url, _, _) in &cases {
        ids.push(sb.create_camera(&tenant, name, url).await?);
    }
    for ((name, _, state, needle), id) in cases.iter().zip(&ids) {
        let view = sb.wait_state(id, state, Duration::from_secs(20)).await?;
        let reason = view.status.reason.unwrap_or_default().to_lowercase();
        assert!(!reason.is_empty(), "{name}: {state} without a reason");
        assert!(
            reason.contains(needle),
            "{name}: reason {reason:?} lacks {needle:?}"
        );
    }
    // Broken cameras never disturb a good one.
    sb.wait_segments(&good, 1, Duration::from_secs(20)).await?;
    let v: CameraView = sb.get_typed(&format!("/cameras/{good}")).await?;
    assert_eq!(v.status.state, CameraState::Streaming, "{v:?}");
    assert_eq!(v.status.reconnects, 0, "{v:?}");
    Ok(())
}
