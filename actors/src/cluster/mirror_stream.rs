//! The mirror stream: how a camera's owner sends its durable writes to the camera's standby. Each
//! node runs a mirror server (`cluster.mirror_port`, its address in the node's heartbeats); each
//! camera's mirror task keeps one TCP connection to its standby's server and sends its writes on
//! it in order, one at a time, each answered once it is durable there.
//!
//! It replaced the ractor_cluster link for footage (`docs/architecture.md`, "Mirroring"): the link
//! copied every fragment three times on its way (protobuf encoding, the reader's growing buffer,
//! decoding), and those copies were a sixth of what mirroring cost. Here a write leaves in one
//! `writev` of its header and the recorder's buffer, and lands in one buffer of its exact size.
//!
//! A connection starts with a handshake under the cluster cookie, both ways: each side sends a
//! random nonce and proves it holds the cookie with an HMAC-SHA256 over both nonces, so neither a
//! stranger's writes nor a stranger's server (taking footage) get past it.
//!
//! Wire format, after the handshake (integers big-endian):
//! - a write: tenant (16 bytes), camera (16), offset (8), file name length (2), byte count (4),
//!   the file name (UTF-8, relative to the camera's folder), the bytes;
//! - its answer: 0 (durable), or 1, a reason's length (2) and the reason (UTF-8).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;
use vms_messages::{CameraId, TenantId};

/// What opens a connection: the protocol and its version.
const MAGIC: &[u8; 8] = b"VMSMIR01";
/// How long connecting and the handshake may take.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(5);
/// How long a write may take to be acknowledged (sent, written and synced on the standby).
pub(crate) const WRITE_WITHIN: Duration = Duration::from_secs(2);
/// Largest write: more than a segment's first fragment behind its init section.
pub(crate) const MAX_WRITE: usize = 12 << 20;
/// A write's fixed-size header.
const HEAD: usize = 16 + 16 + 8 + 2 + 4;

/// One write for a standby: where it goes in which camera's copy, and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct MirroredWrite {
    /// The camera's tenant.
    pub tenant_id: TenantId,
    /// The camera.
    pub camera_id: CameraId,
    /// The segment file, relative to the camera's folder (`2026-12-03/0000000005.mp4`).
    pub file: String,
    /// Where the bytes start in it.
    pub offset: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// What a mirror server does with each write: `Ok` once it is durable, or why not.
pub type WriteHandler = Arc<
    dyn Fn(MirroredWrite) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync,
>;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC that proves `role` holds `cookie`, over the nonces in the order that role sees them.
fn proof(cookie: &str, role: &[u8], first: &[u8; 32], second: &[u8; 32]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(cookie.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
    mac.update(MAGIC);
    mac.update(role);
    mac.update(first);
    mac.update(second);
    mac
}

fn nonce() -> [u8; 32] {
    rand::random()
}

fn refused(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, what.to_string())
}

/// The owner's side of the handshake on `stream`.
async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    cookie: &str,
) -> std::io::Result<()> {
    let mine = nonce();
    let mut hello = Vec::with_capacity(40);
    hello.extend_from_slice(MAGIC);
    hello.extend_from_slice(&mine);
    stream.write_all(&hello).await?;
    let mut theirs = [0u8; 32];
    stream.read_exact(&mut theirs).await?;
    let mut their_proof = [0u8; 32];
    stream.read_exact(&mut their_proof).await?;
    proof(cookie, b"server", &mine, &theirs)
        .verify_slice(&their_proof)
        .map_err(|_| refused("the mirror server does not hold the cluster cookie"))?;
    let my_proof = proof(cookie, b"client", &theirs, &mine)
        .finalize()
        .into_bytes();
    stream.write_all(&my_proof).await
}

/// The standby's side of the handshake on `stream`; `check` is off only in the test that shows
/// the check matters.
async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    cookie: &str,
    check: bool,
) -> std::io::Result<()> {
    let mut hello = [0u8; 40];
    stream.read_exact(&mut hello).await?;
    if &hello[..8] != MAGIC {
        return Err(refused("not a mirror stream"));
    }
    let mut theirs = [0u8; 32];
    theirs.copy_from_slice(&hello[8..]);
    let mine = nonce();
    let my_proof = proof(cookie, b"server", &theirs, &mine)
        .finalize()
        .into_bytes();
    let mut answer = Vec::with_capacity(64);
    answer.extend_from_slice(&mine);
    answer.extend_from_slice(&my_proof);
    stream.write_all(&answer).await?;
    let mut their_proof = [0u8; 32];
    stream.read_exact(&mut their_proof).await?;
    let verified = proof(cookie, b"client", &mine, &theirs).verify_slice(&their_proof);
    if check && verified.is_err() {
        return Err(refused(
            "the mirror client does not hold the cluster cookie",
        ));
    }
    Ok(())
}

/// The fixed header of a write of `len` bytes to `file`.
fn head(tenant: TenantId, camera: CameraId, file: &str, offset: u64, len: usize) -> [u8; HEAD] {
    let mut h = [0u8; HEAD];
    h[..16].copy_from_slice(tenant.0.as_bytes());
    h[16..32].copy_from_slice(camera.0.as_bytes());
    h[32..40].copy_from_slice(&offset.to_be_bytes());
    h[40..42].copy_from_slice(&u16::try_from(file.len()).unwrap_or(0).to_be_bytes());
    h[42..46].copy_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes());
    h
}

/// Writes all of `parts` with as few `writev` calls as the socket allows.
async fn write_parts<S: AsyncWrite + Unpin>(
    stream: &mut S,
    parts: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    let mut parts = parts;
    while !parts.is_empty() {
        let n = stream.write_vectored(parts).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut parts, n);
    }
    Ok(())
}

/// Sends one write on `stream` and reads its answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    (tenant, camera): (TenantId, CameraId),
    (file, offset): (&str, u64),
    bytes: &[u8],
) -> std::io::Result<Result<(), String>> {
    let h = head(tenant, camera, file, offset, bytes.len());
    write_parts(
        stream,
        &mut [
            IoSlice::new(&h),
            IoSlice::new(file.as_bytes()),
            IoSlice::new(bytes),
        ],
    )
    .await?;
    match stream.read_u8().await? {
        0 => Ok(Ok(())),
        _ => {
            let len = usize::from(stream.read_u16().await?);
            let mut reason = vec![0u8; len];
            stream.read_exact(&mut reason).await?;
            Ok(Err(String::from_utf8_lossy(&reason).into_owned()))
        }
    }
}

/// Reads one write from `stream`; `None` at a clean end of the stream.
async fn read_write<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<Option<MirroredWrite>> {
    let mut h = [0u8; HEAD];
    match stream.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let uuid = |at: usize| Uuid::from_slice(&h[at..at + 16]).unwrap_or_default();
    let offset = u64::from_be_bytes(h[32..40].try_into().unwrap_or_default());
    let file_len = usize::from(u16::from_be_bytes([h[40], h[41]]));
    let len = u32::from_be_bytes([h[42], h[43], h[44], h[45]]) as usize;
    if len > MAX_WRITE {
        return Err(refused("a write larger than the largest fragment"));
    }
    let mut file = vec![0u8; file_len];
    stream.read_exact(&mut file).await?;
    let file = String::from_utf8(file).map_err(|_| refused("a file name that is not UTF-8"))?;
    // Read into a buffer of the write's exact size: no copy on the way to the disk.
    let mut bytes = Vec::with_capacity(len);
    let mut rest = stream.take(len as u64);
    while bytes.len() < len {
        if rest.read_buf(&mut bytes).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Some(MirroredWrite {
        tenant_id: TenantId(uuid(0)),
        camera_id: CameraId(uuid(16)),
        file,
        offset,
        bytes,
    }))
}

/// The answer to a write.
fn answer(result: &Result<(), String>) -> Vec<u8> {
    match result {
        Ok(()) => vec![0],
        Err(reason) => {
            let reason = &reason.as_bytes()[..reason.len().min(u16::MAX as usize)];
            let mut a = Vec::with_capacity(3 + reason.len());
            a.push(1);
            a.extend_from_slice(&u16::try_from(reason.len()).unwrap_or(0).to_be_bytes());
            a.extend_from_slice(reason);
            a
        }
    }
}

/// One owner's connection: the handshake, then its writes one by one until it hangs up.
async fn serve_connection(
    mut stream: TcpStream,
    cookie: Arc<str>,
    check: bool,
    handler: WriteHandler,
) -> std::io::Result<()> {
    tokio::time::timeout(
        HANDSHAKE_WITHIN,
        server_handshake(&mut stream, &cookie, check),
    )
    .await
    .map_err(|_| refused("no handshake in time"))??;
    while let Some(write) = read_write(&mut stream).await? {
        let result = handler(write).await;
        stream.write_all(&answer(&result)).await?;
    }
    Ok(())
}

/// A node's mirror server: takes the writes of the cameras it stands by for.
pub struct MirrorServer {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MirrorServer {
    /// Listens on `address` for owners that hold `cookie`, handing each write to `handler`.
    pub async fn bind(
        address: SocketAddr,
        cookie: Arc<str>,
        handler: WriteHandler,
    ) -> std::io::Result<Self> {
        Self::bind_checked(address, cookie, handler, true).await
    }

    /// [`MirrorServer::bind`], with the client's proof checked or (only in the test that shows the
    /// check matters) not.
    async fn bind_checked(
        address: SocketAddr,
        cookie: Arc<str>,
        handler: WriteHandler,
        check: bool,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (cookie, handler) = (Arc::clone(&cookie), Arc::clone(&handler));
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, cookie, check, handler).await
                        && e.kind() != std::io::ErrorKind::UnexpectedEof
                    {
                        tracing::debug!(%peer, error = %e, "mirror connection ended");
                    }
                });
            }
        });
        Ok(Self { address, task })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MirrorServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A camera's connection to its standby's mirror server, opened on first use and again after a
/// failure or when the standby changes.
pub(crate) struct MirrorClient {
    cookie: Arc<str>,
    open: Option<(String, TcpStream)>,
}

impl MirrorClient {
    /// A client that proves itself with `cookie`.
    pub(crate) fn new(cookie: Arc<str>) -> Self {
        Self { cookie, open: None }
    }

    /// Sends `bytes` at `offset` of `camera`'s `file` to `standby`, whose mirror server is at
    /// `address`, and waits until they are durable there; the reason label when they are not.
    pub(crate) async fn send(
        &mut self,
        (standby, address): (&str, &str),
        ids: (TenantId, CameraId),
        (file, offset): (&str, u64),
        bytes: &[u8],
    ) -> Result<(), &'static str> {
        if bytes.len() > MAX_WRITE {
            return Err("too_large");
        }
        if self.open.as_ref().is_none_or(|(to, _)| to != standby) {
            self.open = None;
            let stream = tokio::time::timeout(HANDSHAKE_WITHIN, connect(address, &self.cookie))
                .await
                .map_err(|_| "no_link")?
                .map_err(|e| {
                    tracing::debug!(standby, address, error = %e, "cannot open the mirror stream");
                    "no_link"
                })?;
            self.open = Some((standby.to_string(), stream));
        }
        let Some((_, stream)) = self.open.as_mut() else {
            return Err("no_link");
        };
        let answer =
            tokio::time::timeout(WRITE_WITHIN, exchange(stream, ids, (file, offset), bytes)).await;
        match answer {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(reason))) => {
                tracing::debug!(standby, reason, "the standby refused a mirrored write");
                Err("refused")
            }
            // Where the stream stands is unknown now: the next write opens another.
            Ok(Err(_)) | Err(_) => {
                self.open = None;
                Err("no_answer")
            }
        }
    }
}

/// Connects to the mirror server at `address` and passes its handshake.
async fn connect(address: &str, cookie: &str) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    client_handshake(&mut stream, cookie).await?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A server on loopback that keeps what it is sent, refusing files named `refuse`.
    async fn listening(
        cookie: &str,
        check: bool,
    ) -> (MirrorServer, Arc<Mutex<Vec<MirroredWrite>>>) {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let handler: WriteHandler = {
            let kept = Arc::clone(&kept);
            Arc::new(move |w: MirroredWrite| {
                let kept = Arc::clone(&kept);
                Box::pin(async move {
                    if w.file == "refuse" {
                        return Err("not the standby".to_string());
                    }
                    kept.lock().expect("lock").push(w);
                    Ok(())
                })
            })
        };
        let address = "127.0.0.1:0".parse().expect("address");
        let server = MirrorServer::bind_checked(address, cookie.into(), handler, check)
            .await
            .expect("bound");
        (server, kept)
    }

    fn ids() -> (TenantId, CameraId) {
        (TenantId(Uuid::now_v7()), CameraId(Uuid::now_v7()))
    }

    #[tokio::test]
    async fn writes_arrive_in_order_and_refusals_come_back() {
        let (server, kept) = listening("the cluster cookie", true).await;
        let address = server.address().to_string();
        let mut client = MirrorClient::new("the cluster cookie".into());
        let (tenant, camera) = ids();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        for (i, bytes) in [&b"moov"[..], &big[..], b""].iter().enumerate() {
            let file = format!("2026-12-04/000000000{i}.mp4");
            let sent = client
                .send(("b", &address), (tenant, camera), (&file, 7), bytes)
                .await;
            assert_eq!(sent, Ok(()));
        }
        let refused = client
            .send(("b", &address), (tenant, camera), ("refuse", 0), b"x")
            .await;
        assert_eq!(refused, Err("refused"));
        let kept = kept.lock().expect("lock");
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[1].bytes, big);
        assert_eq!(
            (kept[0].tenant_id, kept[0].camera_id, kept[0].offset),
            (tenant, camera, 7)
        );
        assert_eq!(kept[0].file, "2026-12-04/0000000000.mp4");
        assert_eq!(kept[0].bytes, b"moov");
    }

    #[tokio::test]
    async fn a_client_without_the_cookie_is_refused_and_the_check_matters() {
        let (server, kept) = listening("the cluster cookie", true).await;
        let address = server.address().to_string();
        // A client with another cookie refuses the server's proof, and the server refuses its.
        let mut stranger = MirrorClient::new("another cookie".into());
        let sent = stranger
            .send(("b", &address), ids(), ("a.mp4", 0), b"x")
            .await;
        assert_eq!(sent, Err("no_link"));
        // A stranger that skips checking the server still cannot write.
        let mut stream = TcpStream::connect(&address).await.expect("connected");
        let mut hello = MAGIC.to_vec();
        hello.extend_from_slice(&[0u8; 32]);
        stream.write_all(&hello).await.expect("hello");
        let mut reply = [0u8; 64];
        stream.read_exact(&mut reply).await.expect("server's proof");
        stream.write_all(&[0u8; 32]).await.expect("a wrong proof");
        let write = exchange(&mut stream, ids(), ("a.mp4", 0), b"x").await;
        assert!(write.is_err(), "{write:?}");
        assert!(kept.lock().expect("lock").is_empty());
        // Mutation: with the server's check off, the same wrong proof writes.
        let (unchecked, kept) = listening("the cluster cookie", false).await;
        let mut stream = TcpStream::connect(unchecked.address())
            .await
            .expect("connected");
        stream.write_all(&hello).await.expect("hello");
        stream.read_exact(&mut reply).await.expect("server's proof");
        stream.write_all(&[0u8; 32]).await.expect("a wrong proof");
        let write = exchange(&mut stream, ids(), ("a.mp4", 0), b"x").await;
        assert!(matches!(write, Ok(Ok(()))), "{write:?}");
        assert_eq!(kept.lock().expect("lock").len(), 1);
    }

    #[tokio::test]
    async fn a_new_standby_gets_a_stream_of_its_own() {
        let (b, kept_b) = listening("c", true).await;
        let (c, kept_c) = listening("c", true).await;
        let (b_at, c_at) = (b.address().to_string(), c.address().to_string());
        let mut client = MirrorClient::new("c".into());
        let cam = ids();
        assert_eq!(client.send(("b", &b_at), cam, ("f", 0), b"1").await, Ok(()));
        assert_eq!(client.send(("c", &c_at), cam, ("f", 1), b"2").await, Ok(()));
        assert_eq!(kept_b.lock().expect("lock").len(), 1);
        assert_eq!(kept_c.lock().expect("lock").len(), 1);
        // A standby that is gone is a missed write, not a hang.
        drop(c);
        let gone = client.send(("d", "127.0.0.1:1"), cam, ("f", 2), b"3").await;
        assert_eq!(gone, Err("no_link"));
    }
}
