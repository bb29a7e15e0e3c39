//! Trimming a scanned segment to an export's range. Nothing is re-encoded, so the video starts at
//! the last keyframe at or before the range's start (a player needs it to decode the first frame
//! in the range) and ends with the last frame that starts before the range's end; the audio keeps
//! the frames over the same span. The kept samples' runs are cut out of the segment's runs, so the
//! export copies only their bytes.

use crate::media::export_mp4::{ExportSample, SampleRun, ScannedSegment, ticks};

/// Each sample's decode time from `start`, in its timescale.
fn times(samples: &[ExportSample], start: u64) -> Vec<u64> {
    let mut at = start;
    samples
        .iter()
        .map(|s| {
            let t = at;
            at += u64::from(s.duration);
            t
        })
        .collect()
}

/// The runs of a track's samples `keep` (indices into the track), cut out of `runs` (the track's
/// runs in file order, covering its samples in order).
fn cut_runs(
    runs: &[SampleRun],
    samples: &[ExportSample],
    keep: std::ops::Range<usize>,
) -> Vec<SampleRun> {
    let mut cut = Vec::new();
    let mut first = 0usize;
    for run in runs {
        let count = run.samples as usize;
        let (from, to) = (first.max(keep.start), (first + count).min(keep.end));
        if from < to {
            let size = |r: std::ops::Range<usize>| {
                samples[r].iter().map(|s| u64::from(s.size)).sum::<u64>()
            };
            cut.push(SampleRun {
                offset: run.offset + size(first..from),
                len: size(from..to),
                samples: u32::try_from(to - from).unwrap_or(u32::MAX),
                audio: run.audio,
            });
        }
        first += count;
    }
    cut
}

impl ScannedSegment {
    /// Keeps what falls between `from` and `to`, in microseconds since the segment's first frame
    /// (see the module docs). Returns how many microseconds after the segment's first frame the
    /// kept video starts, or `None` when nothing of the segment is in the range.
    pub fn trim(&mut self, from: i64, to: i64) -> Option<i64> {
        let video = &self.video;
        let at = times(&video.samples, 0);
        let (from_t, to_t) = (ticks(from, video.timescale), ticks(to, video.timescale));
        let first = (0..at.len())
            .rev()
            .find(|&i| video.samples[i].sync && at[i] <= from_t)
            .unwrap_or(0);
        let end = at.iter().take_while(|&&t| t < to_t).count();
        let ends_at = at.last().zip(video.samples.last());
        let ends_at = ends_at.map_or(0, |(t, s)| t + u64::from(s.duration));
        if first >= end || from_t >= ends_at {
            return None;
        }
        let skipped = at[first];
        let skipped_micros =
            i64::try_from(u128::from(skipped) * 1_000_000 / u128::from(video.timescale.max(1)))
                .unwrap_or(i64::MAX);
        let (video_runs, audio_runs): (Vec<SampleRun>, Vec<SampleRun>) =
            self.runs.iter().partition(|r| !r.audio);
        let mut runs = cut_runs(&video_runs, &video.samples, first..end);
        self.video.samples = self.video.samples[first..end].to_vec();
        if let Some(audio) = self.audio.as_mut() {
            let at = times(&audio.samples, audio.start);
            let (from_t, to_t) = (
                ticks(skipped_micros, audio.timescale),
                ticks(to, audio.timescale),
            );
            let first = at.iter().take_while(|&&t| t < from_t).count();
            let end = at.iter().take_while(|&&t| t < to_t).count();
            if first < end {
                runs.extend(cut_runs(&audio_runs, &audio.samples, first..end));
                audio.start = at[first] - from_t.min(at[first]);
                audio.samples = audio.samples[first..end].to_vec();
            } else {
                self.audio = None;
            }
        }
        runs.sort_by_key(|r| r.offset);
        self.runs = runs;
        Some(skipped_micros)
    }
}

#[cfg(test)]
mod tests {
    use crate::media::export_mp4::scan_segment;
    use crate::media::export_test_segments::{segment, segment_with_audio};

    #[test]
    fn video_is_cut_at_keyframes_before_the_start_and_frames_before_the_end() {
        // Two fragments of two 40 ms frames, keyframes at 0 and 80 ms.
        let (k, p) = ([0u8, 0, 0, 2, 0x65, 1], [0u8, 0, 0, 2, 0x41, 2]);
        let file = segment(&[&k, &p, &k, &p], &[0, 2]);
        let whole = scan_segment(&file).expect("scan");
        // From 100 ms: back to the keyframe at 80 ms; to 200 ms: the rest.
        let mut cut = whole.clone();
        assert_eq!(cut.trim(100_000, 200_000), Some(80_000));
        assert_eq!(cut.video.samples.len(), 2);
        assert_eq!(cut.runs.len(), 1);
        assert_eq!(cut.runs[0].offset, whole.runs[1].offset);
        // From 0 to 50 ms: the first two frames (the second starts at 40 ms).
        let mut cut = whole.clone();
        assert_eq!(cut.trim(-5_000_000, 50_000), Some(0));
        assert_eq!(cut.video.samples.len(), 2);
        assert_eq!(cut.runs.len(), 1);
        assert_eq!(cut.runs[0].len, whole.runs[0].len);
        // From 0 to 20 ms: the first frame alone, a run cut short.
        let mut cut = whole.clone();
        assert_eq!(cut.trim(0, 20_000), Some(0));
        assert_eq!(cut.runs[0].len, 6);
        // A range after the segment, or one that ends before it starts, keeps nothing.
        assert_eq!(whole.clone().trim(10_000_000, 11_000_000), None);
        assert_eq!(whole.clone().trim(-2_000_000, 0), None);
    }

    #[test]
    fn audio_keeps_the_frames_over_the_kept_video() {
        // Video: frames at 0, 40, 80 and 120 ms, keyframes at 0 and 80 ms. Audio: 20 ms Opus
        // frames at 0, 20, 40 and 60 ms, two in each fragment.
        let file = segment_with_audio(0);
        let whole = scan_segment(&file).expect("scan");
        assert_eq!(whole.audio.as_ref().expect("audio").samples.len(), 4);
        // To 50 ms: two video frames and the audio frames that start before 50 ms, the second
        // fragment's run cut after its first frame.
        let mut cut = whole.clone();
        assert_eq!(cut.trim(0, 50_000), Some(0));
        assert_eq!(cut.video.samples.len(), 2);
        let audio = cut.audio.as_ref().expect("audio kept");
        assert_eq!((audio.samples.len(), audio.start), (3, 0));
        let audio_runs: Vec<_> = cut.runs.iter().filter(|r| r.audio).collect();
        assert_eq!(audio_runs.len(), 2);
        assert_eq!(audio_runs[1].samples, 1);
        assert!(cut.runs.windows(2).all(|w| w[0].offset < w[1].offset));
        // From 80 ms: the video from its keyframe there; no audio is left that late.
        let mut cut = whole.clone();
        assert_eq!(cut.trim(80_000, 200_000), Some(80_000));
        assert!(cut.audio.is_none());
        assert!(cut.runs.iter().all(|r| !r.audio));
    }
}
