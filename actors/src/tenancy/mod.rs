//! Tenancy across the cluster: one leased [`tenant_actor::TenantActor`] per tenant, running on the
//! tenant's home node (rendezvous hashing on the tenant's id over the nodes up and not drained) and
//! holding the tenant's lease in PostgreSQL, which makes it the only one in the cluster whatever
//! two nodes' views say. Each node's [`tenant_keeper::TenantKeeper`] starts the actors of the tenants
//! whose home it is and stops the rest. A tenant's cameras stay supervised on the nodes that record
//! them (`recording::tenant_cameras`). It imports the cluster layer (membership, change hints, the
//! `LocalActors` trait) and what lies below.

pub(crate) mod home;
pub(crate) mod tenant_actor;
pub(crate) mod tenant_keeper;
