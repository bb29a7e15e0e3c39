//! The UDP side of a WebRTC session: datagrams in (each of a coalesced read on its own), and
//! str0m's transmits out in batches. Consecutive datagrams to one address and of one size (the last
//! may be shorter), as str0m emits the packets of a frame, leave in one `sendmsg` with UDP generic
//! segmentation offload (GSO, through `quinn-udp`), and the kernel cuts them apart: one system call
//! per frame instead of one per packet. Where the kernel has no GSO, or `live.udp_gso` is off,
//! each datagram is its own `sendto`.

use futures_util::Stream;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Bytes one batch holds at most (a UDP payload is at most 65 507 bytes).
const MAX_BATCH_BYTES: usize = 60_000;
/// Datagrams one batch holds at most (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_BATCH_DATAGRAMS: usize = 64;
/// Largest read: a coalesced read of several datagrams.
const RECV_BUFFER: usize = 64 * 1024;

/// A session's UDP socket; see the module docs.
pub(crate) struct UdpLink {
    socket: Arc<UdpSocket>,
    state: Arc<UdpSocketState>,
    /// Datagrams one `sendmsg` may carry (1: no GSO).
    max_datagrams: usize,
    batch: Batch,
}

/// Datagrams waiting to leave together.
#[derive(Default)]
struct Batch {
    to: Option<SocketAddr>,
    /// The size of each datagram but the last.
    segment: usize,
    count: usize,
    /// A shorter datagram ended it.
    closed: bool,
    bytes: Vec<u8>,
}

impl UdpLink {
    /// Sends and receives on `socket`, batching sends when `gso` is on and the kernel can.
    pub(crate) fn new(socket: UdpSocket, gso: bool) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        let max_datagrams = if gso {
            state.max_gso_segments().clamp(1, MAX_BATCH_DATAGRAMS)
        } else {
            1
        };
        Ok(Self {
            socket: Arc::new(socket),
            state: Arc::new(state),
            max_datagrams,
            batch: Batch::default(),
        })
    }

    /// Queues `datagram` for `to`, first sending what is queued when it cannot join them; how
    /// many datagrams could not be sent.
    pub(crate) fn send(&mut self, to: SocketAddr, datagram: &[u8]) -> u64 {
        let b = &self.batch;
        let joins = b.to == Some(to)
            && !b.closed
            && datagram.len() <= b.segment
            && b.count < self.max_datagrams
            && b.bytes.len() + datagram.len() <= MAX_BATCH_BYTES;
        let mut lost = 0;
        if !joins {
            lost = self.flush();
            self.batch.to = Some(to);
            self.batch.segment = datagram.len();
        }
        let b = &mut self.batch;
        b.bytes.extend_from_slice(datagram);
        b.count += 1;
        b.closed = datagram.len() < b.segment;
        if b.count >= self.max_datagrams {
            lost += self.flush();
        }
        lost
    }

    /// Sends what is queued; how many datagrams could not be sent.
    pub(crate) fn flush(&mut self) -> u64 {
        let b = std::mem::take(&mut self.batch);
        let Some(to) = b.to.filter(|_| b.count > 0) else {
            return 0;
        };
        let sent = if b.count == 1 {
            self.socket.try_send_to(&b.bytes, to).map(|_| ())
        } else {
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents: &b.bytes,
                segment_size: Some(b.segment),
                src_ip: None,
            };
            self.socket.try_io(Interest::WRITABLE, || {
                self.state.try_send((&*self.socket).into(), &transmit)
            })
        };
        // Keep the buffer for the next batch.
        self.batch.bytes = b.bytes;
        self.batch.bytes.clear();
        match sent {
            Ok(()) => 0,
            Err(_) => u64::try_from(b.count).unwrap_or(u64::MAX),
        }
    }

    /// The datagrams the socket receives, with their sources; it ends when the socket fails.
    pub(crate) fn datagrams(&self) -> impl Stream<Item = (Vec<u8>, SocketAddr)> + use<> {
        let reader = Reader {
            socket: Arc::clone(&self.socket),
            state: Arc::clone(&self.state),
            buffer: vec![0; RECV_BUFFER],
            ready: VecDeque::new(),
        };
        futures_util::stream::unfold(reader, |mut reader| async move {
            let next = reader.next().await?;
            Some((next, reader))
        })
    }
}

/// What the receiving stream keeps between reads.
struct Reader {
    socket: Arc<UdpSocket>,
    state: Arc<UdpSocketState>,
    buffer: Vec<u8>,
    ready: VecDeque<(Vec<u8>, SocketAddr)>,
}

impl Reader {
    async fn next(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        loop {
            if let Some(datagram) = self.ready.pop_front() {
                return Some(datagram);
            }
            let mut meta = [RecvMeta::default()];
            let read = self
                .socket
                .async_io(Interest::READABLE, || {
                    let mut bufs = [IoSliceMut::new(&mut self.buffer)];
                    self.state
                        .recv((&*self.socket).into(), &mut bufs, &mut meta)
                })
                .await;
            match read {
                Ok(n) if n > 0 => {
                    let meta = meta[0];
                    let len = meta.len.min(self.buffer.len());
                    for datagram in self.buffer[..len].chunks(meta.stride.max(1)) {
                        self.ready.push_back((datagram.to_vec(), meta.addr));
                    }
                }
                Ok(_) => {}
                // An ICMP error from an earlier send; the socket still works.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(_) => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(gso: bool) -> (UdpLink, UdpSocket) {
        let link =
            UdpLink::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"), gso).expect("link");
        let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        // Tokio learns a new socket is writable from its first poll (a session's socket has had
        // it long before media flows).
        link.socket.writable().await.expect("writable");
        (link, peer)
    }

    /// Sends datagrams of these sizes, then reads what the peer gets.
    async fn round_trip(gso: bool, sizes: &[usize]) -> Vec<usize> {
        let (mut link, peer) = pair(gso).await;
        let to = peer.local_addr().expect("address");
        let mut lost = 0;
        for (i, size) in sizes.iter().enumerate() {
            lost += link.send(to, &vec![u8::try_from(i % 250).unwrap_or(0); *size]);
        }
        lost += link.flush();
        assert_eq!(lost, 0);
        let mut got = Vec::new();
        let mut buf = vec![0; 2000];
        for _ in sizes {
            let n = tokio::time::timeout(std::time::Duration::from_secs(2), peer.recv(&mut buf))
                .await
                .expect("a datagram")
                .expect("read");
            got.push(n);
        }
        got
    }

    #[tokio::test]
    async fn batched_datagrams_arrive_one_by_one_as_sent() {
        // A frame's packets (equal, then a shorter last), a small one, another frame.
        let sizes = [1200, 1200, 1200, 700, 90, 1200, 1200, 300];
        for gso in [true, false] {
            assert_eq!(round_trip(gso, &sizes).await, sizes, "gso {gso}");
        }
    }

    #[tokio::test]
    async fn equal_datagrams_share_a_batch_until_a_shorter_one_ends_it() {
        let (mut link, peer) = pair(true).await;
        if link.max_datagrams == 1 {
            println!("no UDP GSO here: every datagram goes alone");
            return;
        }
        let to = peer.local_addr().expect("address");
        link.send(to, &[0; 1200]);
        link.send(to, &[0; 1200]);
        link.send(to, &[0; 500]);
        assert_eq!(link.batch.count, 3);
        link.send(to, &[0; 1200]);
        assert_eq!(link.batch.count, 1, "a shorter datagram closed the batch");
        assert_eq!(link.flush(), 0);
    }
}
