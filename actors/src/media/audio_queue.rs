//! Audio frames waiting for the fragment they belong in. Audio and video have clocks of their own
//! that start apart; the session's first audio frame is placed on the video's clock by its arrival
//! (`align`), the audio clock runs on from there, and a frame belongs to the fragment whose video
//! span holds its start, compared on the video's 90 kHz clock.

use crate::media::fmp4::VIDEO_TIMESCALE;
use std::collections::VecDeque;

/// Frames held at most while no video comes to write them (about 20 s of AAC at 48 kHz).
const MAX_FRAMES: usize = 1000;

/// One audio frame as the camera sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioFrame {
    /// The coded frame.
    pub data: Vec<u8>,
    /// Its start since the session began, in the track's clock.
    pub at: u64,
    /// Its duration in the track's clock.
    pub duration: u32,
}

/// Audio frames of one track in arrival order; see the module docs.
#[derive(Debug)]
pub struct AudioQueue {
    rate: u64,
    frames: VecDeque<AudioFrame>,
    /// Added to the audio clock to put it on the video's (in this track's clock), once known.
    offset: Option<i64>,
}

impl AudioQueue {
    /// An empty queue for a track of `rate` samples a second.
    pub fn new(rate: u32) -> Self {
        Self {
            rate: u64::from(rate.max(1)),
            frames: VecDeque::new(),
            offset: None,
        }
    }

    /// The audio time `at` on the video's clock (in this track's clock). The first frame of a
    /// session, arriving when the video's clock stood at `video_now` (90 kHz), sets the offset.
    pub fn align(&mut self, at: u64, video_now: u64) -> u64 {
        let now = i64::try_from(self.of_video(video_now)).unwrap_or(i64::MAX);
        let offset = *self
            .offset
            .get_or_insert_with(|| now.saturating_sub(i64::try_from(at).unwrap_or(i64::MAX)));
        at.saturating_add_signed(offset)
    }

    /// A new session: its clocks start anew, and what was queued is dropped.
    pub fn restart(&mut self) {
        self.offset = None;
        self.frames.clear();
    }

    /// Samples a second of the track.
    pub fn rate(&self) -> u32 {
        u32::try_from(self.rate).unwrap_or(u32::MAX)
    }

    /// A time of the video's clock in this track's clock.
    pub fn of_video(&self, video: u64) -> u64 {
        u64::try_from(u128::from(video) * u128::from(self.rate) / u128::from(VIDEO_TIMESCALE))
            .unwrap_or(u64::MAX)
    }

    /// Queues a frame; the oldest goes when the queue is full (video stalled).
    pub fn push(&mut self, frame: AudioFrame) {
        if self.frames.len() >= MAX_FRAMES {
            self.frames.pop_front();
        }
        self.frames.push_back(frame);
    }

    /// Drops the frames that start before `at` (this track's clock): nothing before a segment's
    /// first keyframe is recorded.
    pub fn drop_before(&mut self, at: u64) {
        while self.frames.front().is_some_and(|f| f.at < at) {
            self.frames.pop_front();
        }
    }

    /// Takes the frames that start before `end` (this track's clock), in order.
    pub fn take_before(&mut self, end: u64) -> Vec<AudioFrame> {
        let n = self.frames.iter().take_while(|f| f.at < end).count();
        self.frames.drain(..n).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(at: u64) -> AudioFrame {
        AudioFrame {
            data: vec![1],
            at,
            duration: 1024,
        }
    }

    #[test]
    fn frames_go_to_the_fragment_holding_their_start() {
        let mut q = AudioQueue::new(48_000);
        assert_eq!(q.of_video(90_000), 48_000, "one second");
        for i in 0..100 {
            q.push(frame(i * 1024));
        }
        q.drop_before(q.of_video(45_000));
        let first = q.take_before(q.of_video(135_000));
        assert_eq!(first.first().map(|f| f.at), Some(24 * 1024));
        assert!(first.iter().all(|f| f.at < 72_000));
        assert_eq!(q.take_before(0), Vec::new());
    }

    #[test]
    fn the_first_frame_puts_the_audio_clock_on_the_videos() {
        let mut q = AudioQueue::new(8000);
        // The audio clock reads 100 when the video's reads 2 s (16 000 at 8 kHz).
        assert_eq!(q.align(100, 180_000), 16_000);
        assert_eq!(q.align(260, 999_999), 16_160, "the offset holds");
        q.restart();
        assert_eq!(q.align(0, 90_000), 8000, "a new session aligns anew");
    }

    #[test]
    fn a_stalled_video_bounds_the_queue() {
        let mut q = AudioQueue::new(8000);
        for i in 0..(MAX_FRAMES as u64 + 10) {
            q.push(frame(i));
        }
        assert_eq!(q.take_before(u64::MAX).len(), MAX_FRAMES);
    }
}
