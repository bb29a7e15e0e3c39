//! Media: RTSP ingest through retina, the fragmented MP4 (CMAF) muxer and segment writer, reading
//! segment files back (fMP4, and MPEG-TS from ingest v1), the keyframe sampler and NAL unit framing.
//! Pure media code: no actors, no store. It may import only `metrics`.

pub(crate) mod audio_queue;
pub(crate) mod export_mp4;
#[cfg(test)]
pub(crate) mod export_test_segments;
pub(crate) mod export_trim;
pub(crate) mod fmp4;
pub(crate) mod fmp4_audio;
pub(crate) mod fmp4_scan;
pub(crate) mod fmp4_trak;
pub(crate) mod fragmenter;
pub(crate) mod ingest;
pub(crate) mod layout;
pub(crate) mod live;
pub(crate) mod mirror;
pub(crate) mod nal;
pub(crate) mod opus;
pub(crate) mod recovery;
pub(crate) mod rtsp;
pub(crate) mod rtsp_audio;
pub(crate) mod sampler;
pub(crate) mod snapshot;
pub(crate) mod tls_relay;
pub(crate) mod ts_scan;
pub(crate) mod vod;
