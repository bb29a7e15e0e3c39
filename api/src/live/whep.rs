//! `WhepSession`: one live viewer over WebRTC (WHEP), an actix actor that owns a str0m `Rtc`
//! (sans-IO) and its UDP socket. The node is ICE-lite with one host candidate; media starts at the
//! newest keyframe once the browser connects, each access unit written as Annex B (parameter sets
//! in front of keyframes) and packetised by str0m. The RTP playout-delay extension asks the
//! browser to show frames as soon as they decode, so the first group of pictures does not hold
//! the picture behind live.

use crate::error::ApiError;
use crate::live::ViewerSlot;
use crate::live::gate::{self, FeedItem, FrameGate};
use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, SpawnHandle, StreamHandler,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::format::Codec;
use str0m::media::{MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use uuid::Uuid;
use vms_messages::{CameraId, LiveFeed, LiveTrack};

/// A session whose browser has not connected by then is closed.
const CONNECT_WITHIN: Duration = Duration::from_secs(30);
/// The RTP header extension id offered for playout delay when the browser's offer has none.
const PLAYOUT_DELAY_EXT: u8 = 12;

static CRYPTO: LazyLock<Arc<CryptoProvider>> =
    LazyLock::new(|| Arc::new(str0m::crypto::from_feature_flags()));

/// Open sessions: id → (camera, actor).
type OpenSessions = HashMap<Uuid, (CameraId, Addr<WhepSession>)>;

/// Open WebRTC sessions by id, for `DELETE` on their URL.
#[derive(Clone, Default)]
pub(crate) struct WhepSessions {
    open: Arc<Mutex<OpenSessions>>,
}

impl WhepSessions {
    /// Ends session `id` of `camera`; false when there is none.
    pub(crate) fn close(&self, camera: CameraId, id: Uuid) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        match open.get(&id) {
            Some((c, addr)) if *c == camera => {
                addr.do_send(Stop);
                true
            }
            _ => false,
        }
    }

    fn insert(&self, id: Uuid, camera: CameraId, addr: Addr<WhepSession>) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.insert(id, (camera, addr));
    }

    fn remove(&self, id: Uuid) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.remove(&id);
    }
}

/// What the browser gets back: the session's id (for its URL) and the SDP answer.
pub(crate) struct Answer {
    /// The session's id.
    pub(crate) id: Uuid,
    /// The SDP answer.
    pub(crate) sdp: String,
}

/// The payload types negotiated for video, by codec.
#[derive(Clone, Copy, Debug)]
struct VideoPts {
    mid: Mid,
    h264: Option<Pt>,
    h265: Option<Pt>,
}

impl VideoPts {
    fn for_track(&self, track: &LiveTrack) -> Option<Pt> {
        if track.h265 { self.h265 } else { self.h264 }
    }
}

/// Accepts the browser's SDP `offer` for `camera`'s `feed`, with a host candidate on `address`,
/// and starts the session's actor. A malformed offer, one without video, or one without the
/// camera's codec is a 400 naming `sdp`.
pub(crate) async fn open(
    sessions: &WhepSessions,
    camera: CameraId,
    offer: &str,
    address: IpAddr,
    feed: LiveFeed,
    slot: ViewerSlot,
) -> Result<Answer, ApiError> {
    let offer = SdpOffer::from_sdp_string(offer)
        .map_err(|e| ApiError::invalid("sdp", format!("not an SDP offer: {e}")))?;
    let camera_h265 = feed.gop.first().map(|f| f.track.h265);
    let mut config = RtcConfig::new()
        .set_crypto_provider(Arc::clone(&CRYPTO))
        .set_ice_lite(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_h265(camera_h265 != Some(false));
    config
        .extension_map()
        .set(PLAYOUT_DELAY_EXT, Extension::PlayoutDelay);
    let mut rtc = config.build(Instant::now());
    let socket = UdpSocket::bind(SocketAddr::new(address, 0))
        .await
        .map_err(|e| {
            tracing::warn!(%address, error = %e, "cannot open a UDP socket for WebRTC");
            ApiError::unavailable(format!("cannot open a UDP socket on {address} for WebRTC"))
        })?;
    let local = socket.local_addr().map_err(|_| ApiError::internal())?;
    let candidate = Candidate::host(local, "udp").map_err(|e| {
        ApiError::unavailable(format!(
            "{address} cannot be offered to WebRTC viewers: {e}"
        ))
    })?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| ApiError::invalid("sdp", format!("the offer cannot be answered: {e}")))?;
    let answer = answer.to_sdp_string();
    let video = video_pts(&mut rtc, &answer)?;
    if let Some(h265) = camera_h265 {
        let codec = if h265 { "H.265" } else { "H.264" };
        if (h265 && video.h265.is_none()) || (!h265 && video.h264.is_none()) {
            return Err(ApiError::invalid(
                "sdp",
                format!("the camera sends {codec}, which the offer does not receive"),
            ));
        }
    }
    let id = Uuid::now_v7();
    let session = WhepSession {
        rtc,
        socket: Arc::new(socket),
        local,
        video,
        feed: Some(feed),
        gate: FrameGate::new(slot.labels().clone()),
        timer: None,
        slot,
        id,
        sessions: sessions.clone(),
        lost_sends: 0,
    };
    let addr = session.start();
    sessions.insert(id, camera, addr);
    Ok(Answer { id, sdp: answer })
}

/// The video media of an accepted offer (the first `m=video` of the answer; str0m announces
/// media only once connected) and its H.264 (packetization mode 1) and H.265 payload types.
fn video_pts(rtc: &mut Rtc, answer: &str) -> Result<VideoPts, ApiError> {
    let no_video = || {
        ApiError::invalid(
            "sdp",
            "the offer receives no H.264 (packetization-mode 1) or H.265 video",
        )
    };
    let mid = video_mid(answer).ok_or_else(no_video)?;
    let writer = rtc.writer(mid).ok_or_else(no_video)?;
    let mut pts = VideoPts {
        mid,
        h264: None,
        h265: None,
    };
    for p in writer.payload_params() {
        let spec = p.spec();
        match spec.codec {
            Codec::H264 if spec.format.packetization_mode == Some(1) => {
                pts.h264 = pts.h264.or(Some(p.pt()));
            }
            Codec::H265 => pts.h265 = pts.h265.or(Some(p.pt())),
            _ => {}
        }
    }
    if pts.h264.is_none() && pts.h265.is_none() {
        return Err(no_video());
    }
    Ok(pts)
}

/// The `a=mid` of the first video section of an SDP.
fn video_mid(sdp: &str) -> Option<Mid> {
    let mut in_video = false;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            in_video = media.starts_with("video ");
        } else if in_video && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(Mid::from(mid.trim()));
        }
    }
    None
}

/// Ends a session (its `DELETE`).
#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

/// One WebRTC viewer; see the module docs.
pub(crate) struct WhepSession {
    rtc: Rtc,
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    video: VideoPts,
    /// The camera's feed until the browser connects.
    feed: Option<LiveFeed>,
    gate: FrameGate,
    timer: Option<SpawnHandle>,
    slot: ViewerSlot,
    id: Uuid,
    sessions: WhepSessions,
    lost_sends: u64,
}

impl WhepSession {
    /// Runs str0m until it waits: sends what it has to send, handles its events, and sets the
    /// timer for its next deadline.
    fn drive(&mut self, ctx: &mut Context<Self>) {
        loop {
            let output = match self.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::debug!(session = %self.id, error = %e, "WebRTC session failed");
                    ctx.stop();
                    return;
                }
            };
            match output {
                Output::Transmit(t) => {
                    if self.socket.try_send_to(&t.contents, t.destination).is_err() {
                        self.lost_sends += 1;
                    }
                }
                Output::Event(Event::Connected) => {
                    if let Some(mut feed) = self.feed.take() {
                        gate::catch_up(&mut feed);
                        ctx.add_stream(gate::stream(feed));
                    }
                }
                Output::Event(
                    Event::Closed
                    | Event::IceConnectionStateChange(IceConnectionState::Disconnected),
                ) => {
                    ctx.stop();
                    return;
                }
                Output::Event(_) => {}
                Output::Timeout(at) => {
                    if let Some(timer) = self.timer.take() {
                        ctx.cancel_future(timer);
                    }
                    let wait = at.saturating_duration_since(Instant::now());
                    self.timer = Some(ctx.run_later(wait, |act, ctx| {
                        act.timer = None;
                        if act
                            .rtc
                            .handle_input(Input::Timeout(Instant::now()))
                            .is_err()
                        {
                            ctx.stop();
                            return;
                        }
                        act.drive(ctx);
                    }));
                    return;
                }
            }
        }
    }
}

impl Actor for WhepSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let socket = Arc::clone(&self.socket);
        ctx.add_stream(Box::pin(futures_util::stream::unfold(
            socket,
            |socket| async move {
                let mut buf = vec![0u8; 2000];
                loop {
                    match socket.recv_from(&mut buf).await {
                        Ok((n, from)) => {
                            buf.truncate(n);
                            return Some(((buf, from), socket));
                        }
                        // An ICMP error from an earlier send; the socket still works.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                        Err(_) => return None,
                    }
                }
            },
        )));
        ctx.run_later(CONNECT_WITHIN, |act, ctx| {
            if act.feed.is_some() {
                tracing::debug!(session = %act.id, "WebRTC viewer did not connect; closed");
                ctx.stop();
            }
        });
        self.drive(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        self.rtc.disconnect();
        self.sessions.remove(self.id);
        if self.lost_sends > 0 {
            tracing::debug!(session = %self.id, lost = self.lost_sends, "WebRTC packets not sent");
        }
    }
}

impl StreamHandler<(Vec<u8>, SocketAddr)> for WhepSession {
    fn handle(&mut self, (datagram, source): (Vec<u8>, SocketAddr), ctx: &mut Self::Context) {
        let Ok(contents) = datagram.as_slice().try_into() else {
            return;
        };
        let input = Input::Receive(
            Instant::now(),
            Receive {
                proto: Protocol::Udp,
                source,
                destination: self.local,
                contents,
            },
        );
        if self.rtc.accepts(&input) && self.rtc.handle_input(input).is_ok() {
            self.drive(ctx);
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl StreamHandler<FeedItem> for WhepSession {
    fn handle(&mut self, item: FeedItem, ctx: &mut Self::Context) {
        let Some(frame) = self.gate.admit(item) else {
            return;
        };
        let Some(pt) = self.video.for_track(&frame.track) else {
            tracing::debug!(session = %self.id, "the browser does not receive the camera's codec");
            ctx.stop();
            return;
        };
        let mut payload = Vec::with_capacity(frame.annex_b.len() + 64);
        if frame.keyframe {
            payload.extend_from_slice(&frame.track.parameter_sets);
        }
        payload.extend_from_slice(&frame.annex_b);
        let size = payload.len();
        let Some(writer) = self.rtc.writer(self.video.mid) else {
            ctx.stop();
            return;
        };
        let written = writer
            .playout_delay(MediaTime::from_millis(0), MediaTime::from_millis(0))
            .write(
                pt,
                Instant::now(),
                MediaTime::from_90khz(frame.time_90k),
                payload,
            );
        if let Err(e) = written {
            tracing::debug!(session = %self.id, error = %e, "frame not written to WebRTC");
            return;
        }
        self.slot.labels().sent(size);
        self.drive(ctx);
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<Stop> for WhepSession {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The offer of Debian's Chromium 156 for one receive-only video transceiver.
    const CHROMIUM_OFFER: &str = include_str!("testdata/chromium_recvonly_offer.sdp");

    #[test]
    fn chromiums_offer_is_answered_with_h264() {
        let offer = SdpOffer::from_sdp_string(CHROMIUM_OFFER).expect("parses");
        let mut rtc = RtcConfig::new()
            .set_crypto_provider(Arc::clone(&CRYPTO))
            .set_ice_lite(true)
            .clear_codecs()
            .enable_h264(true)
            .build(Instant::now());
        let local = "127.0.0.1:40000".parse().expect("address");
        rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
        let answer = rtc.sdp_api().accept_offer(offer).expect("answered");
        let pts = video_pts(&mut rtc, &answer.to_sdp_string()).expect("video");
        assert!(pts.h264.is_some());
    }
}
