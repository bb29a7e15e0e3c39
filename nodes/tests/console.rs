//! The web console end to end: a real node serves the built app (`web/dist`) with a policy that
//! allows no inline script and keeps the refresh token in an HttpOnly, Secure, SameSite=Strict
//! cookie; Debian's Chromium, driven by `browser/console_e2e.py`, signs in, adds a camera and
//! sees it recording, plays it live, scrubs the timeline to recorded video, draws a zone and gets
//! the person event, acknowledges its ticket, exports and downloads a range, and as a viewer is
//! refused the administration page. Every page passes axe-core (no serious or critical
//! violation), fits 390 px, and takes the keyboard.
//!
//! `VMS_CONSOLE_SHOTS=<folder>` keeps the screenshots (`docs/console/` holds the last ones).

use serde_json::{Value, json};
use vms_testkit::{
    SANDBOX_ADMIN_EMAIL, SANDBOX_ADMIN_PASSWORD, Sandbox, api_error, assert_console_pages_pass,
    run_console_check,
};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_is_served_with_a_strict_policy_and_a_cookie_session() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(0).start().await?;
    let base = sb.node()?.api.clone();
    let http = reqwest::Client::new();

    // The app at `/`, with a policy that allows no inline script.
    let resp = http.get(format!("{base}/")).send().await?;
    assert_eq!(resp.status().as_u16(), 200);
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let page = resp.text().await?;
    assert!(
        page.contains("<div id=\"app\">"),
        "the built console (web/dist) is served: {page}"
    );
    assert!(!page.contains("<script>"), "no inline script in the page");
    // Unknown files are the API's JSON 404; API paths are never the console's.
    let resp = http.get(format!("{base}/assets/nothing.js")).send().await?;
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(api_error(&resp.json().await?)?.code, "not_found");
    assert_eq!(
        http.get(format!("{base}/api/v1/nope"))
            .send()
            .await?
            .status()
            .as_u16(),
        404
    );

    // The login the console makes: the refresh token only in the cookie.
    let login = |cookie: bool| {
        http.post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": SANDBOX_ADMIN_EMAIL, "password": SANDBOX_ADMIN_PASSWORD, "refresh_cookie": cookie}))
            .send()
    };
    let resp = login(true).await?;
    assert_eq!(resp.status().as_u16(), 200);
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    for flag in [
        "vms_refresh=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth",
    ] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    let pair: Value = resp.json().await?;
    assert_eq!(
        pair["refresh_token"], "",
        "the token is not in the answer: {pair}"
    );
    let cookie = set_cookie.split(';').next().unwrap_or_default().to_string();
    // An empty refresh reads the cookie and answers a new one; the old cookie is spent.
    let refresh = |cookie: Option<String>| {
        let mut req = http
            .post(format!("{base}/api/v1/auth/refresh"))
            .json(&json!({}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let resp = refresh(Some(cookie.clone())).await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().get("set-cookie").is_some());
    let again: Value = resp.json().await?;
    assert!(
        again["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(
        refresh(Some(cookie)).await?.status().as_u16(),
        401,
        "each refresh token is good once"
    );
    let resp = refresh(None).await?;
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        api_error(&resp.json().await?)?.field.as_deref(),
        Some("refresh_token")
    );
    // Without `refresh_cookie` nothing changes for API clients.
    let resp = login(false).await?;
    assert!(resp.headers().get("set-cookie").is_none());
    let pair: Value = resp.json().await?;
    assert!(
        pair["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_platform_from_the_console() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .scene("person")
        .start()
        .await?;
    let tenant = sb.create_watched_tenant("acme").await?;
    let admin = ("admin@acme.test", "console-admin-password");
    let viewer = ("viewer@acme.test", "console-viewer-password");
    sb.create_user(admin.0, admin.1, "tenant_admin", Some(&tenant))
        .await?;
    sb.create_user(viewer.0, viewer.1, "viewer", Some(&tenant))
        .await?;
    let shots = std::env::var("VMS_CONSOLE_SHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| sb.node_dir("console-shots"));
    let args = json!({"mode": "tour", "admin": [admin.0, admin.1], "viewer": [viewer.0, viewer.1], "rtsp": sb.sim.url(0)});
    let seen = run_console_check(&sb.node()?.api, &shots, &args)?;
    println!("console tour: {seen}");
    assert_eq!(seen["failed"], Value::Null, "{seen}");
    assert!(
        seen["sign_in_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("#/login")),
        "{seen}"
    );
    let interactive = seen["interactive_ms"].as_f64().unwrap_or(f64::MAX);
    println!("interactive_ms={interactive}");
    assert_eq!(seen["live"]["played"], true, "live tile plays: {seen}");
    assert!(
        seen["live"]["luma"].as_f64().unwrap_or(0.0) > 16.0,
        "{seen}"
    );
    assert_eq!(
        seen["recorded"]["played"], true,
        "timeline plays recorded video: {seen}"
    );
    assert!(
        seen["events"].as_u64().unwrap_or(0) >= 1,
        "the zone raised an event: {seen}"
    );
    assert!(seen["acknowledged"].as_u64().unwrap_or(0) >= 1, "{seen}");
    assert_eq!(seen["export"]["ftyp"], true, "{seen}");
    assert!(
        seen["export"]["bytes"].as_u64().unwrap_or(0) > 10_000,
        "{seen}"
    );
    assert_eq!(seen["export"]["manifest"], true, "{seen}");
    assert_eq!(seen["viewer_nav_admin"], 0, "{seen}");
    assert!(
        seen["viewer_refused"]
            .as_str()
            .is_some_and(|t| t.contains("users:read")),
        "{seen}"
    );
    assert_eq!(seen["cookie_visible_to_script"], false, "{seen}");
    assert_eq!(seen["page_errors"], json!([]), "{seen}");
    assert_console_pages_pass(&seen, 10)?;
    Ok(())
}
