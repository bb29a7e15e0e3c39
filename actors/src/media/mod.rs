//! Media: the MPEG-TS muxer, the segment recorder, the GStreamer pipelines and the keyframe
//! sampler. Pure media code: no actors, no store. It may import only `metrics`.

pub mod pipeline;
pub mod recorder;
pub mod sampler;
pub mod tsmux;
