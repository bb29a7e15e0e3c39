//! Media: the MPEG-TS muxer, the segment recorder, the GStreamer pipelines, the keyframe sampler
//! and the H.264 bitstream helpers. Pure media code: no actors, no store. It may import only
//! `metrics`; within it, `pipeline` imports the others and none imports `pipeline` but `sampler`
//! (for its error type).

pub mod h264;
pub mod pipeline;
pub mod recorder;
pub mod sampler;
pub mod tsmux;
