//! Identities, tokens, keys, licences, audit and hostile input against a real node and PostgreSQL.

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use vms_messages::{ApiKeyCreated, AuditEntry, AuditPage, Me, SigningKeyRotated, TokenPair};
use vms_messages::{CameraView, Role, Tenant};
use vms_testkit::{SANDBOX_ADMIN_EMAIL, Sandbox, api_error, assert_refused, typed, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const PASSWORD: &str = "security test password";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The `kid` and claims of a JWT, unverified.
fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().unwrap_or_default();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_default();
        serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)
    };
    (decode(), decode())
}

async fn login_pair(sb: &Sandbox, email: &str, password: &str) -> anyhow::Result<(u16, Value)> {
    sb.request_as(
        None,
        Method::POST,
        "/auth/login",
        Some(&json!({"email": email, "password": password})),
    )
    .await
}

/// Logs in, failing unless the answer is a token pair.
async fn login_tokens(sb: &Sandbox, email: &str, password: &str) -> anyhow::Result<TokenPair> {
    let (s, pair) = login_pair(sb, email, password).await?;
    typed(s, pair)
}

/// `GET /auth/me` with `token`.
async fn me(sb: &Sandbox, token: &str) -> anyhow::Result<Me> {
    let (s, me) = sb
        .request_as(Some(token), Method::GET, "/auth/me", None)
        .await?;
    typed(s, me)
}

/// The code of an API error answer, if it is one.
fn code_of(answer: &Value) -> Option<String> {
    api_error(answer).ok().map(|e| e.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_sessions_and_api_keys() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let user = sb
        .create_user("op@acme.test", PASSWORD, "operator", Some(&tenant))
        .await?;

    // Login, me, refresh once.
    // The e-mail is case-insensitive.
    let pair = login_tokens(&sb, "OP@acme.test", PASSWORD).await?;
    let (access, refresh) = (pair.access_token, pair.refresh_token);
    let me_body = me(&sb, &access).await?;
    assert_eq!(me_body.role, Role::Operator);
    assert_eq!(
        me_body.tenant_id.map(|t| t.to_string()),
        Some(tenant.clone())
    );
    let (header, claims) = jwt_parts(&access);
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].is_string(), "{header}");
    assert_eq!(claims["sub"], user.as_str());
    let (s, next) = sb.refresh(&refresh).await?;
    let next: TokenPair = typed(s, next)?;
    let (s, reused) = sb.refresh(&refresh).await?;
    assert_eq!(
        (s, code_of(&reused).as_deref()),
        (401, Some("invalid_refresh_token")),
        "a refresh token is good once"
    );
    assert_eq!(
        sb.me_status(&next.access_token).await?,
        401,
        "reusing a refresh token ends its whole session"
    );
    // A new session for what follows.
    let next = login_tokens(&sb, "op@acme.test", PASSWORD).await?;
    let access = next.access_token.clone();
    let (header, claims) = jwt_parts(&access);

    // Forged, tampered, alg=none and expired tokens.
    let kid = header["kid"].as_str().unwrap_or_default().to_string();
    let now = chrono::Utc::now().timestamp();
    let claims_for = |exp: i64| json!({"iss": "vms", "aud": "vms-api", "sub": user, "sid": claims["sid"], "iat": now, "exp": exp});
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.clone());
    let forged = jsonwebtoken::encode(
        &h,
        &claims_for(now + 600),
        &EncodingKey::from_secret(b"a guess at the secret, 32 bytes!")?,
    )?;
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
            .to_string()
            .as_bytes()),
        b64(claims_for(now + 600).to_string().as_bytes())
    );
    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    let secret: Vec<u8> = {
        let (client, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        client
            .query_one("SELECT secret FROM signing_keys WHERE kid = $1", &[&kid])
            .await?
            .get(0)
    };
    let expired = jsonwebtoken::encode(
        &h,
        &claims_for(now - 60),
        &EncodingKey::from_secret(&secret)?,
    )?;
    let valid_again = jsonwebtoken::encode(
        &h,
        &claims_for(now + 600),
        &EncodingKey::from_secret(&secret)?,
    )?;
    assert_eq!(
        sb.me_status(&valid_again).await?,
        200,
        "control: a token signed with the real key works"
    );
    for (what, token) in [
        ("forged", &forged),
        ("alg none", &none),
        ("tampered", &tampered),
        ("expired", &expired),
        ("garbage", &"x.y.z".to_string()),
    ] {
        let (s, body) = sb
            .request_as(Some(token), Method::GET, "/auth/me", None)
            .await?;
        assert_eq!(
            (s, code_of(&body).as_deref()),
            (401, Some("unauthenticated")),
            "{what}: {body}"
        );
    }

    // Key rotation: old tokens keep working, new ones carry the new kid.
    let rotated: SigningKeyRotated = sb
        .post_typed("/auth/signing-keys/rotate", &json!(null))
        .await?;
    let new_access = next.access_token;
    assert_eq!(
        sb.me_status(&new_access).await?,
        200,
        "tokens of the previous key stay valid"
    );
    let fresh = login_tokens(&sb, "op@acme.test", PASSWORD)
        .await?
        .access_token;
    assert_eq!(jwt_parts(&fresh).0["kid"], rotated.kid.as_str());
    assert_eq!(sb.me_status(&fresh).await?, 200);

    // Logout ends the session at once.
    let (s, _) = sb
        .request_as(Some(&fresh), Method::POST, "/auth/logout", None)
        .await?;
    assert_eq!(s, 204);
    assert_eq!(
        sb.me_status(&fresh).await?,
        401,
        "access token of a logged-out session"
    );

    // API keys: shown once, role capped, revocable; disabling the user stops everything.
    let (s, key) = sb
        .new_api_key(&new_access, &json!({"name": "ci", "role": "viewer"}))
        .await?;
    let key: ApiKeyCreated = typed(s, key)?;
    let secret_key = key.key.clone();
    assert!(secret_key.starts_with(&key.api_key.prefix));
    let (_, listed) = sb
        .request_as(Some(&new_access), Method::GET, "/api-keys", None)
        .await?;
    assert!(
        !listed.to_string().contains(&secret_key),
        "the secret is never listed"
    );
    let me_key = me(&sb, &secret_key).await?;
    assert_eq!(
        (me_key.role, me_key.credential.as_str()),
        (Role::Viewer, "api_key")
    );
    let (s, higher) = sb
        .new_api_key(&new_access, &json!({"name": "x", "role": "tenant_admin"}))
        .await?;
    assert_refused(s, &higher, 403, "role");
    let (s, past) = sb
        .new_api_key(
            &new_access,
            &json!({"name": "x", "expires_at": "2000-01-01T00:00:00Z"}),
        )
        .await?;
    assert_refused(s, &past, 400, "expires_at");
    let key_id = key.api_key.id;
    let (s, _) = sb
        .request_as(
            Some(&new_access),
            Method::DELETE,
            &format!("/api-keys/{key_id}"),
            None,
        )
        .await?;
    assert_eq!(s, 204);
    assert_eq!(sb.me_status(&secret_key).await?, 401, "revoked key");
    let wrong_secret = format!("{}_not-the-secret", key.api_key.prefix);
    assert_eq!(sb.me_status(&wrong_secret).await?, 401);
    let (s, _) = sb
        .request(
            Method::PATCH,
            &format!("/users/{user}"),
            Some(&json!({"disabled": true})),
        )
        .await?;
    assert_eq!(s, 200);
    assert_eq!(
        sb.me_status(&new_access).await?,
        401,
        "a disabled user's sessions end"
    );
    assert_eq!(login_pair(&sb, "op@acme.test", PASSWORD).await?.0, 401);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_answers_the_same_for_unknown_users_and_is_rate_limited() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    sb.create_user("real@acme.test", PASSWORD, "platform_admin", None)
        .await?;
    let mut timings = (Vec::new(), Vec::new());
    let mut answers = Vec::new();
    // Alternate, within the per-e-mail limit (10 a minute by default) and the per-address one.
    for _ in 0..4 {
        for (email, times) in [
            ("real@acme.test", &mut timings.0),
            ("ghost@acme.test", &mut timings.1),
        ] {
            let started = Instant::now();
            let (s, body) = login_pair(&sb, email, "wrong password!!").await?;
            times.push(started.elapsed().as_secs_f64());
            answers.push((s, body));
        }
    }
    for (s, body) in &answers {
        assert_eq!(*s, 401);
        assert_eq!(body, &answers[0].1, "same answer for unknown users");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut timings.0), median(&mut timings.1));
    let ratio = known / unknown;
    println!("login timing: known {known:.4} s, unknown {unknown:.4} s, ratio {ratio:.2}");
    assert!(
        (0.5..2.0).contains(&ratio),
        "timing differs: {known} vs {unknown}"
    );
    // The limit: 10 attempts a minute per address; the 11th gets 429 with Retry-After.
    let url = format!("{}/auth/login", sb.api()?);
    let mut limited = None;
    for _ in 0..10 {
        let resp = sb
            .http()
            .post(&url)
            .json(&json!({"email": SANDBOX_ADMIN_EMAIL, "password": "wrong password!!"}))
            .send()
            .await?;
        if resp.status() == 429 {
            limited = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_string());
            break;
        }
    }
    let retry_after: u64 = limited.expect("429 after the limit").parse()?;
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_licence_stops_recording_and_keeps_recordings() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    let before = sb.wait_segments(&cam, 1, Duration::from_secs(30)).await?;
    let (s, t) = sb
        .request(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(&json!({"expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await?;
    assert_eq!(s, 200, "{t}");
    let view = sb
        .wait_state(&cam, "suspended", Duration::from_secs(10))
        .await?;
    assert!(
        view.status
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("licence expired")),
        "{view:?}"
    );
    let (s, body) = sb
        .post(
            "/cameras",
            &json!({"tenant_id": tenant, "name": "new", "url": sb.sim.url(0)}),
        )
        .await?;
    let refused = api_error(&body)?;
    assert_eq!(
        (s, refused.code.as_str(), refused.field.as_deref()),
        (402, "licence_expired", Some("expires_at")),
        "{body}"
    );
    let (s, body) = sb
        .request(
            Method::PATCH,
            &format!("/cameras/{cam}"),
            Some(&json!({"name": "renamed"})),
        )
        .await?;
    assert_eq!(s, 402, "{body}");
    // Nothing recorded is lost, and it can still be played.
    let kept = sb.segments(&cam).await?;
    assert!(
        kept.len() >= before.len(),
        "{} < {}",
        kept.len(),
        before.len()
    );
    let media = format!("{}{}", sb.node()?.api, kept[0].media_url);
    assert_eq!(sb.http().get(media).send().await?.status(), 200);
    // No new segment while suspended; renewing resumes recording.
    let count = kept.len();
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        sb.segments(&cam).await?.len(),
        count,
        "recorded while the licence was expired"
    );
    let (s, _) = sb
        .request(
            Method::PATCH,
            &format!("/tenants/{tenant}"),
            Some(&json!({"expires_at": null})),
        )
        .await?;
    assert_eq!(s, 200);
    sb.wait_state(&cam, "streaming", Duration::from_secs(15))
        .await?;
    sb.wait_segments(&cam, count + 1, Duration::from_secs(20))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_every_change_is_audited() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(1).start().await?;
    // SQL-ish strings are data, stored and returned as given.
    let sqlish = "x'); DROP TABLE tenants; --";
    let t: Tenant = sb.post_typed("/tenants", &json!({"name": sqlish})).await?;
    assert_eq!(t.name, sqlish);
    let tenant = t.id.to_string();
    let (s, _) = sb.get("/tenants").await?;
    assert_eq!(s, 200);
    let (s, body) = sb
        .post("/tenants", &json!({"name": "n".repeat(10_000)}))
        .await?;
    assert_refused(s, &body, 400, "name");
    let (s, body) = sb
        .post("/users", &json!({"email": format!("{}@x.test", "a".repeat(300)), "password": PASSWORD, "role": "viewer", "tenant_id": tenant}))
        .await?;
    assert_refused(s, &body, 400, "email");
    let (s, body) = sb
        .post("/users", &json!({"email": "short@x.test", "password": "short", "role": "viewer", "tenant_id": tenant}))
        .await?;
    assert_refused(s, &body, 400, "password");
    let (s, _) = sb
        .post(
            "/auth/login",
            &json!({"email": "a@b", "password": "p".repeat(100_000)}),
        )
        .await?;
    assert_eq!(s, 413, "oversized body");
    // Path traversal in the file-serving route never reaches the file system.
    for path in [
        "/segments/..%2F..%2F..%2Fetc%2Fpasswd/media",
        "/segments/%2e%2e/media",
        "/segments/1%00/media",
    ] {
        let (s, body) = sb.get(path).await?;
        assert!(s == 400 || s == 404, "{path}: {s} {body}");
        assert!(!body.to_string().contains("root:"), "{path}");
    }
    // A tenant admin's audit log: its own tenant only; the platform admin sees everyone's.
    let admin = sb
        .create_user("boss@acme.test", PASSWORD, "tenant_admin", Some(&tenant))
        .await?;
    let token = sb.login("boss@acme.test", PASSWORD).await?;
    let (s, cam) = sb
        .request_as(
            Some(&token),
            Method::POST,
            "/cameras",
            Some(&json!({"name": "door", "url": sb.sim.url(0), "enabled": false})),
        )
        .await?;
    let cam: CameraView = typed(s, cam)?;
    let other = sb.create_tenant("other", 1).await?;
    let entries = wait_for("audit line", Duration::from_secs(5), || {
        let token = token.clone();
        let sb = &sb;
        async move {
            let (s, page) = sb
                .request_as(Some(&token), Method::GET, "/audit", None)
                .await?;
            let items = typed::<AuditPage>(s, page)?.items;
            Ok(items
                .iter()
                .any(|e| e.record.action == "create_camera")
                .then_some(items))
        }
    })
    .await?;
    let line = &entries
        .iter()
        .find(|e| e.record.action == "create_camera")
        .context("the camera's creation is audited")?
        .record;
    assert_eq!(line.actor, "boss@acme.test");
    assert_eq!(line.user_id.map(|u| u.to_string()), Some(admin.clone()));
    assert_eq!(line.object_kind.as_deref(), Some("camera"));
    assert_eq!(line.object_id, Some(cam.camera.id.to_string()));
    assert_eq!(line.status, 201);
    assert_eq!(line.ip.as_deref(), Some("127.0.0.1"));
    let tenant_of = |e: &AuditEntry| e.record.tenant_id.map(|t| t.to_string());
    assert!(
        entries.iter().all(|e| tenant_of(e) == Some(tenant.clone())),
        "only its tenant's lines"
    );
    let all: AuditPage = sb.get_typed("/audit?limit=1000").await?;
    assert!(
        all.items
            .iter()
            .any(|e| tenant_of(e) == Some(other.clone())),
        "platform admin sees every tenant"
    );
    assert!(
        all.items
            .iter()
            .any(|e| e.record.action == "login" && e.record.status == 200)
    );
    // Append-only, even for the database owner.
    let (client, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let update = client
        .execute("UPDATE audit_log SET actor = 'nobody'", &[])
        .await;
    assert!(update.is_err(), "audit_log accepted an UPDATE");
    let delete = client.execute("DELETE FROM audit_log", &[]).await;
    assert!(delete.is_err(), "audit_log accepted a DELETE");
    Ok(())
}
