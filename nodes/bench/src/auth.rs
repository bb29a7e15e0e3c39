//! `vms bench auth`: what logging in costs against what an authenticated request costs, so login cannot
//! be used to exhaust a node.
//!
//! Both sides are measured whole, through a real `vms node` process against a scratch PostgreSQL
//! database, one request after another over loopback HTTP:
//! - a login (`POST /auth/login`): the argon2id verify, the session row and the tokens;
//! - an authenticated request (`GET /auth/me`): the screen and the route's guard, the token's signature
//!   (or the API key's hash) and the PostgreSQL lookup of its session (or key) and user;
//! - an anonymous `GET /healthz`, the HTTP floor both include.
//!
//! Each side reports its median latency and the node's CPU per request (from `/proc`), and the ratios
//! login / request. The in-process costs of the pieces (argon2id, HS256, SHA-256) follow, and the memory
//! a login flood can take, from the argon2 parameters in use times `auth.hash_concurrency`.

use super::context;
use super::node::BenchNode;
use anyhow::{Context, bail};
use std::time::{Duration, Instant};
use uuid::Uuid;
use vms_api::{
    argon2, decode_access, encode_access, hash_password_blocking, secret_hash, token_kid,
    verify_password_blocking,
};
use vms_config::AuthConfig;
use vms_messages::SigningKey;
use vms_messages::UserId;
use vms_node::cpu_seconds;
use vms_store::ScratchDatabase;

/// Options of `vms bench auth`.
#[derive(Clone, Debug, clap::Args)]
pub struct AuthBenchArgs {
    /// Logins measured (each one argon2id verify).
    #[arg(long, default_value_t = 40)]
    pub logins: usize,
    /// Authenticated requests measured, for each credential kind.
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn time_each(n: usize, mut f: impl FnMut()) -> f64 {
    median(
        (0..n.max(1))
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// One kind of request, measured whole.
#[derive(Clone, Copy, Debug)]
struct Whole {
    /// Median latency, seconds.
    latency: f64,
    /// The node's CPU seconds per request.
    cpu: f64,
}

/// Sends `n` requests built by `request` one after another; each must answer 2xx.
async fn measure(
    node: &BenchNode,
    n: usize,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<Whole> {
    let pid = node.pid().context("the benchmark node exited")?;
    let before = cpu_seconds(pid)?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let started = Instant::now();
        let answer = request().send().await?;
        let status = answer.status();
        answer.bytes().await?;
        times.push(started.elapsed().as_secs_f64());
        if !status.is_success() {
            bail!("the benchmark node answered {status}");
        }
    }
    Ok(Whole {
        latency: median(times),
        cpu: (cpu_seconds(pid)? - before) / n.max(1) as f64,
    })
}

/// Runs the benchmark.
pub async fn auth(args: AuthBenchArgs) -> anyhow::Result<()> {
    context::print();
    let db = ScratchDatabase::create(&args.postgres, "vms_bench_auth")
        .await
        .context("cannot create the scratch database")?;
    let dir = std::env::temp_dir().join(format!("vms-bench-auth-{}", std::process::id()));
    let result = whole_requests(&args, &db.url, &dir).await;
    db.drop_now().await;
    let _ = std::fs::remove_dir_all(&dir);
    let (login, token, key, floor) = result?;
    println!("whole requests through a node (median latency | node CPU per request):");
    let row = |what: &str, w: &Whole| {
        println!(
            "  {what:<34} {:>9.3} ms | {:>9.3} ms",
            w.latency * 1e3,
            w.cpu * 1e3
        );
    };
    row("POST /auth/login", &login);
    row("GET /auth/me, access token", &token);
    row("GET /auth/me, API key", &key);
    row("GET /healthz, anonymous (floor)", &floor);
    println!(
        "  ratio login / token request      {:>9.0}x  | {:>9.0}x",
        login.latency / token.latency.max(1e-9),
        login.cpu / token.cpu.max(1e-9)
    );
    println!(
        "  ratio login / key request        {:>9.0}x  | {:>9.0}x",
        login.latency / key.latency.max(1e-9),
        login.cpu / key.cpu.max(1e-9)
    );
    println!();
    pieces(&args)
}

/// Starts a node with its limits lifted (the benchmark sends from one address) and measures the four
/// kinds of request.
async fn whole_requests(
    args: &AuthBenchArgs,
    db_url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(Whole, Whole, Whole, Whole)> {
    let unlimited = "1000000".to_string();
    let mut node = BenchNode::spawn(
        dir,
        db_url,
        &[
            ("VMS_API__LOGIN_PER_MINUTE", unlimited.clone()),
            ("VMS_API__RATE_LIMIT_PER_SECOND", unlimited.clone()),
            ("VMS_API__RATE_LIMIT_BURST", unlimited.clone()),
            ("VMS_API__IP_RATE_LIMIT_PER_SECOND", unlimited.clone()),
            ("VMS_API__IP_RATE_LIMIT_BURST", unlimited),
        ],
    )?;
    let result = async {
        node.ready(Duration::from_secs(60)).await?;
        let token = node.admin_token().await?;
        let created: serde_json::Value = node
            .http()
            .post(format!("{}/api/v1/api-keys", node.base()))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        let key = created["key"]
            .as_str()
            .context("no API key in the answer")?
            .to_string();
        let me = format!("{}/api/v1/auth/me", node.base());
        let health = format!("{}/healthz", node.base());
        let login_body = serde_json::json!({
            "email": super::node::ADMIN_EMAIL,
            "password": super::node::ADMIN_PASSWORD,
        });
        let login_url = format!("{}/api/v1/auth/login", node.base());
        // Warm the connection pools and caches on every path first.
        measure(&node, 20, || node.http().get(&me).bearer_auth(&token)).await?;
        measure(&node, 20, || node.http().get(&me).bearer_auth(&key)).await?;
        eprintln!("[bench] {} logins", args.logins);
        let login = measure(&node, args.logins, || {
            node.http().post(&login_url).json(&login_body)
        })
        .await?;
        eprintln!("[bench] {} requests of each kind", args.requests);
        let by_token = measure(&node, args.requests, || {
            node.http().get(&me).bearer_auth(&token)
        })
        .await?;
        let by_key = measure(&node, args.requests, || {
            node.http().get(&me).bearer_auth(&key)
        })
        .await?;
        let floor = measure(&node, args.requests, || node.http().get(&health)).await?;
        anyhow::Ok((login, by_token, by_key, floor))
    }
    .await;
    node.stop().await;
    result
}

/// The pieces in this process: argon2id hash and verify, the HS256 signature, the key hash; and what a
/// login flood can take.
fn pieces(args: &AuthBenchArgs) -> anyhow::Result<()> {
    let password = "correct horse battery staple";
    let hash = hash_password_blocking(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let samples = args.logins.min(20);
    let hash_s = time_each(samples, || {
        let _ = hash_password_blocking(password);
    });
    let verify_s = time_each(samples, || {
        assert!(verify_password_blocking(&hash, password));
    });
    let key = SigningKey {
        kid: "bench".into(),
        secret: vec![7u8; 32],
        created_at: chrono::Utc::now(),
    };
    let token = encode_access(
        &key,
        UserId::new(),
        Uuid::now_v7(),
        Duration::from_secs(900),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let jwt_s = time_each(20_000, || {
        let kid = token_kid(&token).ok();
        assert!(kid.is_some() && decode_access(&token, &key).is_ok());
    });
    let api_key = format!("vms_0123456789abcdef_{}", "k".repeat(43));
    let stored = secret_hash(&api_key);
    let key_s = time_each(20_000, || {
        assert_eq!(secret_hash(&api_key), stored);
    });
    let params = argon2().params().clone();
    let lanes = AuthConfig::default().hash_concurrency;
    let kib_per_hash = u64::from(params.m_cost());
    println!("the pieces, in this process (median):");
    println!(
        "  argon2id parameters              m={} KiB, t={}, p={}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    );
    println!(
        "  password hash (new password)     {:>9.2} ms",
        hash_s * 1e3
    );
    println!(
        "  password verify (login)          {:>9.2} ms",
        verify_s * 1e3
    );
    println!("  access token signature (HS256)   {:>9.2} µs", jwt_s * 1e6);
    println!("  API key hash (SHA-256)           {:>9.2} µs", key_s * 1e6);
    println!(
        "  most logins a node computes      {:>9.1} /s  (auth.hash_concurrency = {lanes}: at most {lanes} cores \
         and {lanes} x {kib_per_hash} KiB = {:.1} MiB for hashing; the rest waits; api.login_per_minute \
         limits each address and e-mail)",
        lanes as f64 / verify_s.max(1e-9),
        (lanes as u64 * kib_per_hash) as f64 / 1024.0
    );
    Ok(())
}
