//! Reading what a node shows: its JetStream events, its metrics, its error answers, and the media
//! it wrote.

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use vms_messages::{ErrorBody, ErrorDetail, Event};

/// Every message on the JetStream events stream (shared NATS at 127.0.0.1:4222) for `subject`, as
/// (`Nats-Msg-Id`, event), oldest first.
pub async fn jetstream_events(subject: &str) -> anyhow::Result<Vec<(Option<String>, Event)>> {
    use async_nats::jetstream;
    use futures_util::StreamExt;
    let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    let stream = jetstream::new(client)
        .get_stream(vms_messages::subjects::EVENTS_STREAM)
        .await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            filter_subject: subject.to_string(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut batch = consumer
        .fetch()
        .max_messages(1000)
        .expires(Duration::from_secs(1))
        .messages()
        .await?;
    let mut out = Vec::new();
    while let Some(Ok(msg)) = batch.next().await {
        let id = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string());
        let event = serde_json::from_slice(&msg.payload).with_context(|| {
            format!(
                "not an event on {subject}: {}",
                String::from_utf8_lossy(&msg.payload)
            )
        })?;
        out.push((id, event));
    }
    Ok(out)
}

/// Sum of the series of metric `name` whose labels mention `label` (0 when there is none).
pub fn metric_value(text: &str, name: &str, label: &str) -> f64 {
    vms_bench::node::metric_sum(text, name, Some(label))
}

/// A 2xx API answer read as `T` (a type of `vms-messages`); an error naming the status and the
/// body otherwise.
pub fn typed<T: DeserializeOwned>(status: u16, body: Value) -> anyhow::Result<T> {
    if !(200..300).contains(&status) {
        bail!("answered {status}: {body}");
    }
    let text = body.to_string();
    serde_json::from_value(body).with_context(|| format!("unexpected answer: {text}"))
}

/// The error of an API error answer (`{"error": {"code", "message", "field"?}}`).
pub fn api_error(body: &Value) -> anyhow::Result<ErrorDetail> {
    let parsed: ErrorBody = serde_json::from_value(body.clone())
        .with_context(|| format!("not an error answer: {body}"))?;
    Ok(parsed.error)
}

/// Asserts an API error answer's status and the field it names.
pub fn assert_refused(status: u16, body: &Value, want: u16, field: &str) {
    let named = api_error(body).ok().and_then(|e| e.field);
    assert_eq!((status, named.as_deref()), (want, Some(field)), "{body}");
}

/// Whether some series of metric `name` in a Prometheus text exposition has a value above zero.
pub fn metric_positive(text: &str, name: &str) -> bool {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .any(|v| v > 0.0)
}

/// Duration of an H.264 media file as `ffprobe` reads it, in seconds.
pub fn ffprobe_duration(path: &Path) -> anyhow::Result<f64> {
    let (codec, duration) = ffprobe_video(path)?;
    if codec != "h264" {
        bail!("{} holds {codec}, not h264", path.display());
    }
    Ok(duration)
}

/// The video codec (`h264`, `hevc`) and the video's duration in seconds of a media file, as
/// `ffprobe` reads them (the file's duration where the stream has none of its own; a file with
/// audio may run longer than its video).
pub fn ffprobe_video(path: &Path) -> anyhow::Result<(String, f64)> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,duration:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()
        .context("cannot run ffprobe (install ffmpeg)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let codec = text
        .lines()
        .find_map(|l| l.strip_prefix("codec_name="))
        .map(|c| c.trim().to_string());
    // The stream's duration comes first; `N/A` there leaves the file's.
    let duration = text
        .lines()
        .filter_map(|l| l.strip_prefix("duration="))
        .find_map(|d| d.trim().parse::<f64>().ok());
    match (out.status.success(), codec, duration) {
        (true, Some(codec), Some(duration)) => Ok((codec, duration)),
        _ => bail!(
            "ffprobe cannot read {}: {text} {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_are_read_by_name() {
        let text = "# HELP x\nvms_a_total{camera=\"c\"} 0\nvms_a_total_other 5\nvms_b_total 2\n";
        assert!(!metric_positive(text, "vms_a_total"));
        assert!(metric_positive(text, "vms_b_total"));
        assert!(!metric_positive(text, "vms_c_total"));
    }
}
