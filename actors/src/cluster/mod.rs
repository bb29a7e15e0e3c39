//! The cluster: membership by signed heartbeats, the ractor links between nodes, configuration
//! change hints, camera placement with its agent and self-fencing, and the cluster's signing key.

pub mod changes;
pub mod cluster_auth;
pub mod links;
pub mod membership;
pub mod placement;
pub mod self_fence;
