//! Media: the MPEG-TS muxer, the fragmented MP4 (CMAF) muxer and segment writer, RTSP ingest
//! through retina, the segment recorder, the GStreamer pipelines, the keyframe sampler
//! and the H.264 bitstream helpers. Pure media code: no actors, no store. It may import only
//! `metrics`; within it, `pipeline` imports the others and none imports `pipeline` but `sampler`
//! (for its error type).

pub(crate) mod fmp4;
pub(crate) mod fmp4_scan;
pub(crate) mod fragmenter;
pub(crate) mod h264;
pub(crate) mod pipeline;
pub(crate) mod recorder;
pub(crate) mod rtsp;
pub(crate) mod sampler;
pub(crate) mod tsmux;
