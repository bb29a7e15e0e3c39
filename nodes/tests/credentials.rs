//! Credentials end when they should, on a real node and PostgreSQL: keys are minted only from a
//! password login, disabling a user or a password change with `revoke_api_keys` kills its keys, a
//! refresh token used twice kills its session, a live event stream closes after logout, streams are
//! capped per caller, and tenant admins manage only users below them.

use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};
use vms_messages::CameraView;
use vms_messages::{ApiKeyCreated, Me, TokenPair};
use vms_testkit::{Sandbox, assert_refused, typed};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const PASSWORD: &str = "credentials test password";

/// The user id behind `token`.
async fn me_id(sb: &Sandbox, token: &str) -> anyhow::Result<String> {
    let (s, me) = sb
        .request_as(Some(token), Method::GET, "/auth/me", None)
        .await?;
    Ok(typed::<Me>(s, me)?.user_id.to_string())
}

async fn user(sb: &Sandbox, tenant: &str, email: &str, role: &str) -> anyhow::Result<String> {
    sb.create_user(email, PASSWORD, role, Some(tenant)).await
}

/// Opens `/events/stream` with `token`; the response, once its headers are in.
async fn open_stream(sb: &Sandbox, token: &str) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .get(format!("{}/events/stream", sb.api()?))
        .bearer_auth(token)
        .send()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_die_with_their_revocation() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(0)
        .env("VMS_API__LOGIN_PER_MINUTE", "1000")
        .env("VMS_API__MAX_STREAMS_PER_CALLER", "2")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let other = sb.create_tenant("globex", 4).await?;
    user(&sb, &tenant, "admin1@acme.test", "tenant_admin").await?;
    let admin2 = user(&sb, &tenant, "admin2@acme.test", "tenant_admin").await?;
    let viewer = user(&sb, &tenant, "viewer@acme.test", "viewer").await?;
    let operator = user(&sb, &tenant, "op@acme.test", "operator").await?;
    user(&sb, &other, "taken@globex.test", "viewer").await?;
    let admin1_token = sb.login("admin1@acme.test", PASSWORD).await?;

    // Keys come from a password login only.
    let (s, key) = sb.new_api_key(&admin1_token, &json!({"name": "k"})).await?;
    let admin_key = typed::<ApiKeyCreated>(s, key)?.key;
    let (s, body) = sb.new_api_key(&admin_key, &json!({"name": "k"})).await?;
    assert_refused(s, &body, 403, "authorization");

    // Tenant admins manage only users below their role.
    let (s, body) = sb
        .request_as(
            Some(&admin1_token),
            Method::PATCH,
            &format!("/users/{admin2}"),
            Some(&json!({"password": "a new password for admin two"})),
        )
        .await?;
    assert_refused(s, &body, 403, "id");
    for change in [json!({"disabled": true}), json!({"role": "viewer"})] {
        let (s, body) = sb
            .request_as(
                Some(&admin1_token),
                Method::PATCH,
                &format!("/users/{admin2}"),
                Some(&change),
            )
            .await?;
        assert_eq!(s, 403, "{change}: {body}");
    }
    let (s, body) = sb
        .request_as(
            Some(&admin1_token),
            Method::DELETE,
            &format!("/users/{admin2}"),
            None,
        )
        .await?;
    assert_refused(s, &body, 403, "id");
    assert_eq!(
        sb.me_status(&sb.login("admin2@acme.test", PASSWORD).await?)
            .await?,
        200
    );

    // The e-mail conflict names no other tenant's user.
    let (s, body) = sb
        .request_as(
            Some(&admin1_token),
            Method::POST,
            "/users",
            Some(&json!({"email": "taken@globex.test", "password": PASSWORD, "role": "viewer"})),
        )
        .await?;
    assert_refused(s, &body, 409, "email");
    let text = body.to_string();
    assert!(
        !text.contains("taken@globex.test") && !text.contains(&other) && !text.contains("globex"),
        "{text}"
    );

    // Disabling a user kills its keys (and sessions); enabling it again does not revive them.
    let viewer_token = sb.login("viewer@acme.test", PASSWORD).await?;
    let (s, vkey) = sb.new_api_key(&viewer_token, &json!({"name": "k"})).await?;
    let viewer_key = typed::<ApiKeyCreated>(s, vkey)?.key;
    assert_eq!(sb.me_status(&viewer_key).await?, 200);
    for disabled in [true, false] {
        let (s, body) = sb
            .request_as(
                Some(&admin1_token),
                Method::PATCH,
                &format!("/users/{viewer}"),
                Some(&json!({"disabled": disabled})),
            )
            .await?;
        assert_eq!(s, 200, "{body}");
    }
    assert_eq!(
        sb.me_status(&viewer_key).await?,
        401,
        "a disabled user's key"
    );
    assert_eq!(
        sb.me_status(&viewer_token).await?,
        401,
        "a disabled user's session"
    );

    // A key cannot revoke its own user's keys (as it cannot make them); a session can.
    let (s, body) = sb
        .request_as(
            Some(&admin_key),
            Method::PATCH,
            &format!("/users/{}", me_id(&sb, &admin1_token).await?),
            Some(&json!({"revoke_api_keys": true})),
        )
        .await?;
    assert_refused(s, &body, 403, "authorization");
    assert_eq!(sb.me_status(&admin_key).await?, 200);

    // A password change with revoke_api_keys kills every key of the user.
    let op_token = sb.login("op@acme.test", PASSWORD).await?;
    let mut op_keys = Vec::new();
    for _ in 0..2 {
        let (s, k) = sb.new_api_key(&op_token, &json!({"name": "k"})).await?;
        op_keys.push(typed::<ApiKeyCreated>(s, k)?.key);
    }
    let (s, body) = sb
        .request_as(
            Some(&admin1_token),
            Method::PATCH,
            &format!("/users/{operator}"),
            Some(&json!({"password": "the operator's new password", "revoke_api_keys": true})),
        )
        .await?;
    assert_eq!(s, 200, "{body}");
    for k in &op_keys {
        assert_eq!(sb.me_status(k).await?, 401, "a key after revoke_api_keys");
    }

    // A refresh token used twice kills the whole session.
    let (s, pair) = sb
        .request_as(
            None,
            Method::POST,
            "/auth/login",
            Some(&json!({"email": "admin2@acme.test", "password": PASSWORD})),
        )
        .await?;
    let first_refresh = typed::<TokenPair>(s, pair)?.refresh_token;
    let (s, second) = sb.refresh(&first_refresh).await?;
    let second: TokenPair = typed(s, second)?;
    let (s, _) = sb.refresh(&first_refresh).await?;
    assert_eq!(s, 401, "the old refresh token again");
    let (s, _) = sb.refresh(&second.refresh_token).await?;
    assert_eq!(
        s, 401,
        "the newer refresh token of a session whose token was reused"
    );
    assert_eq!(
        sb.me_status(&second.access_token).await?,
        401,
        "its access token"
    );

    // Event streams: capped per caller, and closed soon after logout.
    let token = sb.login("admin2@acme.test", PASSWORD).await?;
    let first = open_stream(&sb, &token).await?;
    let second = open_stream(&sb, &token).await?;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open_stream(&sb, &token).await?;
    assert_eq!(third.status(), 429, "a third stream with a cap of 2");
    drop(second);
    let mut body = first;
    let opening = body.chunk().await?.unwrap_or_default();
    assert!(String::from_utf8_lossy(&opening).contains("connected"));
    let (s, _) = sb
        .request_as(Some(&token), Method::POST, "/auth/logout", None)
        .await?;
    assert_eq!(s, 204);
    let logged_out = Instant::now();
    let mut tail = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.chunk().await? {
            tail.push_str(&String::from_utf8_lossy(&chunk));
        }
        anyhow::Ok(())
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream was still open 5 s after logout: {tail}"
    );
    assert!(tail.contains("event: closed"), "{tail}");
    println!(
        "stream closed {} ms after logout",
        logged_out.elapsed().as_millis()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_credentials_are_write_only_and_never_logged() -> anyhow::Result<()> {
    const SECRET: &str = "s3cret-camera-pw";
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .env("VMS_LOG", "debug")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let url = sb
        .sim
        .url(0)
        .replacen("rtsp://", &format!("rtsp://alice:{SECRET}@"), 1);
    let (s, created) = sb
        .post(
            "/cameras",
            &json!({"tenant_id": tenant, "name": "door", "url": url}),
        )
        .await?;
    let text = created.to_string();
    let created_answer = created.clone();
    let created: CameraView = typed(s, created)?;
    let id = created.camera.id.to_string();
    assert_eq!(
        created.camera.url,
        sb.sim.url(0),
        "the URL is shown without its userinfo: {text}"
    );
    assert!(created.camera.has_credentials, "{text}");
    sb.wait_segments(&id, 1, Duration::from_secs(30)).await?;
    let (_, patched) = sb
        .request(
            Method::PATCH,
            &format!("/cameras/{id}"),
            Some(&json!({"username": "bob", "password": format!("{SECRET}-2")})),
        )
        .await?;
    let mut answers = vec![created_answer, patched];
    answers.push(sb.get(&format!("/cameras/{id}")).await?.1);
    answers.push(sb.get("/cameras").await?.1);
    for answer in &answers {
        let text = answer.to_string();
        assert!(!text.contains(SECRET) && !text.contains("alice:"), "{text}");
    }
    let log = sb.node_log("data");
    assert!(!log.is_empty());
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains(SECRET)).collect();
    assert!(
        leaks.is_empty(),
        "the node logged a camera password: {leaks:#?}"
    );
    Ok(())
}
