//! The live hub: each camera this node records publishes its access units here as they arrive,
//! and viewers subscribe. Each frame is muxed once, as a one-sample fMP4 fragment, for every
//! viewer; the channel to viewers is bounded ([`LIVE_QUEUE`]), and the hub keeps the current group
//! of pictures so that a new viewer starts from the latest keyframe at once.

use crate::media::fmp4::{self, Fmp4Error, Sample, TrackRun, VIDEO_TRACK, VideoTrack};
use crate::media::fmp4_audio::{AUDIO_TRACK, AudioCodec, AudioTrack};
use crate::media::nal;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;
use vms_messages::{
    CameraId, LiveAudio, LiveAudioCodec, LiveAudioTrack, LiveFeed, LiveFrame, LiveTrack,
};

/// Frames a viewer may be behind before it loses them (about 5 s at 25 fps).
pub const LIVE_QUEUE: usize = 128;
/// The longest group of pictures kept for new viewers (a camera sending no keyframe for this many
/// frames starts its viewers at its next one).
const MAX_GOP_FRAMES: usize = 750;
/// Audio frames held for the next video frame at most (a stalled video drops the oldest).
const MAX_PENDING_AUDIO: usize = 256;

/// Every camera's live channel on this node.
#[derive(Default)]
pub struct LiveHub {
    cameras: Mutex<HashMap<CameraId, Arc<LiveChannel>>>,
}

impl LiveHub {
    /// The channel of `camera`, recorded here, made on first use (it replaces a channel relayed
    /// from another node: the camera moved here).
    pub fn channel(&self, camera: CameraId) -> Arc<LiveChannel> {
        let mut cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        let channel = cameras
            .entry(camera)
            .and_modify(|c| {
                if c.relayed {
                    *c = LiveChannel::new(false);
                }
            })
            .or_insert_with(|| LiveChannel::new(false));
        Arc::clone(channel)
    }

    /// A subscription to `camera`'s live video, when this node records it (its recorder opened
    /// the channel) or relays it; `None` otherwise.
    pub fn subscribe(&self, camera: CameraId) -> Option<LiveFeed> {
        let cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        cameras.get(&camera).map(|c| c.subscribe())
    }

    /// The channel of `camera` relayed from the node that records it, and whether it was made
    /// now (whoever made it starts the relay). A channel recorded here is returned as it is.
    pub fn relay_channel(&self, camera: CameraId) -> (Arc<LiveChannel>, bool) {
        let mut cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        let mut made = false;
        let channel = cameras.entry(camera).or_insert_with(|| {
            made = true;
            LiveChannel::new(true)
        });
        (Arc::clone(channel), made)
    }

    /// Whether `channel` is still `camera`'s (a relay stops when it is not).
    pub fn is_current(&self, camera: CameraId, channel: &Arc<LiveChannel>) -> bool {
        let cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        cameras
            .get(&camera)
            .is_some_and(|c| Arc::ptr_eq(c, channel))
    }

    /// Forgets `channel` if it is still `camera`'s; its viewers see their feed end.
    pub fn remove_channel(&self, camera: CameraId, channel: &Arc<LiveChannel>) {
        let mut cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        if cameras
            .get(&camera)
            .is_some_and(|c| Arc::ptr_eq(c, channel))
        {
            cameras.remove(&camera);
        }
    }

    /// `camera`'s channel recorded here, if there is one (a peer's relay reads it).
    pub fn recorded(&self, camera: CameraId) -> Option<Arc<LiveChannel>> {
        let cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        cameras.get(&camera).filter(|c| !c.relayed).cloned()
    }

    /// Forgets `camera`'s recorded channel (it no longer records here); its viewers see their
    /// feed end.
    pub fn remove(&self, camera: CameraId) {
        let mut cameras = self.cameras.lock().unwrap_or_else(PoisonError::into_inner);
        if cameras.get(&camera).is_some_and(|c| !c.relayed) {
            cameras.remove(&camera);
        }
    }
}

/// One camera's live video: a bounded broadcast and the current group of pictures.
pub struct LiveChannel {
    frames: broadcast::Sender<LiveFrame>,
    gop: Mutex<Vec<LiveFrame>>,
    /// Fed by a relay from the node that records the camera, not by a recorder here.
    relayed: bool,
}

impl LiveChannel {
    fn new(relayed: bool) -> Arc<Self> {
        Arc::new(Self {
            frames: broadcast::channel(LIVE_QUEUE).0,
            gop: Mutex::default(),
            relayed,
        })
    }

    /// Sends `frame` to every viewer and keeps it for new ones (a keyframe starts a new group).
    pub fn publish(&self, frame: LiveFrame) {
        let mut gop = self.gop.lock().unwrap_or_else(PoisonError::into_inner);
        if frame.keyframe || gop.len() >= MAX_GOP_FRAMES {
            gop.clear();
        }
        if frame.keyframe || !gop.is_empty() {
            gop.push(frame.clone());
        }
        // No viewer is not an error.
        let _ = self.frames.send(frame);
    }

    /// The camera stopped: new viewers wait for its next keyframe.
    pub fn pause(&self) {
        self.gop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The current group of pictures and every frame after it.
    pub fn subscribe(&self) -> LiveFeed {
        // Under the lock `publish` holds, so no frame falls between the two or comes twice.
        let gop = self.gop.lock().unwrap_or_else(PoisonError::into_inner);
        LiveFeed {
            gop: gop.clone(),
            frames: self.frames.subscribe(),
        }
    }

    /// Viewers subscribed now.
    pub fn viewers(&self) -> usize {
        self.frames.receiver_count()
    }
}

/// What a recorder keeps to publish its frames: the channel, the track as viewers get it, and the
/// audio frames waiting for the next video frame.
pub struct LivePublisher {
    channel: Arc<LiveChannel>,
    track: Option<Arc<LiveTrack>>,
    sequence: u32,
    audio: Vec<LiveAudio>,
}

/// How live view carries a recorded audio track.
fn live_audio(audio: &AudioTrack) -> LiveAudioTrack {
    let codec = match audio.codec {
        AudioCodec::Opus => LiveAudioCodec::Opus,
        AudioCodec::Pcmu => LiveAudioCodec::Pcmu,
        AudioCodec::Pcma => LiveAudioCodec::Pcma,
        AudioCodec::Aac(_) => LiveAudioCodec::Aac,
    };
    LiveAudioTrack {
        codec,
        rfc6381: audio.rfc6381(),
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        in_fmp4: matches!(codec, LiveAudioCodec::Opus | LiveAudioCodec::Aac),
    }
}

impl LivePublisher {
    /// Publishes on `channel`.
    pub fn new(channel: Arc<LiveChannel>) -> Self {
        Self {
            channel,
            track: None,
            sequence: 0,
            audio: Vec::new(),
        }
    }

    /// The camera's tracks are now `track` and `audio`.
    pub fn set_track(
        &mut self,
        track: &VideoTrack,
        audio: Option<&AudioTrack>,
    ) -> Result<(), Fmp4Error> {
        let live_audio = audio.map(live_audio);
        let fmp4_audio = audio.filter(|_| live_audio.as_ref().is_some_and(|a| a.in_fmp4));
        let live = LiveTrack {
            codec: track.rfc6381(),
            h265: track.codec_name() == "h265",
            width: u32::from(track.width),
            height: u32::from(track.height),
            init: fmp4::init_segment(track, fmp4_audio)?.into(),
            parameter_sets: nal::parameter_sets(&track.codec)?.into(),
            audio: live_audio,
        };
        self.track = Some(Arc::new(live));
        self.audio.clear();
        Ok(())
    }

    /// Holds one audio frame (`time` in the audio track's clock since the epoch) for the next
    /// video frame.
    pub fn push_audio(&mut self, data: &[u8], time: u64, duration: u32) {
        if self.track.as_ref().is_none_or(|t| t.audio.is_none()) {
            return;
        }
        if self.audio.len() >= MAX_PENDING_AUDIO {
            self.audio.remove(0);
        }
        self.audio.push(LiveAudio {
            data: bytes::Bytes::copy_from_slice(data),
            time,
            duration,
        });
    }

    /// Publishes one access unit (length-prefixed NAL units) presented at `time_90k` (90 kHz
    /// ticks since the epoch) for `duration` ticks.
    pub fn publish(
        &mut self,
        units: &[u8],
        time_90k: u64,
        duration: u32,
        keyframe: bool,
        received: DateTime<Utc>,
    ) -> Result<(), Fmp4Error> {
        let Some(track) = &self.track else {
            return Ok(());
        };
        self.sequence = self.sequence.wrapping_add(1);
        let audio: Arc<[LiveAudio]> = std::mem::take(&mut self.audio).into();
        let sample = [Sample {
            data: units,
            duration,
            keyframe,
        }];
        let audio_samples: Vec<Sample<'_>> = if track.audio.as_ref().is_some_and(|a| a.in_fmp4) {
            audio
                .iter()
                .map(|a| Sample {
                    data: &a.data,
                    duration: a.duration,
                    keyframe: true,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut fragment = Vec::with_capacity(units.len() + 256);
        fmp4::append_fragment(
            &mut fragment,
            self.sequence,
            &[
                TrackRun {
                    track_id: VIDEO_TRACK,
                    base_decode_time: time_90k,
                    samples: &sample,
                },
                TrackRun {
                    track_id: AUDIO_TRACK,
                    base_decode_time: audio.first().map_or(0, |a| a.time),
                    samples: &audio_samples,
                },
            ],
        )?;
        let mut annex_b = Vec::with_capacity(units.len() + 16);
        nal::append_annex_b(&mut annex_b, units);
        self.channel.publish(LiveFrame {
            track: Arc::clone(track),
            annex_b: annex_b.into(),
            fragment: fragment.into(),
            audio,
            keyframe,
            time_90k,
            received,
            rtp_payloads: Default::default(),
        });
        Ok(())
    }

    /// The connection ended: new viewers wait for the next keyframe.
    pub fn pause(&self) {
        self.channel.pause();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::test_support::{SAMPLE, h264_track};

    fn publisher(hub: &LiveHub, camera: CameraId) -> LivePublisher {
        let mut p = LivePublisher::new(hub.channel(camera));
        p.set_track(&h264_track(320), None).expect("track");
        p
    }

    #[test]
    fn a_new_viewer_starts_from_the_latest_keyframe() {
        let hub = LiveHub::default();
        let camera = CameraId(uuid::Uuid::now_v7());
        assert!(hub.subscribe(CameraId(uuid::Uuid::now_v7())).is_none());
        let mut p = publisher(&hub, camera);
        let now = Utc::now();
        for (i, key) in [false, true, false, true, false, false]
            .into_iter()
            .enumerate()
        {
            p.publish(&SAMPLE, 3600 * i as u64, 3600, key, now)
                .expect("publish");
        }
        let mut feed = hub.subscribe(camera).expect("recorded here");
        let times: Vec<u64> = feed.gop.iter().map(|f| f.time_90k).collect();
        assert_eq!(times, [3 * 3600, 4 * 3600, 5 * 3600]);
        assert!(feed.gop[0].keyframe);
        p.publish(&SAMPLE, 6 * 3600, 3600, false, now)
            .expect("publish");
        let next = feed.frames.try_recv().expect("the next frame");
        assert_eq!(next.time_90k, 6 * 3600);
        assert!(
            next.fragment.windows(4).any(|w| w == b"moof"),
            "each frame is its own fragment"
        );
    }

    #[test]
    fn a_viewer_that_falls_behind_is_told_what_it_lost() {
        let hub = LiveHub::default();
        let camera = CameraId(uuid::Uuid::now_v7());
        let mut p = publisher(&hub, camera);
        let mut feed = hub.subscribe(camera).expect("recorded here");
        for i in 0..(LIVE_QUEUE as u64 + 10) {
            p.publish(&SAMPLE, i * 3600, 3600, i % 50 == 0, Utc::now())
                .expect("publish");
        }
        assert!(matches!(
            feed.frames.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(10))
        ));
        p.pause();
        assert!(hub.subscribe(camera).expect("still here").gop.is_empty());
    }
}
