//! Recording: the tenant and camera actors, the segmenter that indexes what a camera records,
//! retention, and the sweep of footage a crash left without an index row. It imports media, the
//! store, the node context and the base modules (ownership among them); analytics reaches it only
//! through the traits of `analysis`.

pub(crate) mod analysis;
pub(crate) mod camera;
pub(crate) mod export;
pub(crate) mod mirrored;
pub(crate) mod object_tier;
pub(crate) mod orphans;
pub(crate) mod retention;
pub(crate) mod segmenter;
pub(crate) mod tenant_cameras;
pub(crate) mod uploader;
