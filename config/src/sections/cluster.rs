//! The `[cluster]` section: membership, placement and the links between nodes.

use crate::secrets::{read_secret, weak_secret};
use crate::{ConfigError, forms, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Roles a node may take.
pub const NODE_ROLES: [&str; 4] = ["ingest", "inference", "control", "api"];

/// Inter-node link settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Name of the cluster: nodes with the same name on the same NATS are its members (several
    /// clusters may share one NATS).
    pub name: String,
    /// How often the node publishes its heartbeat on NATS.
    pub heartbeat_ms: u64,
    /// A node not heard from for this long is down.
    pub down_after_ms: u64,
    /// Roles this node takes: `ingest`, `inference`, `control`, `api` (comma-separated in the
    /// environment).
    #[serde(deserialize_with = "forms::list")]
    pub roles: Vec<String>,
    /// Labels placement may match (`gpu = "true"`, `site = "north"`).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Most cameras this node takes (0: no limit).
    pub max_cameras: u32,
    /// Place cameras across the nodes with a leader (failover when a node dies); off: this node
    /// records every camera of its database.
    pub placement: bool,
    /// Take the cameras placed here without recording them (control-plane scale tests only).
    pub fake_cameras: bool,
    /// With placement, mirror every fragment to the camera's standby node as it is written (the
    /// recovery point after a node dies); off, a dead node's footage not yet in the object store
    /// waits for the node (its disk) to come back.
    pub mirror: bool,
    /// Port of this node's ractor_cluster link server (0: no links; calls go over NATS).
    pub link_port: u16,
    /// Port of this node's mirror server, which takes the footage of the cameras it stands by for
    /// (0: a free port chosen at start; the heartbeat tells the others which). It binds the link
    /// server's address.
    pub mirror_port: u16,
    /// Host name or address other nodes reach this node's link server at.
    pub advertise_host: String,
    /// Most handovers (rebalancing and drain moves) the leader starts per round (four times a second);
    /// moves off a node that is down are not limited.
    pub max_handovers: u32,
    /// Shared secret nodes present to each other; required in production (at least 16 characters).
    pub cookie: String,
    /// File holding the cookie instead (a mounted secret).
    #[serde(deserialize_with = "forms::optional_path")]
    pub cookie_file: Option<PathBuf>,
    /// Address the link server binds (empty: `advertise_host`, so the links never listen on every
    /// interface by accident).
    pub link_listen: String,
    /// Seconds between reconciliations of this node's tenants, cameras and rules against PostgreSQL
    /// (changes travel as NATS hints, which a node can miss; it also reconciles on every NATS
    /// reconnect).
    pub reconcile_seconds: u32,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: "vms".into(),
            heartbeat_ms: 500,
            down_after_ms: 2000,
            roles: NODE_ROLES.map(String::from).to_vec(),
            labels: Default::default(),
            max_cameras: 0,
            placement: false,
            fake_cameras: false,
            mirror: true,
            max_handovers: 16,
            reconcile_seconds: 30,
            link_port: 4370,
            mirror_port: 0,
            advertise_host: "127.0.0.1".into(),
            cookie: String::new(),
            cookie_file: None,
            link_listen: String::new(),
        }
    }
}

impl ClusterConfig {
    /// The cookie: from `cookie_file` when set, else `cookie`; `None` when neither is set.
    pub fn resolve_cookie(&self) -> Result<Option<String>, ConfigError> {
        if let Some(path) = &self.cookie_file {
            return read_secret(path).map(Some);
        }
        Ok(Some(self.cookie.clone()).filter(|c| !c.is_empty()))
    }

    /// Checks the section, naming the first key at fault.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.link_listen.is_empty() && self.link_listen.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                "cluster.link_listen",
                format!("{:?} is not an IP address", self.link_listen),
            ));
        }
        // Placement trusts heartbeats, changes and links, all authenticated by the cookie.
        if self.placement && self.resolve_cookie()?.is_none() {
            return Err(invalid(
                "cluster.cookie",
                "cluster.placement needs a cluster cookie (cluster.cookie or cluster.cookie_file): it authenticates heartbeats, changes and links",
            ));
        }
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "_-".contains(ch));
        if !name_ok {
            return Err(invalid(
                "cluster.name",
                "must be 1-64 letters, digits, '-' or '_'",
            ));
        }
        for (key, value, range) in [
            (
                "cluster.reconcile_seconds",
                u64::from(self.reconcile_seconds),
                1..=3600,
            ),
            (
                "cluster.max_handovers",
                u64::from(self.max_handovers),
                1..=100_000,
            ),
            ("cluster.heartbeat_ms", self.heartbeat_ms, 50..=10_000),
        ] {
            if !range.contains(&value) {
                return Err(invalid(
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        if self.down_after_ms < 2 * self.heartbeat_ms || self.down_after_ms > 120_000 {
            return Err(invalid(
                "cluster.down_after_ms",
                "must be at least twice cluster.heartbeat_ms and at most 120000",
            ));
        }
        if let Some(r) = self
            .roles
            .iter()
            .find(|r| !NODE_ROLES.contains(&r.as_str()))
        {
            return Err(invalid(
                "cluster.roles",
                format!("unknown role {r:?}; roles are {}", NODE_ROLES.join(", ")),
            ));
        }
        Ok(())
    }

    /// What production mode adds: a strong cookie.
    pub(crate) fn validate_production(&self) -> Result<(), ConfigError> {
        match self.resolve_cookie()?.as_deref() {
            None => Err(invalid(
                "cluster.cookie",
                "production mode needs a cluster cookie (cluster.cookie or cluster.cookie_file)",
            )),
            Some(k) if k.chars().count() < 16 || weak_secret(k) => Err(invalid(
                "cluster.cookie",
                "must be at least 16 characters, random, and not a placeholder or well-known default",
            )),
            Some(_) => Ok(()),
        }
    }
}
