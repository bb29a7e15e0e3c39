//! Recording: the tenant and camera actors, the segmenter that indexes what a camera records,
//! retention, and the sweep of footage a crash left without an index row. It imports media, the
//! store, the node context and the base modules (ownership among them); analytics reaches it only
//! through the traits of `analysis`.

pub mod analysis;
pub mod camera;
pub mod orphans;
pub mod retention;
pub mod segmenter;
pub mod tenant;
