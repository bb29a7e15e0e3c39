//! What a viewer sends of its feed: it starts at a keyframe, and after falling behind (the
//! bounded channel overran) it waits for the next keyframe rather than sending frames it cannot
//! decode.

use crate::live::metrics::{self, Labels};
use futures_util::Stream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use vms_messages::{LiveFeed, LiveFrame};

/// A feed's next item: a frame, or how many frames the viewer lost.
pub(crate) type FeedItem = Result<LiveFrame, RecvError>;

/// Decides, frame by frame, what a viewer sends; see the module docs.
pub(crate) struct FrameGate {
    waiting: bool,
    labels: Labels,
    /// Groups of pictures lost so far.
    pub(crate) dropped: u64,
}

impl FrameGate {
    /// A gate waiting for its first keyframe.
    pub(crate) fn new(labels: Labels) -> Self {
        Self {
            waiting: true,
            labels,
            dropped: 0,
        }
    }

    /// The frame to send, if any.
    pub(crate) fn admit(&mut self, item: FeedItem) -> Option<LiveFrame> {
        match item {
            Ok(frame) if self.waiting && !frame.keyframe => None,
            Ok(frame) => {
                self.waiting = false;
                Some(frame)
            }
            Err(RecvError::Lagged(_)) => {
                if !self.waiting {
                    self.dropped += 1;
                    metrics::DROPPED_GOPS
                        .with_label_values(&self.labels.as_slice())
                        .inc();
                }
                self.waiting = true;
                None
            }
            Err(RecvError::Closed) => None,
        }
    }
}

/// Brings `feed` up to now: what its channel holds is added to its group of pictures, and only
/// the newest group (from its last keyframe) is kept, so a viewer that took time to connect still
/// starts at the live edge.
pub(crate) fn catch_up(feed: &mut LiveFeed) {
    loop {
        match feed.frames.try_recv() {
            Ok(frame) => feed.gop.push(frame),
            Err(TryRecvError::Lagged(_)) => feed.gop.clear(),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    match feed.gop.iter().rposition(|f| f.keyframe) {
        Some(last) => {
            feed.gop.drain(..last);
        }
        None => feed.gop.clear(),
    }
}

/// The feed as a stream: its group of pictures, then each frame as it comes, ending when the
/// camera's channel closes.
pub(crate) fn stream(feed: LiveFeed) -> impl Stream<Item = FeedItem> + Unpin + 'static {
    use futures_util::StreamExt;
    let gop = futures_util::stream::iter(feed.gop.into_iter().map(Ok));
    let live = futures_util::stream::unfold(feed.frames, |mut frames| async move {
        match frames.recv().await {
            Err(RecvError::Closed) => None,
            item => Some((item, frames)),
        }
    });
    Box::pin(gop.chain(live))
}

/// Frames for tests.
#[cfg(test)]
pub(crate) mod test_frames {
    use bytes::Bytes;
    use std::sync::Arc;
    use vms_messages::{LiveFrame, LiveTrack};

    /// A 320x240 H.264 track.
    pub(crate) fn track() -> Arc<LiveTrack> {
        Arc::new(LiveTrack {
            codec: "avc1.42c01e".into(),
            h265: false,
            width: 320,
            height: 240,
            init: Bytes::new(),
            parameter_sets: Bytes::new(),
            audio: None,
        })
    }

    /// A frame of `track` at `time_90k`, its fragment `fragment`.
    pub(crate) fn frame(
        track: &Arc<LiveTrack>,
        time_90k: u64,
        keyframe: bool,
        fragment: Bytes,
    ) -> LiveFrame {
        LiveFrame {
            track: Arc::clone(track),
            annex_b: Bytes::new(),
            fragment,
            audio: Arc::new([]),
            keyframe,
            time_90k,
            received: chrono::Utc::now(),
            rtp_payloads: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use vms_messages::CameraId;

    fn frame(keyframe: bool, t: u64) -> LiveFrame {
        test_frames::frame(&test_frames::track(), t, keyframe, Bytes::new())
    }

    #[test]
    fn a_viewer_that_falls_behind_waits_for_the_next_keyframe() {
        let mut gate = FrameGate::new(Labels::new(CameraId(uuid::Uuid::now_v7()), "mse"));
        assert!(
            gate.admit(Ok(frame(false, 0))).is_none(),
            "not before a keyframe"
        );
        assert!(gate.admit(Ok(frame(true, 1))).is_some());
        assert!(gate.admit(Ok(frame(false, 2))).is_some());
        assert!(gate.admit(Err(RecvError::Lagged(40))).is_none());
        assert!(gate.admit(Ok(frame(false, 50))).is_none(), "undecodable");
        assert!(gate.admit(Ok(frame(true, 60))).is_some());
        assert_eq!(gate.dropped, 1);
    }

    #[test]
    fn catching_up_keeps_the_newest_group_of_pictures() {
        let (tx, frames) = tokio::sync::broadcast::channel(8);
        let mut feed = LiveFeed {
            gop: vec![frame(true, 0), frame(false, 1)],
            frames,
        };
        for (t, key) in [(2, false), (3, true), (4, false)] {
            tx.send(frame(key, t)).expect("send");
        }
        catch_up(&mut feed);
        let times: Vec<u64> = feed.gop.iter().map(|f| f.time_90k).collect();
        assert_eq!(times, [3, 4]);
    }
}
