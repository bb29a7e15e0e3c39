//! The cluster: membership by signed heartbeats, the ractor links between nodes, configuration
//! change hints, and camera placement with its agent and self-fencing.

pub mod changes;
pub mod links;
pub mod membership;
pub mod placement;
pub mod self_fence;
