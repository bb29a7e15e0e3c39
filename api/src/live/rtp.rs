//! WebRTC in RTP mode: a frame's H.264 RTP payloads (RFC 6184: single NAL units, STAP-A for the
//! parameter sets, FU-A for the rest) are cut once per frame, by the first viewer that needs them,
//! and every viewer of the camera sends the same payloads under its own sequence numbers. In
//! frame mode str0m cut each frame again for every viewer: that scan for start codes was the
//! largest single cost of a WebRTC viewer (`docs/benchmarks.md`).
//!
//! H.265 has no packetiser str0m exports, so H.265 viewers stay in frame mode.

use std::sync::Arc;
use std::time::Instant;
use str0m::Rtc;
use str0m::media::{MediaTime, Mid, Pt};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo};
use str0m::unversioned::{H264Packetizer, Packetizer};
use vms_messages::{LiveAudio, LiveFrame, RtpPayloads};

/// The most payload bytes in one packet: what str0m's frame mode uses for its default datagram
/// size (1150 bytes, less the SRTP tag, rounded down to the SRTP block size).
pub(crate) const PAYLOAD_MTU: usize = 1120;

/// The H.264 RTP payloads of `frame` (parameter sets in front of a keyframe), cut on first use.
pub(crate) fn h264_payloads(frame: &LiveFrame) -> RtpPayloads {
    Arc::clone(frame.rtp_payloads.get_or_init(|| cut_h264(frame)))
}

/// `frame`'s access unit as WebRTC packetisers take it: Annex B, the track's parameter sets in
/// front of a keyframe.
pub(crate) fn access_unit(frame: &LiveFrame) -> Vec<u8> {
    let mut unit = Vec::with_capacity(frame.annex_b.len() + frame.track.parameter_sets.len());
    if frame.keyframe {
        unit.extend_from_slice(&frame.track.parameter_sets);
    }
    unit.extend_from_slice(&frame.annex_b);
    unit
}

/// Cuts `frame`'s access unit into RTP payloads; none when it cannot be cut.
fn cut_h264(frame: &LiveFrame) -> RtpPayloads {
    match H264Packetizer::default().packetize(PAYLOAD_MTU, &access_unit(frame)) {
        Ok(packets) => packets.into_iter().map(Arc::from).collect(),
        Err(e) => {
            tracing::debug!(error = %e, "a live frame cannot be cut into RTP packets");
            Arc::new([])
        }
    }
}

/// One viewer's outgoing RTP streams: their next sequence numbers.
pub(crate) struct RtpSender {
    video_seq: u64,
    audio_seq: u64,
}

impl RtpSender {
    /// Streams that start at random sequence numbers (RFC 3550), below the first rollover.
    pub(crate) fn new() -> Self {
        Self {
            video_seq: u64::from(rand::random::<u16>() & 0x7fff),
            audio_seq: u64::from(rand::random::<u16>() & 0x7fff),
        }
    }

    /// Writes `frame`'s video to `mid` as `pt`, asking the browser to show it at once (the
    /// playout-delay extension); returns the payload bytes written, or why nothing was.
    pub(crate) fn write_video(
        &mut self,
        rtc: &mut Rtc,
        (mid, pt): (Mid, Pt),
        frame: &LiveFrame,
    ) -> Result<usize, &'static str> {
        let payloads = h264_payloads(frame);
        if payloads.is_empty() {
            return Err("the frame has no RTP payloads");
        }
        let mut api = rtc.direct_api();
        let stream = api
            .stream_tx_by_mid(mid, None)
            .ok_or("no video stream to send on")?;
        let ext = ExtensionValues {
            play_delay_min: Some(MediaTime::from_millis(0)),
            play_delay_max: Some(MediaTime::from_millis(0)),
            ..Default::default()
        };
        // RTP time is the low 32 bits of the 90 kHz clock, as str0m's frame mode writes it.
        let time = frame.time_90k as u32;
        let now = Instant::now();
        let mut bytes = 0;
        for (i, payload) in payloads.iter().enumerate() {
            bytes += payload.len();
            let write = RtpWrite::new(pt, self.next_video(), time, now, Arc::clone(payload))
                .marker(i + 1 == payloads.len())
                .nackable(true)
                .ext_vals(ext.clone());
            stream.write_rtp(write);
        }
        Ok(bytes)
    }

    /// Writes `audio` (Opus or G.711, one packet per frame as the camera sent it) to `mid` as
    /// `pt`; returns the payload bytes written.
    pub(crate) fn write_audio(
        &mut self,
        rtc: &mut Rtc,
        (mid, pt): (Mid, Pt),
        audio: &[LiveAudio],
    ) -> Result<usize, &'static str> {
        let mut api = rtc.direct_api();
        let stream = api
            .stream_tx_by_mid(mid, None)
            .ok_or("no audio stream to send on")?;
        let now = Instant::now();
        let mut bytes = 0;
        for frame in audio {
            bytes += frame.data.len();
            // The RTP clock of Opus and G.711 is their sample rate, the unit of `time`.
            let seq = self.next_audio();
            stream.write_rtp(RtpWrite::new(
                pt,
                seq,
                frame.time as u32,
                now,
                &frame.data[..],
            ));
        }
        Ok(bytes)
    }

    fn next_video(&mut self) -> SeqNo {
        self.video_seq += 1;
        self.video_seq.into()
    }

    fn next_audio(&mut self) -> SeqNo {
        self.audio_seq += 1;
        self.audio_seq.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::gate::test_frames;
    use bytes::Bytes;
    use str0m::unversioned::{Depacketizer, H264Depacketizer};

    #[test]
    fn a_frame_is_cut_once_and_its_payloads_shared() {
        let mut track = (*test_frames::track()).clone();
        track.parameter_sets =
            Bytes::from_static(&[0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 0, 1, 0x68, 4]);
        let mut frame = test_frames::frame(&Arc::new(track), 9_000, true, Bytes::new());
        // An IDR slice longer than a packet, so it is cut into FU-A fragments.
        let mut annex_b = vec![0, 0, 0, 1, 0x65];
        annex_b.extend((0..3000u32).map(|i| (i % 251) as u8 + 1));
        frame.annex_b = annex_b.into();
        let other_viewer = frame.clone();
        let first = h264_payloads(&frame);
        let second = h264_payloads(&other_viewer);
        assert!(Arc::ptr_eq(&first, &second), "cut twice");
        assert!(first.len() >= 3, "{} payloads", first.len());
        assert!(first.iter().all(|p| p.len() <= PAYLOAD_MTU));
        // They decode back to the parameter sets and the slice.
        let mut out = Vec::new();
        let mut depacketizer = H264Depacketizer::default();
        let mut extra = str0m::format::CodecExtra::None;
        for p in first.iter() {
            depacketizer
                .depacketize(p, &mut out, &mut extra)
                .expect("depacketized");
        }
        let mut expected = frame.track.parameter_sets.to_vec();
        expected.extend_from_slice(&frame.annex_b);
        assert_eq!(out, expected);
    }

    #[test]
    fn sequence_numbers_start_below_the_first_rollover_and_count_up() {
        let mut sender = RtpSender::new();
        let first = sender.next_video();
        assert!(*first < 0x8001);
        assert_eq!(*sender.next_video(), *first + 1);
        assert!(*sender.next_audio() < 0x8001);
    }
}
