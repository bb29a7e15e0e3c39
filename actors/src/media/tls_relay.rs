//! `rtsps://` cameras: retina speaks RTSP over plain TCP only, so a loopback relay carries its
//! connection to the camera over TLS (RTP interleaved in it, as `rtsps` requires). The first TLS
//! handshake happens before retina is given the relay's address, so a certificate the node does
//! not trust is the session's error, named, rather than a connection that just closes.

use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// The port `rtsps://` URLs without one mean (RFC 7826).
const RTSPS_PORT: u16 = 322;

/// A running relay; dropping it closes its listener and connections.
pub struct TlsRelay {
    /// The `rtsp://127.0.0.1:<port>/…` URL retina connects to.
    pub url: url::Url,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects to the camera `url` names over TLS.
async fn connect(
    connector: &TlsConnector,
    host: &str,
    port: u16,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("tls: {host}: {e}"))?;
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("tls handshake with {host}:{port} failed: {e}"))
}

/// Starts a relay to the `rtsps://` camera `url`, verifying it with `tls`.
pub async fn start(url: &url::Url, tls: Arc<ClientConfig>) -> Result<TlsRelay, String> {
    let host = url
        .host_str()
        .ok_or_else(|| "rtsps url without a host".to_string())?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port().unwrap_or(RTSPS_PORT);
    let connector = TlsConnector::from(tls);
    let first = connect(&connector, &host, port).await?;
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| format!("cannot open the rtsps relay: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot open the rtsps relay: {e}"))?;
    let mut relayed = url.clone();
    let _ = relayed.set_scheme("rtsp");
    let _ = relayed.set_host(Some("127.0.0.1"));
    let _ = relayed.set_port(Some(local.port()));
    let task = tokio::spawn(async move {
        let mut first = Some(first);
        // The connections live in the task's set: dropping the relay ends them all.
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut plain, _)) = listener.accept().await {
            let tls = match first.take() {
                Some(tls) => Ok(tls),
                None => connect(&connector, &host, port).await,
            };
            match tls {
                Ok(mut tls) => {
                    connections.spawn(async move {
                        let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
                    });
                }
                Err(e) => tracing::warn!(error = %e, "rtsps relay cannot reach the camera"),
            }
        }
    });
    Ok(TlsRelay { url: relayed, task })
}
