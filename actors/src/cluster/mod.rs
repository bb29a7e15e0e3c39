//! The cluster: membership by signed heartbeats, the ractor links between nodes, configuration
//! change hints, camera placement with its agent and self-fencing, and the model worker replicas
//! with the router that sends each camera's frames to one of them. It drives this node's actors
//! through the `local::LocalActors` trait, which the supervisor implements. It imports recording
//! (camera actors' names and status for remote calls), the node context and the base modules.

pub(crate) mod changes;
pub(crate) mod frame_wire;
pub(crate) mod links;
pub(crate) mod live_relay;
pub(crate) mod local;
pub(crate) mod membership;
pub(crate) mod mirror;
pub(crate) mod mirror_stream;
pub(crate) mod placement;
pub(crate) mod plan;
pub(crate) mod replica;
pub(crate) mod replica_keeper;
pub(crate) mod replica_plan;
pub(crate) mod resync;
pub(crate) mod router;
pub(crate) mod segment_read;
pub(crate) mod self_fence;
