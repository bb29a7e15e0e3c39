//! Multi-process cluster scenarios with faults injected. The cluster work fills this crate; for now it
//! holds the process helpers the scenarios share.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_bind() {
        let port = free_port().expect("port");
        assert!(port > 0);
        TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
