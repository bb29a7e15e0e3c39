//! `vms bench auth`: what logging in costs against what an authenticated request costs, so login cannot
//! be used to exhaust a node. Prints the argon2id hash and verify times, access-token (HS256 JWT) and API
//! key check times, the ratio login/request, and the most logins a second a node can be made to compute
//! with its hashing bound (`auth.hash_concurrency`).

use std::time::{Duration, Instant};
use uuid::Uuid;
use vms_api::auth::{
    decode_access, encode_access, hash_password_blocking, secret_hash, token_kid,
    verify_password_blocking,
};
use vms_config::AuthConfig;
use vms_messages::UserId;
use vms_messages::auth::SigningKey;

/// Options of `vms bench auth`.
#[derive(Clone, Debug, clap::Args)]
pub struct AuthBenchArgs {
    /// Password verifications measured.
    #[arg(long, default_value_t = 20)]
    pub logins: usize,
    /// Token and key checks measured.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
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

/// Runs the benchmark.
pub fn auth(args: AuthBenchArgs) -> anyhow::Result<()> {
    let password = "correct horse battery staple";
    let hash = hash_password_blocking(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "argon2id parameters: {}",
        hash.split('$').nth(3).unwrap_or("?")
    );
    let hash_s = time_each(args.logins, || {
        let _ = hash_password_blocking(password);
    });
    let verify_s = time_each(args.logins, || {
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
    let jwt_s = time_each(args.requests, || {
        let kid = token_kid(&token).ok();
        assert!(kid.is_some() && decode_access(&token, &key).is_ok());
    });
    let api_key = format!("vms_0123456789abcdef_{}", "k".repeat(43));
    let stored = secret_hash(&api_key);
    let key_s = time_each(args.requests, || {
        assert_eq!(secret_hash(&api_key), stored);
    });
    let lanes = AuthConfig::default().hash_concurrency;
    println!("password hash (new password)   {:>10.2} ms", hash_s * 1e3);
    println!("password verify (login)        {:>10.2} ms", verify_s * 1e3);
    println!("access token verify (HS256)    {:>10.2} µs", jwt_s * 1e6);
    println!("API key check (SHA-256)        {:>10.2} µs", key_s * 1e6);
    println!(
        "ratio login / token request    {:>10.0}x",
        verify_s / jwt_s.max(1e-9)
    );
    println!(
        "most logins a node computes    {:>10.1} /s  (auth.hash_concurrency = {lanes}: at most {lanes} cores and {} MiB for hashing; \
         the rest waits; api.login_per_minute limits each address and e-mail)",
        lanes as f64 / verify_s.max(1e-9),
        lanes * 19
    );
    Ok(())
}
