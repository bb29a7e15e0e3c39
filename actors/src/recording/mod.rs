//! Recording: the tenant and camera actors, the segmenter that indexes what a camera records,
//! retention, and the sweep of footage a crash left without an index row. It imports media, the
//! store and the node context.

pub mod camera;
pub mod orphans;
pub mod retention;
pub mod segmenter;
pub mod tenant;
