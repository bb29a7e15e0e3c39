//! The bytes a frame for a model worker replica on another node travels as, and its answer.
//!
//! A request is a 4-byte big-endian header length, the header (JSON: tenant, share, priority, the
//! milliseconds left before the frame's deadline, size) and the frame's RGB bytes. The deadline
//! travels as time left, not as a wall-clock instant, so the two nodes' clocks need not agree. An
//! answer is JSON: what became of the frame, its detections, and the replica's load after it.
//!
//! Over a ractor_cluster link the cookie handshake authenticates both ends. Over NATS (no link)
//! each request and answer carries an HMAC of its body under the cluster cookie and the time it was
//! sent, checked before anything is done with it ([`seal`], [`opened`]).

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vms_messages::ReplicaLoad;
use vms_models::{Detection, DetectorError, WorkerLoad};

/// Largest request sent over a link: ractor_cluster tears a link down on a message over 16 MiB.
pub const LINK_LIMIT: usize = 15 * 1024 * 1024;

/// What a replica needs to know of a frame besides its pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameHeader {
    /// The camera's tenant (its fair-queue flow).
    pub tenant: String,
    /// The tenant's inference share.
    pub share: u32,
    /// Whether a high-priority rule waits for it.
    pub high: bool,
    /// Milliseconds left before its deadline when it was sent.
    pub wait_ms: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Why bytes are not a request or an answer.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("malformed frame message: {0}")]
pub struct WireError(String);

/// Encodes a request.
pub fn encode_request(header: &FrameHeader, rgb: &[u8]) -> Vec<u8> {
    let head = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + head.len() + rgb.len());
    out.extend_from_slice(&u32::try_from(head.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(rgb);
    out
}

/// Decodes a request: its header and RGB bytes, which must be `width * height * 3` long.
pub fn decode_request(bytes: &[u8]) -> Result<(FrameHeader, &[u8]), WireError> {
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| WireError("shorter than its header length".into()))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let head = bytes
        .get(4..4 + len)
        .ok_or_else(|| WireError("shorter than its header".into()))?;
    let header: FrameHeader =
        serde_json::from_slice(head).map_err(|e| WireError(format!("header: {e}")))?;
    let rgb = &bytes[4 + len..];
    let want = u64::from(header.width) * u64::from(header.height) * 3;
    if rgb.len() as u64 != want {
        return Err(WireError(format!(
            "{}x{} needs {want} RGB bytes, got {}",
            header.width,
            header.height,
            rgb.len()
        )));
    }
    Ok((header, rgb))
}

/// What became of a frame on the replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Run; these are the detections.
    Detected {
        /// Detections: label, score, box.
        detections: Vec<(String, f32, [f32; 4])>,
    },
    /// Still queued at its deadline: not run.
    Expired,
    /// Shed from a full queue.
    Shed,
    /// The request or the detector failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A replica's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameAnswer {
    /// What became of the frame.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The replica's load after it, as heartbeats report it.
    pub load: ReplicaLoad,
    /// Microseconds the frame spent at the replica (queued and run).
    pub spent_us: u64,
}

/// A worker's load as heartbeats and answers carry it.
pub fn reported_load(model: &str, load: WorkerLoad) -> ReplicaLoad {
    ReplicaLoad {
        model: model.to_string(),
        queued: u32::try_from(load.queued).unwrap_or(u32::MAX),
        sessions: u32::try_from(load.sessions).unwrap_or(u32::MAX),
        service_us: u64::try_from(load.service.as_micros()).unwrap_or(u64::MAX),
    }
}

/// The worker load a heartbeat or an answer reports.
pub fn worker_load(reported: &ReplicaLoad) -> WorkerLoad {
    WorkerLoad {
        queued: reported.queued as usize,
        sessions: reported.sessions as usize,
        service: Duration::from_micros(reported.service_us),
    }
}

impl Outcome {
    /// The outcome of a detector's answer.
    pub fn of(answer: Result<Vec<Detection>, DetectorError>) -> Self {
        match answer {
            Ok(found) => Self::Detected {
                detections: found
                    .into_iter()
                    .map(|d| (d.label, d.score, d.bbox))
                    .collect(),
            },
            Err(DetectorError::Expired) => Self::Expired,
            Err(e) => Self::Failed {
                reason: e.to_string(),
            },
        }
    }

    /// The detector's answer this stands for (`None`: shed).
    pub fn answer(self) -> Option<Result<Vec<Detection>, DetectorError>> {
        match self {
            Self::Detected { detections } => Some(Ok(detections
                .into_iter()
                .map(|(label, score, bbox)| Detection { label, score, bbox })
                .collect())),
            Self::Expired => Some(Err(DetectorError::Expired)),
            Self::Shed => None,
            Self::Failed { reason } => Some(Err(DetectorError::Inference(reason))),
        }
    }
}

/// Encodes an answer.
pub fn encode_answer(answer: &FrameAnswer) -> Vec<u8> {
    serde_json::to_vec(answer).unwrap_or_default()
}

/// Decodes an answer.
pub fn decode_answer(bytes: &[u8]) -> Result<FrameAnswer, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError(format!("answer: {e}")))
}

/// NATS header holding when a message was sent (Unix milliseconds).
pub const SENT_HEADER: &str = "Vms-Sent";
/// NATS header holding its MAC.
pub const MAC_HEADER: &str = "Vms-Mac";

/// The `(sent, mac)` headers of `body` sent at `sent_ms` under `cookie`.
pub fn seal(cookie: &str, sent_ms: i64, body: &[u8]) -> (String, String) {
    (
        sent_ms.to_string(),
        crate::signing::signature(cookie.as_bytes(), sent_ms, body),
    )
}

/// Whether `body` with headers `sent` and `mac` was sealed under `cookie` within `window` of
/// `now_ms` (the MAC compared in constant time).
pub fn opened(
    cookie: &str,
    (sent, mac): (Option<&str>, Option<&str>),
    body: &[u8],
    now_ms: i64,
    window: Duration,
) -> bool {
    let (Some(sent), Some(mac)) = (sent, mac) else {
        return false;
    };
    let Ok(sent_ms) = sent.parse::<i64>() else {
        return false;
    };
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    if (now_ms - sent_ms).abs() > window_ms {
        return false;
    }
    let want = crate::signing::signature(cookie.as_bytes(), sent_ms, body);
    want.len() == mac.len()
        && want
            .bytes()
            .zip(mac.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The cluster cookie frames over NATS are sealed with (empty when none is set).
pub fn cookie_of(ctx: &crate::context::NodeContext) -> std::sync::Arc<str> {
    ctx.config
        .cluster
        .resolve_cookie()
        .ok()
        .flatten()
        .unwrap_or_default()
        .into()
}

/// NATS headers sealing `body` under `cookie`, sent now.
pub fn sealed_headers(cookie: &str, body: &[u8]) -> async_nats::HeaderMap {
    let (sent, mac) = seal(cookie, chrono::Utc::now().timestamp_millis(), body);
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(SENT_HEADER, sent.as_str());
    headers.insert(MAC_HEADER, mac.as_str());
    headers
}

/// Whether a NATS message carries a seal of its payload under `cookie`, made within the cluster's
/// message window of now.
pub fn is_sealed(cookie: &str, msg: &async_nats::Message) -> bool {
    let header = |name: &str| {
        msg.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str())
    };
    opened(
        cookie,
        (header(SENT_HEADER), header(MAC_HEADER)),
        &msg.payload,
        chrono::Utc::now().timestamp_millis(),
        crate::cluster_auth::MESSAGE_WINDOW,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            tenant: "t".into(),
            share: 3,
            high: true,
            wait_ms: 1500,
            width: 4,
            height: 2,
        }
    }

    #[test]
    fn a_request_round_trips_and_a_short_one_is_refused() {
        let rgb = vec![7u8; 24];
        let bytes = encode_request(&header(), &rgb);
        let (h, pixels) = decode_request(&bytes).expect("decodes");
        assert_eq!((h, pixels), (header(), &rgb[..]));
        assert!(decode_request(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode_request(&bytes[..3]).is_err());
        let mut lying = bytes.clone();
        lying[3] = 200; // a header length past the end
        assert!(decode_request(&lying).is_err());
    }

    #[test]
    fn an_answer_round_trips_every_outcome() {
        for outcome in [
            Outcome::Detected {
                detections: vec![("person".into(), 0.9, [0.1, 0.2, 0.3, 0.4])],
            },
            Outcome::Expired,
            Outcome::Shed,
            Outcome::Failed {
                reason: "boom".into(),
            },
        ] {
            let answer = FrameAnswer {
                outcome,
                load: ReplicaLoad {
                    model: "person".into(),
                    queued: 2,
                    sessions: 1,
                    service_us: 15_000,
                },
                spent_us: 31_000,
            };
            assert_eq!(
                reported_load("person", worker_load(&answer.load)),
                answer.load
            );
            assert_eq!(decode_answer(&encode_answer(&answer)), Ok(answer));
        }
    }

    #[test]
    fn a_sealed_body_opens_only_with_its_cookie_in_time_and_unchanged() {
        let window = Duration::from_secs(30);
        let (sent, mac) = seal("cookie", 1_000_000, b"frame");
        let headers = (Some(sent.as_str()), Some(mac.as_str()));
        assert!(opened("cookie", headers, b"frame", 1_000_500, window));
        assert!(!opened("other", headers, b"frame", 1_000_500, window));
        assert!(!opened("cookie", headers, b"frame!", 1_000_500, window));
        assert!(!opened("cookie", headers, b"frame", 1_040_000, window));
        assert!(!opened(
            "cookie",
            (None, Some(&mac)),
            b"frame",
            1_000_500,
            window
        ));
    }
}
