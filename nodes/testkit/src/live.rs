//! A live-view client for tests: a WebSocket viewer of `/api/v1/cameras/{id}/live.mp4` that
//! checks the stream's shape and measures how late each frame reaches it.

use futures_util::StreamExt;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// A live-view WebSocket.
pub type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a viewer saw.
#[derive(Debug)]
pub struct LiveWatch {
    /// The track's codec (RFC 6381) from the first message.
    pub codec: String,
    /// Fragments received (one per frame).
    pub frames: usize,
    /// For each fragment of the second half of the watch, milliseconds between its time
    /// (`tfdt`: the node's wall clock at its arrival) and its receipt here.
    pub lags_ms: Vec<f64>,
}

impl LiveWatch {
    /// The largest lag measured.
    pub fn worst_lag_ms(&self) -> f64 {
        self.lags_ms.iter().copied().fold(0.0, f64::max)
    }
}

/// Opens a viewer at `url` (`ws://…/live.mp4?token=…`).
pub async fn open_live(url: &str) -> anyhow::Result<LiveSocket> {
    Ok(tokio_tungstenite::connect_async(url).await?.0)
}

/// The status and `Retry-After` of a viewer refused at `url`; an error when it was accepted.
pub async fn live_refusal(url: &str) -> anyhow::Result<(u16, Option<String>)> {
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(resp)) => Ok((
            resp.status().as_u16(),
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        )),
        Err(e) => Err(e.into()),
        Ok(_) => anyhow::bail!("the viewer was accepted"),
    }
}

async fn next_message(ws: &mut LiveSocket) -> anyhow::Result<Message> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(m)) => return Ok(m?),
            Ok(None) => anyhow::bail!("the socket closed"),
            Err(_) => anyhow::bail!("nothing within 10 s"),
        }
    }
}

/// The decode time (`tfdt`, version 1) of a one-fragment message, in 90 kHz ticks.
fn tfdt(fragment: &[u8]) -> Option<u64> {
    let at = fragment.windows(4).position(|w| w == b"tfdt")?;
    let body = fragment.get(at + 4..at + 16)?;
    (body[0] == 1).then(|| u64::from_be_bytes(body[4..12].try_into().unwrap_or_default()))
}

/// Watches `ws` for `watch`: the track's description, an fMP4 init section, then fragments only.
pub async fn watch_live(ws: &mut LiveSocket, watch: Duration) -> anyhow::Result<LiveWatch> {
    let Message::Text(describe) = next_message(ws).await? else {
        anyhow::bail!("the first message describes the track");
    };
    let describe: Value = serde_json::from_str(&describe)?;
    let codec = describe["codec"].as_str().unwrap_or_default().to_string();
    let Message::Binary(init) = next_message(ws).await? else {
        anyhow::bail!("the init section follows the description");
    };
    anyhow::ensure!(
        init.get(4..8) == Some(&b"ftyp"[..]),
        "not an fMP4 init section"
    );
    let started = Instant::now();
    let (mut frames, mut lags_ms) = (0, Vec::new());
    while started.elapsed() < watch {
        let Message::Binary(fragment) = next_message(ws).await? else {
            anyhow::bail!("only fragments follow the init section");
        };
        let time = tfdt(&fragment).ok_or_else(|| anyhow::anyhow!("a fragment without tfdt"))?;
        let now_90k = u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_micros()
                * 9
                / 100,
        )?;
        if started.elapsed() > watch / 2 {
            lags_ms.push((now_90k as f64 - time as f64) / 90.0);
        }
        frames += 1;
    }
    Ok(LiveWatch {
        codec,
        frames,
        lags_ms,
    })
}

/// Plays `camera` in Debian's Chromium over `mode` (`webrtc`, `mse`, `hls`) for 12 s with the
/// browser check (`nodes/tests/browser/live_view.py`, Playwright) and returns what it printed:
/// `played`, `luma`, `error`, latency samples and `audio` (`packets` and `codec` over WebRTC,
/// `decoded_bytes` over MSE and LL-HLS).
pub fn chromium_live_view(
    base: &str,
    camera: &str,
    token: &str,
    mode: &str,
) -> anyhow::Result<Value> {
    crate::browser::run_browser_script("live_view.py", &[base, camera, token, mode, "12"])
}

/// [`chromium_live_view`], asserting that the video played (`currentTime` advanced) and its
/// picture was not black; what the check printed.
pub fn assert_plays_in_chromium(
    base: &str,
    camera: &str,
    token: &str,
    mode: &str,
) -> anyhow::Result<Value> {
    let seen = chromium_live_view(base, camera, token, mode)?;
    println!("chromium {mode}: {seen}");
    anyhow::ensure!(seen["error"] == Value::Null, "{seen}");
    anyhow::ensure!(
        seen["played"] == true,
        "currentTime advances over {mode}: {seen}"
    );
    anyhow::ensure!(
        seen["luma"].as_f64().unwrap_or(0.0) > 16.0,
        "the picture over {mode} is not black: {seen}"
    );
    Ok(seen)
}
