//! Types that cross an actor, node, NATS or HTTP boundary: ids, tenants, cameras, segments, camera
//! status, events on NATS and the API's error shape. Everything here is plain serde data.

pub mod camera;
pub mod error;
pub mod ids;
pub mod segment;
pub mod subjects;
pub mod tenant;
pub mod validate;

pub use camera::{Camera, CameraCreate, CameraState, CameraStatus, CameraUpdate, CameraView};
pub use error::{ErrorBody, ErrorDetail, FieldError};
pub use ids::{CameraId, TenantId};
pub use segment::{JobPriority, Segment, SegmentPage, SegmentReady, VideoJob};
pub use tenant::{Tenant, TenantCreate, TenantUpdate};

/// Version of the wire format carried by NATS payloads; bumped on incompatible changes.
pub const WIRE_VERSION: u32 = 1;
