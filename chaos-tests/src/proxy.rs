//! A TCP proxy that can cut a node off, two ways:
//! - [`Proxy::cut`]: every connection through it is dropped at once, and new ones are refused, until
//!   it is restored (a peer that goes away);
//! - [`Proxy::black_hole`]: nothing is forwarded any more and nothing is closed (a partition that
//!   silently drops packets): connections stay open, new ones are accepted and hang. On
//!   [`Proxy::restore`] the bytes held meanwhile are delivered, late, as TCP retransmission would.
//!
//! A node whose NATS and PostgreSQL go through proxies is partitioned from both while its API stays
//! reachable for the test.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    BlackHole,
}

/// A proxy from a local port to `target`.
pub struct Proxy {
    /// Port it listens on (127.0.0.1).
    pub port: u16,
    mode: watch::Sender<(Mode, u64)>,
    task: tokio::task::JoinHandle<()>,
}

/// Waits until traffic may flow; `false` when the connection must close.
async fn flowing(mode: &mut watch::Receiver<(Mode, u64)>, generation: u64) -> bool {
    loop {
        let (m, g) = *mode.borrow_and_update();
        if g != generation {
            return false;
        }
        match m {
            Mode::Open => return true,
            Mode::Cut => return false,
            Mode::BlackHole => {}
        }
        if mode.changed().await.is_err() {
            return false;
        }
    }
}

/// Copies `from` to `to` while the proxy is open; holds (neither reads nor closes) while it is a
/// black hole; stops when it is cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: watch::Receiver<(Mode, u64)>,
    generation: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !flowing(&mut mode, generation).await {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            // A change of mode: look again before reading.
            _ = mode.changed() => continue,
        };
        // Bytes read as the hole opened are held, not lost.
        if !flowing(&mut mode, generation).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// Starts a proxy to `target` (`host:port`).
    pub async fn start(target: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (mode, _) = watch::channel((Mode::Open, 0u64));
        let task = {
            let (mode, target) = (mode.clone(), target.to_string());
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let (now, generation) = *mode.borrow();
                    if now == Mode::Cut {
                        drop(inbound);
                        continue;
                    }
                    let target = target.clone();
                    let mut watching = mode.subscribe();
                    tokio::spawn(async move {
                        // In a black hole the connection is accepted but goes nowhere yet.
                        if !flowing(&mut watching, generation).await {
                            return;
                        }
                        let Ok(outbound) = TcpStream::connect(&target).await else {
                            return;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::join!(
                            pump(in_read, out_write, watching.clone(), generation),
                            pump(out_read, in_write, watching, generation),
                        );
                    });
                }
            })
        };
        Ok(Self { port, mode, task })
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.mode.send_modify(|(m, g)| {
            *m = Mode::Cut;
            *g += 1;
        });
    }

    /// Forwards nothing and closes nothing, until restored.
    pub fn black_hole(&self) {
        self.mode.send_modify(|(m, _)| *m = Mode::BlackHole);
    }

    /// Forwards again: after a black hole, on the same connections; after a cut, on new ones.
    pub fn restore(&self) {
        self.mode.send_modify(|(m, _)| *m = Mode::Open);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
