//! The fragmented MP4 muxer on the recorded clip: 6 s of H.264 become an init section and six 1 s
//! fragments, which GStreamer's MP4 demuxer and decoder play frame for frame, with the clip's
//! timing; each fragment is one buffer whose `trun` points at its own `mdat`.

mod fixture;

use fixture::{FRAME_NS, access_units, clip, decoded_frames, has_idr};
use mp4_atom::{Any, Decode, Moof};
use vms_actors::{
    Sample, VIDEO_TIMESCALE, VideoCodec, VideoTrack, annex_b_units, append_length_prefixed,
    avc_record, fragment, init_segment,
};

#[test]
fn a_recorded_clip_becomes_one_second_fragments_that_play_frame_for_frame() -> anyhow::Result<()> {
    let frame_ticks = u32::try_from(FRAME_NS * u64::from(VIDEO_TIMESCALE) / 1_000_000_000)?;
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
    // Length-prefixed access units without their delimiters and parameter sets.
    let samples: Vec<(Vec<u8>, bool)> = units
        .iter()
        .map(|unit| {
            let keyframe = has_idr(unit);
            let mut data = Vec::new();
            append_length_prefixed(
                &mut data,
                annex_b_units(unit)
                    .into_iter()
                    .filter(|n| !matches!(n[0] & 0x1f, 7..=9)),
            );
            (data, keyframe)
        })
        .collect();
    let mut file = init_segment(&track)?;
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
