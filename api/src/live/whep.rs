//! `WhepSession`: one live viewer over WebRTC (WHEP), an actix actor that owns a str0m `Rtc`
//! (sans-IO) and its UDP socket. The node is ICE-lite with one host candidate; media starts at the
//! newest keyframe once the browser connects, parameter sets in front of keyframes.
//!
//! H.264 goes in str0m's RTP mode: each frame is cut into RTP payloads once, for every viewer of
//! the camera (`rtp.rs`). H.265 goes in frame mode, packetised by str0m for each viewer. The
//! camera's audio goes as it came, Opus or G.711 (PCMU, PCMA), when the offer receives audio in
//! that codec (AAC has no WebRTC payload: its viewers get video only over WebRTC, and audio over
//! MSE or LL-HLS). The RTP playout-delay extension asks the browser to show frames as soon as they
//! decode, so the first group of pictures does not hold the picture behind live.

use crate::error::ApiError;
use crate::live::ViewerSlot;
use crate::live::gate::{self, FeedItem, FrameGate};
use crate::live::rtp::{RtpSender, access_unit};
use crate::live::udp::UdpLink;
use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, SpawnHandle, StreamHandler,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::format::{Codec, PayloadParams};
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use uuid::Uuid;
use vms_messages::{CameraId, LiveAudioCodec, LiveAudioTrack, LiveFeed, LiveFrame, LiveTrack};

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

/// The payload types negotiated for audio, by codec (none when the offer receives no audio).
#[derive(Clone, Copy, Debug, Default)]
struct AudioPts {
    mid: Option<Mid>,
    opus: Option<Pt>,
    pcmu: Option<Pt>,
    pcma: Option<Pt>,
}

impl AudioPts {
    /// Where and how `audio` goes, and its RTP clock; `None` when it cannot go.
    fn for_track(&self, audio: &LiveAudioTrack) -> Option<(Mid, Pt, Frequency)> {
        let pt = match audio.codec {
            LiveAudioCodec::Opus => self.opus,
            LiveAudioCodec::Pcmu => self.pcmu,
            LiveAudioCodec::Pcma => self.pcma,
            LiveAudioCodec::Aac => None,
        }?;
        Some((self.mid?, pt, Frequency::new(audio.sample_rate)?))
    }
}

/// Where a session listens and how it sends.
pub(crate) struct Endpoint {
    /// The host candidate's address.
    pub(crate) address: IpAddr,
    /// Whether each frame's packets leave in one system call (`live.udp_gso`).
    pub(crate) gso: bool,
}

/// Accepts the browser's SDP `offer` for `camera`'s `feed`, with a host candidate at `endpoint`,
/// and starts the session's actor. A malformed offer, one without video, or one without the
/// camera's codec is a 400 naming `sdp`.
pub(crate) async fn open(
    sessions: &WhepSessions,
    camera: CameraId,
    offer: &str,
    endpoint: Endpoint,
    feed: LiveFeed,
    slot: ViewerSlot,
) -> Result<Answer, ApiError> {
    let address = endpoint.address;
    let offer = SdpOffer::from_sdp_string(offer)
        .map_err(|e| ApiError::invalid("sdp", format!("not an SDP offer: {e}")))?;
    let camera_h265 = feed.gop.first().map(|f| f.track.h265);
    // The camera's audio codec when it is known; before its first keyframe, any it may send.
    let audio = feed
        .gop
        .first()
        .map(|f| f.track.audio.as_ref().map(|a| a.codec));
    let may_send = |codec| audio.is_none_or(|a| a == Some(codec));
    // H.264 frames are cut into RTP packets once for all viewers (`rtp.rs`); H.265 (and a camera
    // whose codec is not known yet) goes through str0m's own packetiser.
    let rtp_mode = camera_h265 == Some(false);
    let mut config = RtcConfig::new()
        .set_crypto_provider(Arc::clone(&CRYPTO))
        .set_ice_lite(true)
        .set_rtp_mode(rtp_mode)
        .clear_codecs()
        .enable_h264(true)
        .enable_h265(camera_h265 != Some(false))
        .enable_opus(may_send(LiveAudioCodec::Opus), false)
        .enable_pcmu(may_send(LiveAudioCodec::Pcmu), false)
        .enable_pcma(may_send(LiveAudioCodec::Pcma), false);
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
    let udp = UdpLink::new(socket, endpoint.gso).map_err(|e| {
        tracing::warn!(%address, error = %e, "cannot set up a UDP socket for WebRTC");
        ApiError::unavailable(format!(
            "cannot set up a UDP socket on {address} for WebRTC"
        ))
    })?;
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
    let video = video_pts(&rtc, &answer)?;
    let audio = audio_pts(&rtc, &answer);
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
        udp,
        local,
        video,
        audio,
        feed: Some(feed),
        gate: FrameGate::new(slot.labels().clone()),
        timer: None,
        slot,
        id,
        sessions: sessions.clone(),
        lost_sends: 0,
        rtp: rtp_mode.then(RtpSender::new),
    };
    let addr = session.start();
    sessions.insert(id, camera, addr);
    Ok(Answer { id, sdp: answer })
}

/// The video media of an accepted offer (the first `m=video` of the answer; str0m announces
/// media only once connected) and its H.264 (packetization mode 1) and H.265 payload types.
fn video_pts(rtc: &Rtc, answer: &str) -> Result<VideoPts, ApiError> {
    let no_video = || {
        ApiError::invalid(
            "sdp",
            "the offer receives no H.264 (packetization-mode 1) or H.265 video",
        )
    };
    let mid = video_mid(answer).ok_or_else(no_video)?;
    let mut pts = VideoPts {
        mid,
        h264: None,
        h265: None,
    };
    for p in agreed_params(rtc, mid).ok_or_else(no_video)? {
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

/// The audio media of an accepted offer (the first `m=audio` the answer accepts) and its Opus,
/// PCMU and PCMA payload types; none when the offer receives no audio the camera may send.
fn audio_pts(rtc: &Rtc, answer: &str) -> AudioPts {
    let mut pts = AudioPts::default();
    let Some(mid) = media_mid(answer, "audio") else {
        return pts;
    };
    let Some(params) = agreed_params(rtc, mid) else {
        return pts;
    };
    for p in params {
        match p.spec().codec {
            Codec::Opus => pts.opus = pts.opus.or(Some(p.pt())),
            Codec::PCMU => pts.pcmu = pts.pcmu.or(Some(p.pt())),
            Codec::PCMA => pts.pcma = pts.pcma.or(Some(p.pt())),
            _ => {}
        }
    }
    pts.mid = Some(mid);
    pts
}

/// The payload parameters the answer agreed for `mid` (what str0m's `Writer::payload_params`
/// lists; RTP mode has no writer); `None` when there is no such media.
fn agreed_params(rtc: &Rtc, mid: Mid) -> Option<Vec<PayloadParams>> {
    let remote = rtc.media(mid)?.remote_pts();
    let params = rtc.codec_config().params().iter();
    Some(
        params
            .filter(|p| remote.contains(&p.pt()))
            .cloned()
            .collect(),
    )
}

/// The `a=mid` of the first video section of an SDP.
fn video_mid(sdp: &str) -> Option<Mid> {
    media_mid(sdp, "video")
}

/// The `a=mid` of the first section of `kind` (`video`, `audio`) of an SDP that is not rejected
/// (port 0).
fn media_mid(sdp: &str, kind: &str) -> Option<Mid> {
    let mut in_kind = false;
    for line in sdp.lines() {
        if let Some(media) = line.strip_prefix("m=") {
            let mut words = media.split_whitespace();
            in_kind = words.next() == Some(kind) && words.next() != Some("0");
        } else if in_kind && let Some(mid) = line.strip_prefix("a=mid:") {
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
    udp: UdpLink,
    local: SocketAddr,
    video: VideoPts,
    audio: AudioPts,
    /// The camera's feed until the browser connects.
    feed: Option<LiveFeed>,
    gate: FrameGate,
    timer: Option<SpawnHandle>,
    slot: ViewerSlot,
    id: Uuid,
    sessions: WhepSessions,
    lost_sends: u64,
    /// In RTP mode (H.264), the viewer's own sequence numbers for the shared payloads.
    rtp: Option<RtpSender>,
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
            if !matches!(output, Output::Transmit(_)) {
                self.lost_sends += self.udp.flush();
            }
            match output {
                Output::Transmit(t) => {
                    self.lost_sends += self.udp.send(t.destination, &t.contents);
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
        ctx.add_stream(Box::pin(self.udp.datagrams()));
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
        if self.rtp.is_some() && frame.track.h265 {
            // The camera switched to H.265 under an RTP-mode session, which cannot cut H.265: it
            // ends, and a new session runs in frame mode.
            tracing::debug!(session = %self.id, "the camera changed to H.265; session closed");
            ctx.stop();
            return;
        }
        let audio = frame
            .track
            .audio
            .as_ref()
            .and_then(|a| self.audio.for_track(a));
        let written = match &mut self.rtp {
            Some(sender) => rtp_write(sender, &mut self.rtc, (self.video.mid, pt), audio, &frame),
            None => frame_write(&mut self.rtc, (self.video.mid, pt), audio, &frame),
        };
        match written {
            Ok(size) => self.slot.labels().sent(size),
            Err(e) => {
                tracing::debug!(session = %self.id, error = %e, "frame not written to WebRTC");
                if !self.rtc.is_alive() {
                    ctx.stop();
                }
                return;
            }
        }
        self.drive(ctx);
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// Where and how a frame's audio goes: its media, payload type and RTP clock.
type AudioRoute = Option<(Mid, Pt, Frequency)>;

/// Writes `frame` (and its audio when `audio` routes it) in RTP mode: the shared payloads under
/// this viewer's sequence numbers. Returns the payload bytes written.
fn rtp_write(
    sender: &mut RtpSender,
    rtc: &mut Rtc,
    video: (Mid, Pt),
    audio: AudioRoute,
    frame: &LiveFrame,
) -> Result<usize, String> {
    let mut size = sender.write_video(rtc, video, frame)?;
    if let Some((mid, pt, _)) = audio {
        size += sender.write_audio(rtc, (mid, pt), &frame.audio)?;
    }
    Ok(size)
}

/// Writes `frame` (and its audio when `audio` routes it) in frame mode: str0m cuts it into
/// packets (H.265, or a camera whose codec was not known when the session opened).
fn frame_write(
    rtc: &mut Rtc,
    (mid, pt): (Mid, Pt),
    audio: AudioRoute,
    frame: &LiveFrame,
) -> Result<usize, String> {
    let payload = access_unit(frame);
    let mut size = payload.len();
    let writer = rtc.writer(mid).ok_or("the session is closed")?;
    writer
        .playout_delay(MediaTime::from_millis(0), MediaTime::from_millis(0))
        .write(
            pt,
            Instant::now(),
            MediaTime::from_90khz(frame.time_90k),
            payload,
        )
        .map_err(|e| e.to_string())?;
    if let Some((mid, pt, rate)) = audio {
        for a in frame.audio.iter() {
            let writer = rtc.writer(mid).ok_or("the session is closed")?;
            let time = MediaTime::new(a.time, rate);
            writer
                .write(pt, Instant::now(), time, &a.data[..])
                .map_err(|e| format!("audio: {e}"))?;
            size += a.data.len();
        }
    }
    Ok(size)
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
        let pts = video_pts(&rtc, &answer.to_sdp_string()).expect("video");
        assert!(pts.h264.is_some());
    }
}
