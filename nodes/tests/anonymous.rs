//! What an anonymous caller can reach on a real node: nothing but the public routes, whatever the
//! spelling of the path, and a flood of refused requests does not grow the audit log.
//!
//! Paths are sent raw over TCP: an HTTP client library would normalise dot segments and `%2e` before
//! they left, and the attack is exactly the spelling the client would have fixed.

use reqwest::Method;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vms_api::TenantPage;
use vms_testkit::{Sandbox, api_error, metric_value};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
/// Any id: nothing must answer for it anyway.
const SOME_ID: &str = "01938a3e-7b1c-7000-8000-000000000001";

/// Sends `method path` with no credentials and an empty body; returns the status and JSON body.
async fn raw(api: &str, method: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let addr = api.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await??;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {text:?}"))?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    // A chunked body: the JSON is between the chunk sizes.
    let json = body
        .find('{')
        .and_then(|start| body.rfind('}').map(|end| &body[start..=end]))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

/// Spellings of `path` that a lenient router could take for it, none of them canonical.
fn variants(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (head, tail) = path.split_at(1); // "/", "api/v1/…"
    let first = tail.chars().next().unwrap_or('x');
    let rest = &tail[first.len_utf8()..];
    // A percent-encoded letter, upper- and lower-case hex.
    out.push(format!("{head}%{:02X}{rest}", first as u32));
    out.push(format!("{head}%{:02x}{rest}", first as u32));
    // The last letter encoded (the one a prefix match would miss).
    if let Some((i, c)) = path
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_ascii_alphabetic())
    {
        out.push(format!("{}%{:02X}{}", &path[..i], c as u32, &path[i + 1..]));
    }
    // Mixed case.
    out.push(format!("{head}{}{rest}", first.to_ascii_uppercase()));
    // A trailing slash.
    out.push(format!("{path}/"));
    // Parameters on a segment.
    out.push(format!("{path};x=1"));
    if let Some(i) = path[1..].find('/') {
        let (a, b) = path.split_at(i + 1);
        out.push(format!("{a};x=1{b}"));
        // An encoded slash, a double slash, dot segments (plain and encoded).
        out.push(format!("{a}%2F{}", &b[1..]));
        out.push(format!("{a}/{b}"));
        out.push(format!("{a}/.{b}"));
        out.push(format!("{a}/%2e{b}"));
        out.push(format!("{a}/x/..{b}"));
        out.push(format!("{a}/x/%2e%2e{b}"));
        out.push(format!("{a}/x/%2E%2E{b}"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_spelling_of_a_path_reaches_a_handler_anonymously() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(0)
        .env("VMS_API__IP_RATE_LIMIT_PER_SECOND", "100000")
        .env("VMS_API__IP_RATE_LIMIT_BURST", "100000")
        .env("VMS_API__LOGIN_PER_MINUTE", "100000")
        .start()
        .await?;
    let api = sb.node()?.api.clone();
    let (_, doc) = sb.request(Method::GET, "/openapi.json", None).await?;
    let tenants_before: TenantPage = sb.get_typed("/tenants").await?;
    let mut failures = Vec::new();
    let mut sent = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let path = template.replace("{id}", SOME_ID);
        for method in item.as_object().expect("path item").keys() {
            let method = method.to_uppercase();
            for variant in variants(&path) {
                let (status, body) = raw(&api, &method, &variant).await?;
                sent += 1;
                // 400 from the path screen (naming the path), or the JSON 404: never a handler.
                let error = api_error(&body).ok();
                let screened = status == 400
                    && error.as_ref().and_then(|e| e.field.as_deref()) == Some("path");
                let unrouted = status == 404 && error.is_some_and(|e| e.code == "not_found");
                if !(screened || unrouted) {
                    failures.push(format!("{method} {variant}: {status} {body}"));
                }
            }
        }
    }
    // Nothing changed behind the refusals.
    let tenants_after: TenantPage = sb.get_typed("/tenants").await?;
    assert_eq!(
        tenants_before.items, tenants_after.items,
        "the tenants are unchanged"
    );
    println!(
        "{sent} path variants sent, {} answered",
        sent - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} variants were not refused at the edge:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_requests_adds_a_bounded_number_of_audit_rows() -> anyhow::Result<()> {
    const FLOOD: usize = 5_000;
    let sb = Sandbox::builder(VMS)
        .cameras(0)
        .env("VMS_API__IP_RATE_LIMIT_PER_SECOND", "100000")
        .env("VMS_API__IP_RATE_LIMIT_BURST", "100000")
        .start()
        .await?;
    let (db, conn) = tokio_postgres::connect(&sb.db.url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let rows = || async {
        db.query_one("SELECT count(*) FROM audit_log", &[])
            .await
            .map(|r| r.get::<_, i64>(0))
    };
    let before = rows().await?;
    let client = reqwest::Client::new();
    let url = format!("{}/tenants", sb.api()?);
    let mut refused = 0;
    for i in 0..FLOOD {
        let resp = client
            .post(&url)
            .bearer_auth(format!("vms_{i:016x}_forged"))
            .json(&serde_json::json!({"name": format!("flood {i}")}))
            .send()
            .await?;
        refused += usize::from(resp.status() == 401);
    }
    assert_eq!(refused, FLOOD, "every forged request is refused");
    let added = rows().await? - before;
    // One row per source and minute: the flood may straddle a minute boundary.
    assert!(
        added <= 2,
        "{FLOOD} refused requests added {added} audit rows"
    );
    let text = sb.metrics().await?;
    let counted = metric_value(&text, "vms_api_refused_requests_total", "status=\"401\"");
    assert!(counted >= FLOOD as f64, "refusals counted: {counted}");
    println!("{FLOOD} refused requests: {added} audit rows, {counted} counted in the metric");
    Ok(())
}
