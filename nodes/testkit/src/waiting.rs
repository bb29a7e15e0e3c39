//! Waiting in tests: free ports that stay free, and a deadline-based `wait_for`.

use anyhow::bail;
use std::future::Future;
use std::time::{Duration, Instant};

/// Ports [`free_port`] hands out: below Linux's ephemeral range (32768–60999), so the port cannot
/// be taken in the meantime as the local end of some process's outgoing connection (a node's own
/// PostgreSQL or NATS connection, made before it binds its listener).
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port on 127.0.0.1 that was free a moment ago, never the same twice in this process.
pub fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    // Each test process starts at its own place in the range, so parallel runs rarely meet.
    let offset = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = TEST_PORTS.start + u16::try_from(offset.wrapping_add(n) % span).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port in {TEST_PORTS:?}")
}

/// Polls `check` every 200 ms until it returns `Some` or `deadline` passes.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    let mut last_err = None;
    loop {
        match check().await {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if started.elapsed() > deadline {
            match last_err {
                Some(e) => {
                    bail!("timed out after {deadline:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {deadline:?} waiting for {what}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
