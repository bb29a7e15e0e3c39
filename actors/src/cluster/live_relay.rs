//! Live video of a camera relayed from the node that records it, so that any node serves live
//! view ([`NodeRpcMsg::ReadLive`]). The relaying node pulls: it asks the owner for the frames after
//! the last one it has, and the owner answers at once with what its hub holds after that (the
//! current group of pictures at most), or waits up to [`WAIT`] for the next frame. Pulling keeps
//! the link's queue bounded (one request in flight per camera) and the latency at one round trip.
//! The relay publishes into its own hub's channel for the camera, which its viewers subscribe to
//! as to a local one, and stops when no viewer has watched for [`IDLE`], when the camera comes to
//! this node, or when the owner stops answering.

use crate::cluster::links::{NodeRpcMsg, link_to};
use crate::media::live::{LiveChannel, LiveHub};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;
use vms_messages::{
    CameraId, LiveAudio, LiveAudioCodec, LiveAudioTrack, LiveFeed, LiveFrame, LiveTrack,
};

/// Longest an owner holds a request waiting for the camera's next frame.
const WAIT: Duration = Duration::from_millis(1000);
/// Longest a request waits for its answer.
const CALL_MS: u64 = 3000;
/// A relay nobody watches stops after this long.
const IDLE: Duration = Duration::from_secs(10);
/// Failed requests in a row after which the relay gives up (its viewers see the feed end).
const MAX_FAILURES: u32 = 5;
/// Most frame bytes one answer carries (a link message holds at most 16 MiB).
const MAX_ANSWER: usize = 8 << 20;

/// Subscribes to `camera`'s live video recorded by `owner`, starting the relay if none runs.
pub fn subscribe(hub: &Arc<LiveHub>, camera: CameraId, owner: String) -> LiveFeed {
    let (channel, made) = hub.relay_channel(camera);
    let feed = channel.subscribe();
    if made {
        tokio::spawn(run(Arc::clone(hub), channel, camera, owner));
    }
    feed
}

async fn run(hub: Arc<LiveHub>, channel: Arc<LiveChannel>, camera: CameraId, owner: String) {
    tracing::debug!(%camera, %owner, "relaying live video");
    let (mut after, mut track, mut failures) = (0u64, None::<Arc<LiveTrack>>, 0);
    let mut watched = Instant::now();
    while hub.is_current(camera, &channel) {
        if channel.viewers() > 0 {
            watched = Instant::now();
        } else if watched.elapsed() > IDLE {
            break;
        }
        match fetch(&owner, camera, after).await {
            Ok(batch) => {
                failures = 0;
                let Some((answer_track, frames)) = decode(&batch, track.as_ref()) else {
                    continue;
                };
                track = Some(Arc::clone(&answer_track));
                for frame in frames {
                    after = frame.time_90k;
                    channel.publish(frame);
                }
            }
            Err(why) => {
                failures += 1;
                tracing::debug!(%camera, %owner, %why, "live relay request failed");
                if failures >= MAX_FAILURES {
                    tracing::info!(%camera, %owner, %why, "live relay stopped");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    hub.remove_channel(camera, &channel);
}

async fn fetch(owner: &str, camera: CameraId, after: u64) -> Result<Vec<u8>, String> {
    let actor = link_to(owner).ok_or_else(|| format!("no link to node {owner}"))?;
    let mut request = camera.0.as_bytes().to_vec();
    request.extend_from_slice(&after.to_be_bytes());
    let answer = ractor::call_t!(actor, NodeRpcMsg::ReadLive, CALL_MS, request)
        .map_err(|e| format!("node {owner}: {e}"))?;
    match answer.split_first() {
        Some((0, body)) => Ok(body.to_vec()),
        Some((_, why)) => Err(String::from_utf8_lossy(why).into_owned()),
        None => Err("empty answer".into()),
    }
}

/// Answers a peer's request for a camera's frames after a time: `0` and the frames, or `1` and
/// why not.
pub async fn answer(hub: &LiveHub, request: &[u8]) -> Vec<u8> {
    match frames_after(hub, request).await {
        Ok(body) => [&[0u8][..], &body].concat(),
        Err(why) => [&[1u8][..], why.as_bytes()].concat(),
    }
}

async fn frames_after(hub: &LiveHub, request: &[u8]) -> Result<Vec<u8>, String> {
    let (Some(id), Some(after)) = (request.get(..16), request.get(16..24)) else {
        return Err("malformed live request".into());
    };
    let camera = CameraId(Uuid::from_slice(id).map_err(|e| e.to_string())?);
    let after = u64::from_be_bytes(after.try_into().map_err(|_| "malformed live request")?);
    let channel = hub
        .recorded(camera)
        .ok_or_else(|| format!("camera {camera} is not recorded on this node"))?;
    let mut feed = channel.subscribe();
    let mut frames: Vec<LiveFrame> = feed
        .gop
        .into_iter()
        .filter(|f| f.time_90k > after)
        .collect();
    if frames.is_empty() {
        match tokio::time::timeout(WAIT, feed.frames.recv()).await {
            Ok(Ok(frame)) => frames.push(frame),
            Ok(Err(RecvError::Lagged(_))) | Err(_) => {}
            Ok(Err(RecvError::Closed)) => return Err(format!("camera {camera} stopped")),
        }
        while let Ok(frame) = feed.frames.try_recv() {
            frames.push(frame);
        }
    }
    Ok(encode(&frames))
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The frames of one track, from the first, at most [`MAX_ANSWER`] bytes of them.
fn encode(frames: &[LiveFrame]) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(first) = frames.first() else {
        return out;
    };
    let t = &first.track;
    put(&mut out, t.codec.as_bytes());
    out.push(u8::from(t.h265));
    out.extend_from_slice(&t.width.to_be_bytes());
    out.extend_from_slice(&t.height.to_be_bytes());
    put(&mut out, &t.init);
    put(&mut out, &t.parameter_sets);
    match &t.audio {
        None => out.push(0),
        Some(a) => {
            out.push(match a.codec {
                LiveAudioCodec::Opus => 1,
                LiveAudioCodec::Pcmu => 2,
                LiveAudioCodec::Pcma => 3,
                LiveAudioCodec::Aac => 4,
            });
            put(&mut out, a.rfc6381.as_bytes());
            out.extend_from_slice(&a.sample_rate.to_be_bytes());
            out.extend_from_slice(&u32::from(a.channels).to_be_bytes());
            out.push(u8::from(a.in_fmp4));
        }
    }
    for f in frames.iter().take_while(|f| Arc::ptr_eq(&f.track, t)) {
        let audio: usize = f.audio.iter().map(|a| a.data.len() + 16).sum();
        if out.len() + f.annex_b.len() + f.fragment.len() + audio > MAX_ANSWER {
            break;
        }
        out.extend_from_slice(&f.time_90k.to_be_bytes());
        out.push(u8::from(f.keyframe));
        out.extend_from_slice(&f.received.timestamp_micros().to_be_bytes());
        put(&mut out, &f.annex_b);
        put(&mut out, &f.fragment);
        out.extend_from_slice(&u32::try_from(f.audio.len()).unwrap_or(0).to_be_bytes());
        for a in f.audio.iter() {
            out.extend_from_slice(&a.time.to_be_bytes());
            out.extend_from_slice(&a.duration.to_be_bytes());
            put(&mut out, &a.data);
        }
    }
    out
}

/// A track's audio as [`encode`] wrote it.
fn decode_audio(r: &mut Reader<'_>) -> Option<Option<LiveAudioTrack>> {
    let codec = match r.take(1)?[0] {
        0 => return Some(None),
        1 => LiveAudioCodec::Opus,
        2 => LiveAudioCodec::Pcmu,
        3 => LiveAudioCodec::Pcma,
        4 => LiveAudioCodec::Aac,
        _ => return None,
    };
    Some(Some(LiveAudioTrack {
        codec,
        rfc6381: String::from_utf8(r.bytes()?.to_vec()).ok()?,
        sample_rate: r.u32()?,
        channels: u16::try_from(r.u32()?).ok()?,
        in_fmp4: r.take(1)?[0] == 1,
    }))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
}

/// The track and frames of an answer; the track is `current` when it is the same, so viewers
/// see no change. `None` for an empty or malformed answer.
fn decode(
    body: &[u8],
    current: Option<&Arc<LiveTrack>>,
) -> Option<(Arc<LiveTrack>, Vec<LiveFrame>)> {
    let mut r = Reader(body);
    let codec = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    let h265 = r.take(1)?[0] == 1;
    let (width, height) = (r.u32()?, r.u32()?);
    let track = LiveTrack {
        codec,
        h265,
        width,
        height,
        init: Bytes::copy_from_slice(r.bytes()?),
        parameter_sets: Bytes::copy_from_slice(r.bytes()?),
        audio: decode_audio(&mut r)?,
    };
    let track = match current {
        Some(c) if **c == track => Arc::clone(c),
        _ => Arc::new(track),
    };
    let mut frames = Vec::new();
    while !r.0.is_empty() {
        let time_90k = r.u64()?;
        let keyframe = r.take(1)?[0] == 1;
        let received = i64::try_from(r.u64()?).ok()?;
        let annex_b = Bytes::copy_from_slice(r.bytes()?);
        let fragment = Bytes::copy_from_slice(r.bytes()?);
        let count = r.u32()?;
        let mut audio = Vec::new();
        for _ in 0..count {
            audio.push(LiveAudio {
                time: r.u64()?,
                duration: r.u32()?,
                data: Bytes::copy_from_slice(r.bytes()?),
            });
        }
        frames.push(LiveFrame {
            track: Arc::clone(&track),
            time_90k,
            keyframe,
            received: DateTime::<Utc>::from_timestamp_micros(received).unwrap_or_else(Utc::now),
            annex_b,
            fragment,
            audio: audio.into(),
            rtp_payloads: Default::default(),
        });
    }
    Some((track, frames))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(track: &Arc<LiveTrack>, t: u64, keyframe: bool) -> LiveFrame {
        LiveFrame {
            track: Arc::clone(track),
            annex_b: Bytes::from_static(&[0, 0, 0, 1, 0x65, 1]),
            fragment: Bytes::from_static(b"moof...mdat"),
            audio: vec![LiveAudio {
                data: Bytes::from_static(b"opus"),
                time: t * 48_000 / 90_000,
                duration: 960,
            }]
            .into(),
            keyframe,
            time_90k: t,
            received: DateTime::<Utc>::from_timestamp_micros(1_700_000_000_000_000)
                .unwrap_or_else(Utc::now),
            rtp_payloads: Default::default(),
        }
    }

    #[test]
    fn frames_cross_the_link_as_they_were_and_keep_their_track() {
        let track = Arc::new(LiveTrack {
            codec: "avc1.42c01e".into(),
            h265: false,
            width: 320,
            height: 240,
            init: Bytes::from_static(b"ftyp...moov"),
            parameter_sets: Bytes::from_static(&[0, 0, 0, 1, 0x67]),
            audio: Some(LiveAudioTrack {
                codec: LiveAudioCodec::Opus,
                rfc6381: "opus".into(),
                sample_rate: 48_000,
                channels: 1,
                in_fmp4: true,
            }),
        });
        let other = Arc::new(LiveTrack {
            width: 640,
            ..(*track).clone()
        });
        let sent = [
            frame(&track, 10, true),
            frame(&track, 20, false),
            frame(&other, 30, true),
        ];
        let body = encode(&sent);
        let (got_track, got) = decode(&body, None).expect("decodes");
        assert_eq!(*got_track, *track);
        assert_eq!(got.len(), 2, "one track per answer");
        assert_eq!((got[1].time_90k, got[1].keyframe), (20, false));
        assert_eq!(got[0].annex_b, sent[0].annex_b);
        assert_eq!(got[1].audio, sent[1].audio);
        assert_eq!(got[0].received, sent[0].received);
        let (same, _) = decode(&body, Some(&track)).expect("decodes");
        assert!(
            Arc::ptr_eq(&same, &track),
            "an unchanged track stays the same track"
        );
        assert!(
            decode(&body[..body.len() - 3], None).is_none(),
            "a cut answer is refused"
        );
        assert!(decode(&[], None).is_none());
    }
}
