//! The fragmented MP4 muxer and segment writer on the recorded clip: 6 s of H.264 become an init
//! section and 1 s fragments, which GStreamer's MP4 demuxer and decoder play frame for frame; each
//! fragment is one buffer whose `trun` points at its own `mdat`. The writer cuts segments on
//! keyframes, writes fragments shorter than a GOP, indexes their offsets, and a file cut after any
//! fragment (what a kill leaves) plays up to that fragment.

mod fixture;

use chrono::Utc;
use fixture::{FRAME_NS, access_units, clip, decoded_frames, has_idr};
use mp4_atom::{Any, Decode, Moof};
use std::time::Duration;
use vms_actors::{
    ClosedFragments, FragmentRecorder, Sample, SegmentLayout, VIDEO_TIMESCALE, VideoCodec,
    VideoTrack, annex_b_units, append_length_prefixed, avc_record, fragment, init_segment,
    scan_fragments,
};

/// 90 kHz ticks per frame of the clip.
fn frame_ticks() -> anyhow::Result<u32> {
    Ok(u32::try_from(
        FRAME_NS * u64::from(VIDEO_TIMESCALE) / 1_000_000_000,
    )?)
}

/// An access unit, length-prefixed, and whether it is a keyframe.
type ClipSample = (Vec<u8>, bool);

/// The clip's track, and its access units as samples: length-prefixed, without their delimiters and
/// parameter sets, each with whether it is a keyframe.
fn clip_samples() -> anyhow::Result<(VideoTrack, Vec<ClipSample>)> {
    let stream = clip()?;
    let units = access_units(&stream);
    let first = annex_b_units(units[0]);
    let nal = |kind: u8| {
        first
            .iter()
            .find(|u| u[0] & 0x1f == kind)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no NAL unit of type {kind} in the first access unit"))
    };
    let track = VideoTrack {
        codec: VideoCodec::H264(avc_record(nal(7)?, nal(8)?)?),
        width: 320,
        height: 240,
    };
    let samples = units
        .iter()
        .map(|unit| {
            let mut data = Vec::new();
            append_length_prefixed(
                &mut data,
                annex_b_units(unit)
                    .into_iter()
                    .filter(|n| !matches!(n[0] & 0x1f, 7..=9)),
            );
            (data, has_idr(unit))
        })
        .collect();
    Ok((track, samples))
}

/// Records the clip with `target` segments and `fragment` fragments.
fn record(
    target: Duration,
    fragment: Duration,
) -> anyhow::Result<(Vec<ClosedFragments>, std::path::PathBuf)> {
    let (track, samples) = clip_samples()?;
    let dir = std::env::temp_dir().join(format!("vms-cmaf-{}", uuid::Uuid::now_v7().simple()));
    let mut recorder = FragmentRecorder::new(
        SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        },
        target,
        fragment,
    );
    recorder.set_track(track, None)?;
    let start = Utc::now();
    let mut closed = Vec::new();
    for (i, (data, keyframe)) in samples.iter().enumerate() {
        let pts = u64::from(frame_ticks()?) * u64::try_from(i)?;
        closed.extend(recorder.push(data.clone(), pts, *keyframe, start)?);
    }
    closed.extend(recorder.finish()?);
    Ok((closed, dir))
}

#[test]
fn the_writer_cuts_segments_on_keyframes_in_durable_one_second_fragments() -> anyhow::Result<()> {
    let (closed, dir) = record(Duration::from_secs(2), Duration::from_secs(1))?;
    assert_eq!(closed.iter().map(|c| c.seq).collect::<Vec<_>>(), [1, 2, 3]);
    for (segment, next) in closed.iter().zip(closed.iter().skip(1)) {
        assert_eq!(segment.end, next.start, "segments abut");
    }
    for segment in &closed {
        let len = std::fs::metadata(&segment.path)?.len();
        let span = (segment.end - segment.start).num_milliseconds();
        assert!(
            (1990..=2010).contains(&span),
            "{} lasts {span} ms",
            segment.path.display()
        );
        // Two 1 s fragments, each on a keyframe (the clip's GOP is 1 s), back to back after the init.
        let starts: Vec<(u32, bool)> = segment
            .media
            .fragments
            .iter()
            .map(|f| (f.start_ms, f.keyframe))
            .collect();
        assert_eq!(
            starts,
            [(0, true), (1000, true)],
            "{:?}",
            segment.media.fragments
        );
        assert_eq!(
            segment.media.fragments[0].offset,
            segment.media.init_len.unwrap_or_default()
        );
        for pair in segment.media.fragments.windows(2) {
            assert_eq!(
                pair[0].offset + pair[0].len,
                pair[1].offset,
                "fragments are contiguous"
            );
        }
        let last = segment
            .media
            .fragments
            .last()
            .map_or(0, |f| f.offset + f.len);
        assert_eq!(last, len, "the index covers the whole file");
        let scanned = scan_fragments(&std::fs::read(&segment.path)?)
            .ok_or_else(|| anyhow::anyhow!("{} is not ours", segment.path.display()))?;
        assert_eq!(
            scanned.fragments, segment.media.fragments,
            "the file gives back the writer's index"
        );
        let span = i64::try_from(scanned.duration / 90)?;
        assert_eq!(span, (segment.end - segment.start).num_milliseconds());
        assert_eq!(
            decoded_frames(&segment.path, "qtdemux")?,
            50,
            "{} decodes",
            segment.path.display()
        );
    }
    // A kill after the first fragment leaves the init section and that fragment: it plays.
    let first = &closed[0];
    let cut = dir.join("cut.mp4");
    let bytes = std::fs::read(&first.path)?;
    let end = usize::try_from(first.media.fragments[0].offset + first.media.fragments[0].len)?;
    std::fs::write(&cut, &bytes[..end])?;
    assert_eq!(
        decoded_frames(&cut, "qtdemux")?,
        25,
        "the durable fragment plays"
    );
    // A kill mid-write leaves part of the next fragment: the scan keeps only the whole one.
    let torn = scan_fragments(&bytes[..end + 100])
        .ok_or_else(|| anyhow::anyhow!("the torn file is not ours"))?;
    assert_eq!(torn.fragments, first.media.fragments[..1]);
    assert_eq!(torn.len, u64::try_from(end)?);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[test]
fn fragments_shorter_than_a_gop_still_play() -> anyhow::Result<()> {
    let (closed, dir) = record(Duration::from_secs(2), Duration::from_millis(400))?;
    assert_eq!(closed.len(), 3);
    for segment in &closed {
        let keyframes: Vec<bool> = segment.media.fragments.iter().map(|f| f.keyframe).collect();
        assert_eq!(
            keyframes,
            [true, false, false, false, false],
            "10 frames each: {:?}",
            segment.media.fragments
        );
        assert_eq!(
            decoded_frames(&segment.path, "qtdemux")?,
            50,
            "{} decodes",
            segment.path.display()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[test]
fn a_recorded_clip_becomes_one_second_fragments_that_play_frame_for_frame() -> anyhow::Result<()> {
    let frame_ticks = frame_ticks()?;
    let (track, samples) = clip_samples()?;
    let mut file = init_segment(&track, None)?;
    let mut fragments = Vec::new();
    for (i, second) in samples.chunks(25).enumerate() {
        let run: Vec<Sample<'_>> = second
            .iter()
            .map(|(data, keyframe)| Sample {
                data,
                duration: frame_ticks,
                keyframe: *keyframe,
            })
            .collect();
        let base = u64::from(frame_ticks) * 25 * u64::try_from(i)?;
        let bytes = fragment(u32::try_from(i + 1)?, base, &run)?;
        fragments.push(bytes.clone());
        file.extend(bytes);
    }
    assert_eq!(fragments.len(), 6, "six 1 s fragments");

    // Each fragment is a moof and the mdat its samples are in, nothing else.
    for (i, bytes) in fragments.iter().enumerate() {
        let buf = &mut bytes.as_slice();
        let moof = Moof::decode(buf)?;
        assert_eq!(moof.mfhd.sequence_number, u32::try_from(i + 1)?);
        assert!(matches!(Any::decode(buf)?, Any::Mdat(_)), "mdat follows");
        assert!(buf.is_empty(), "fragment {i} holds nothing more");
    }

    let path = std::env::temp_dir().join(format!("vms-fmp4-{}.mp4", uuid::Uuid::now_v7().simple()));
    std::fs::write(&path, &file)?;
    let frames = decoded_frames(&path, "qtdemux");
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        frames?, 150,
        "every frame of the clip decodes from the fragments"
    );
    Ok(())
}
