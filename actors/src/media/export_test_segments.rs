//! Small fMP4 segments for the export tests.

use crate::media::fmp4::test_support::h264_track;
use crate::media::fmp4::{Sample, TrackRun, VIDEO_TRACK, append_fragment, fragment, init_segment};
use crate::media::fmp4_audio::{AUDIO_TRACK, AudioCodec, AudioTrack};

/// A segment of `frames` of 40 ms each, `keyframes` (indices) the sync ones, in two fragments:
/// the first two frames, then the rest.
pub(crate) fn segment(frames: &[&[u8]], keyframes: &[usize]) -> Vec<u8> {
    let samples: Vec<Sample<'_>> = frames
        .iter()
        .enumerate()
        .map(|(i, data)| Sample {
            data,
            duration: 3600,
            keyframe: keyframes.contains(&i),
        })
        .collect();
    let mut out = init_segment(&h264_track(320), None).expect("init");
    out.extend(fragment(1, 0, &samples[..2]).expect("fragment"));
    out.extend(fragment(2, 7200, &samples[2..]).expect("fragment"));
    out
}

/// A segment of two fragments of two frames, each fragment with two Opus frames (960 ticks of
/// 48 kHz each), the audio starting `audio_at` ticks into it.
pub(crate) fn segment_with_audio(audio_at: u64) -> Vec<u8> {
    let opus = AudioTrack {
        codec: AudioCodec::Opus,
        sample_rate: 48_000,
        channels: 1,
    };
    let mut out = init_segment(&h264_track(320), Some(&opus)).expect("init");
    let frame = [0u8, 0, 0, 2, 0x65, 1];
    let video = [0, 1].map(|i| Sample {
        data: &frame,
        duration: 3600,
        keyframe: i == 0,
    });
    let sound = [0xA0u8, 0xA1, 0xA2];
    let audio = [0, 1].map(|_| Sample {
        data: &sound,
        duration: 960,
        keyframe: true,
    });
    for (i, video_at) in [(0u32, 0u64), (1, 7200)] {
        let runs = [
            TrackRun {
                track_id: VIDEO_TRACK,
                base_decode_time: video_at,
                samples: &video,
            },
            TrackRun {
                track_id: AUDIO_TRACK,
                base_decode_time: audio_at + u64::from(i) * 1920,
                samples: &audio,
            },
        ];
        append_fragment(&mut out, i + 1, &runs).expect("fragment");
    }
    out
}
