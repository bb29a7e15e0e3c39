//! The viewers `vms-bench live` opens: a WebRTC (WHEP) receiver built on str0m, the same stack as
//! the node's, and an MSE WebSocket reader. Each counts the frames it receives and the gaps in them
//! (a frame missing in the RTP sequence, a group of pictures skipped by the node).

use anyhow::{Context, bail};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::watch;

/// What one viewer received.
#[derive(Debug, Default)]
pub struct Received {
    /// Frames received.
    pub frames: AtomicU64,
    /// Frames that did not follow on from the one before.
    pub gaps: AtomicU64,
    /// Frames that came as H.265 (WebRTC).
    pub h265: AtomicU64,
}

/// Watches `camera` over WHEP at `base` until `stop` turns true, offering to receive H.264 and,
/// with `h265`, H.265. An answer other than 201 is an error with its status and body.
pub async fn webrtc(
    (base, camera, token): (String, String, String),
    h265: bool,
    stop: watch::Receiver<bool>,
    got: Arc<Received>,
) -> anyhow::Result<()> {
    let mut stop = stop;
    let mut rtc = RtcConfig::new()
        .set_crypto_provider(Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs()
        .enable_h264(true)
        .enable_h265(h265)
        .build(Instant::now());
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let local = socket.local_addr()?;
    rtc.add_local_candidate(Candidate::host(local, "udp")?);
    let mut change = rtc.sdp_api();
    change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
    let (offer, pending) = change.apply().context("an offer")?;
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/cameras/{camera}/whep?token={token}"))
        .header("content-type", "application/sdp")
        .body(offer.to_sdp_string())
        .send()
        .await?;
    if answer.status() != 201 {
        bail!(
            "WHEP answered {}: {}",
            answer.status(),
            answer.text().await?
        );
    }
    let answer = SdpAnswer::from_sdp_string(&answer.text().await?)?;
    rtc.sdp_api().accept_answer(pending, answer)?;
    let mut buf = vec![0u8; 2000];
    loop {
        let timeout = match rtc.poll_output()? {
            Output::Transmit(t) => {
                socket.send_to(&t.contents, t.destination).await?;
                continue;
            }
            Output::Event(Event::MediaData(data)) => {
                got.frames.fetch_add(1, Ordering::Relaxed);
                if data.params.spec().codec == str0m::format::Codec::H265 {
                    got.h265.fetch_add(1, Ordering::Relaxed);
                }
                if !data.contiguous {
                    got.gaps.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            Output::Event(_) => continue,
            Output::Timeout(t) => t,
        };
        let wait = timeout.saturating_duration_since(Instant::now());
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            received = tokio::time::timeout(wait, socket.recv_from(&mut buf)) => {
                let input = match received {
                    Ok(Ok((n, source))) => Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: local,
                            contents: buf[..n].try_into()?,
                        },
                    ),
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => Input::Timeout(Instant::now()),
                };
                rtc.handle_input(input)?;
            }
        }
    }
}

/// Watches `camera` over the MSE WebSocket at `base` until `stop` turns true.
pub async fn mse(
    base: String,
    camera: String,
    token: String,
    stop: watch::Receiver<bool>,
    got: Arc<Received>,
) -> anyhow::Result<()> {
    let mut stop = stop;
    let url = format!(
        "{}/api/v1/cameras/{camera}/live.mp4?token={token}",
        base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let mut last: Option<u64> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            message = ws.next() => {
                let Some(message) = message else { bail!("the node closed the socket") };
                let message = message?;
                if !message.is_binary() {
                    continue;
                }
                let data = message.into_data();
                // Fragments (not the init section) carry their sequence number in `mfhd`.
                if let Some(at) = data.windows(4).position(|w| w == b"mfhd") {
                    let seq = data
                        .get(at + 8..at + 12)
                        .and_then(|b| b.try_into().ok())
                        .map(u32::from_be_bytes);
                    if let Some(seq) = seq.map(u64::from) {
                        if last.is_some_and(|l| seq != l + 1) {
                            got.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        last = Some(seq);
                    }
                    got.frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
