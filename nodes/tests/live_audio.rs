//! Live audio against a real node and the simulator's audio: a camera that sends Opus is heard
//! over WebRTC (Opus RTP), MSE and LL-HLS (Opus in the fMP4 fragments) in Debian's Chromium; one
//! that sends G.711 µ-law is heard over WebRTC (PCMU) and still plays its video over MSE, where
//! browsers take no G.711. An export of the Opus camera holds its audio as a second track that
//! ffmpeg decodes. Nothing is transcoded.

use serde_json::{Value, json};
use std::time::Duration;
use vms_testkit::{Sandbox, assert_plays_in_chromium, open_live, watch_live};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

/// A node recording one camera of the simulator that sends `audio`; the API base, the camera
/// and a stream token for it.
async fn camera_with_audio(audio: &str) -> anyhow::Result<(Sandbox, String, String, String)> {
    let sb = Sandbox::builder(VMS).audio(audio).start().await?;
    let tenant = sb.create_tenant("acme", 2).await?;
    let cam = sb.create_camera(&tenant, "gate", &sb.sim.url(0)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(60)).await?;
    let token = sb.stream_token(&cam, 600).await?;
    let base = sb.node()?.api.clone();
    Ok((sb, base, cam, token))
}

fn audio(seen: &Value, key: &str) -> f64 {
    seen["audio"][key].as_f64().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_is_heard_over_webrtc_mse_and_llhls() -> anyhow::Result<()> {
    let (sb, base, cam, t) = camera_with_audio("opus").await?;
    let ws_base = base.replacen("http", "ws", 1);
    let mut ws = open_live(&format!(
        "{ws_base}/api/v1/cameras/{cam}/live.mp4?token={t}"
    ))
    .await?;
    let seen = watch_live(&mut ws, Duration::from_secs(2)).await?;
    assert!(
        seen.codec.starts_with("avc1.") && seen.codec.ends_with(",opus"),
        "MSE's codecs name the video and the audio: {seen:?}"
    );
    let webrtc = assert_plays_in_chromium(&base, &cam, &t, "webrtc")?;
    assert_eq!(webrtc["audio"]["codec"], "audio/opus", "{webrtc}");
    assert!(
        audio(&webrtc, "packets") >= 100.0,
        "Opus packets (50 a second) reach Chromium over WebRTC: {webrtc}"
    );
    for mode in ["mse", "hls"] {
        let seen = assert_plays_in_chromium(&base, &cam, &t, mode)?;
        assert!(
            audio(&seen, "decoded_bytes") > 0.0,
            "Chromium decodes the Opus in the fragments over {mode}: {seen}"
        );
    }
    assert_export_has_opus(&sb, &cam).await
}

/// Exports the last seconds of `cam` and checks with ffprobe and ffmpeg that the MP4 holds its
/// H.264 video and its Opus audio, and that the audio decodes.
async fn assert_export_has_opus(sb: &Sandbox, cam: &str) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let (from, to) = (
        now - chrono::Duration::seconds(8),
        now - chrono::Duration::seconds(2),
    );
    let done = sb
        .export_done(&json!({"camera_id": cam, "from": from, "to": to, "reason": "audio"}))
        .await?;
    let url = format!("{}{}", sb.node()?.api, done.files[0].download_url);
    let resp = sb.http().get(url).send().await?;
    assert_eq!(resp.status(), 200);
    let mp4 = std::env::temp_dir().join(format!("vms-audio-export-{}.mp4", done.id));
    std::fs::write(&mp4, resp.bytes().await?)?;
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&mp4)
        .output()?;
    let streams = String::from_utf8_lossy(&probe.stdout).to_string();
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args(["-map", "0:a", "-f", "null", "-"])
        .output()?;
    let _ = std::fs::remove_file(&mp4);
    assert!(
        streams.contains("h264,video") && streams.contains("opus,audio"),
        "the export holds the video and the Opus audio: {streams}"
    );
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "ffmpeg decodes the exported audio without an error: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_is_heard_over_webrtc_and_mse_plays_the_video() -> anyhow::Result<()> {
    let (_sb, base, cam, t) = camera_with_audio("pcmu").await?;
    let webrtc = assert_plays_in_chromium(&base, &cam, &t, "webrtc")?;
    assert_eq!(webrtc["audio"]["codec"], "audio/PCMU", "{webrtc}");
    // GStreamer's µ-law encoder sends a packet per 1024 samples (128 ms at 8 kHz).
    assert!(audio(&webrtc, "packets") >= 40.0, "{webrtc}");
    let mse = assert_plays_in_chromium(&base, &cam, &t, "mse")?;
    assert_eq!(
        audio(&mse, "decoded_bytes"),
        0.0,
        "MSE gets the video alone: {mse}"
    );
    Ok(())
}
