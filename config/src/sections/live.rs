//! The `[live]` section: how many viewers a camera may have on a node, and what WebRTC viewers are
//! told about the network.

use crate::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Live view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    /// Viewers one camera may have on this node at once, over every transport (1-1000); one more
    /// is answered 429 with `Retry-After`.
    pub max_viewers_per_camera: u32,
    /// The address WebRTC viewers are offered as this node's ICE candidate. Unset, it is the
    /// address the viewer reached the API at (its `Host`), which suits a LAN and loopback; set it
    /// behind NAT or a proxy.
    pub webrtc_address: Option<IpAddr>,
    /// STUN or TURN servers for WebRTC viewers (`stun:host:port`, `turn:host:port`), handed to
    /// them in the WHEP answer's `Link` headers.
    pub ice_servers: Vec<String>,
    /// Whether each frame's WebRTC packets leave in one system call, cut apart by the kernel (UDP
    /// generic segmentation offload, where the kernel has it; off: one `sendto` per packet).
    pub udp_gso: bool,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            max_viewers_per_camera: 64,
            webrtc_address: None,
            ice_servers: Vec::new(),
            udp_gso: true,
        }
    }
}

impl LiveConfig {
    /// Checks every value, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=1000).contains(&self.max_viewers_per_camera) {
            return Err(invalid("live.max_viewers_per_camera", "must be 1-1000"));
        }
        if let Some(ip) = self.webrtc_address
            && ip.is_unspecified()
        {
            return Err(invalid(
                "live.webrtc_address",
                "must be an address viewers can reach, not 0.0.0.0 or ::",
            ));
        }
        for (i, server) in self.ice_servers.iter().enumerate() {
            let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"]
                .iter()
                .any(|s| server.starts_with(s));
            if !scheme_ok || server.len() > 255 || server.contains(['<', '>', ',', ' ']) {
                return Err(invalid(
                    &format!("live.ice_servers[{i}]"),
                    "must be a stun:, stuns:, turn: or turns: URL",
                ));
            }
        }
        Ok(())
    }
}
