//! Recorded video for players against a real node, the simulator, ffprobe and `vms verify`: a
//! stream token opens one camera's HLS playlist, segments, timeline and snapshot and nothing else;
//! ffprobe plays the playlist over HTTP; an export is written as one MP4 that ffprobe reads, its
//! signed manifest verifies offline and fails for a file with one byte changed; the export holds
//! its footage until it is deleted. Tokens never reach the access log.

use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use vms_messages::{Hold, HoldPage, Segment, Timeline};
use vms_testkit::{Sandbox, api_error, ffprobe_video};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

/// A GET without credentials (but the query's token): status, content type and body.
async fn fetch(_sb: &Sandbox, url: &str) -> anyhow::Result<(u16, String, bytes::Bytes)> {
    let resp = reqwest::Client::new().get(url).send().await?;
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((status, kind, resp.bytes().await?))
}

/// `vms verify`'s exit code and output.
fn verify(file: &Path, manifest: &Path, key: &str) -> anyhow::Result<(i32, String)> {
    let out = std::process::Command::new(VMS)
        .arg("verify")
        .arg(file)
        .arg(manifest)
        .args(["--public-key", key])
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_open_one_cameras_video_and_exports_verify_offline() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(2)
        .env("VMS_LOG", "info,vms_api::access=info")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "gate", &sb.sim.url(0)).await?;
    let other = sb.create_camera(&tenant, "yard", &sb.sim.url(1)).await?;
    let segs: Vec<Segment> = sb.wait_segments(&cam, 4, Duration::from_secs(90)).await?;
    // Inside segments 1 to 3 (the query's milliseconds must not reach into 0 or 4).
    let margin = chrono::Duration::milliseconds(100);
    let (from, to) = (segs[1].start + margin, segs[3].end - margin);
    let range = format!(
        "from={}&to={}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    let base = sb.node()?.api.clone();

    // A stream token for one camera.
    let token = sb.stream_token(&cam, 120).await?;
    let t = &token;
    let playlist = format!("{base}/api/v1/cameras/{cam}/playlist.m3u8?{range}&token={t}");
    let (status, kind, body) = fetch(&sb, &playlist).await?;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(kind, "application/vnd.apple.mpegurl");
    let text = String::from_utf8_lossy(&body).to_string();
    assert!(
        text.contains("#EXT-X-MAP:URI=") && text.contains("#EXT-X-ENDLIST"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{text}");
    assert_eq!(text.matches("#EXTINF:").count(), 3, "{text}");
    assert!(
        !text.contains("#EXT-X-DISCONTINUITY"),
        "consecutive segments: {text}"
    );

    // ffprobe plays it over HTTP: three segments of H.264, one timeline.
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
        ])
        .args(["-of", "default=nw=1"])
        .arg(&playlist)
        .output()?;
    let probed = String::from_utf8_lossy(&probe.stdout).to_string();
    assert!(
        probed.contains("codec_name=h264"),
        "{probed} {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let seconds: f64 = probed
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let indexed = (segs[3].end - segs[1].start).num_milliseconds() as f64 / 1000.0;
    assert!(
        (seconds - indexed).abs() < 1.0,
        "ffprobe {seconds} s, index {indexed} s"
    );

    // The token opens this camera's timeline and snapshot too.
    let (status, _, body) = fetch(
        &sb,
        &format!("{base}/api/v1/cameras/{cam}/timeline?{range}&buckets=10&token={t}"),
    )
    .await?;
    assert_eq!(status, 200);
    let timeline: Timeline = serde_json::from_slice(&body)?;
    assert_eq!(timeline.spans.len(), 1, "{timeline:?}");
    assert_eq!(timeline.buckets.len(), 10);
    let (status, kind, jpeg) = fetch(
        &sb,
        &format!("{base}/api/v1/cameras/{cam}/snapshot?token={t}"),
    )
    .await?;
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/jpeg"),
        "{}",
        String::from_utf8_lossy(&jpeg)
    );
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "a JPEG");

    // And nothing else: another camera, another API call, a header, a forged token.
    let (status, _, body) = fetch(
        &sb,
        &format!("{base}/api/v1/cameras/{other}/playlist.m3u8?token={t}"),
    )
    .await?;
    assert_eq!(
        status,
        403,
        "another camera: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, _) = fetch(&sb, &format!("{base}/api/v1/cameras/{cam}?token={t}")).await?;
    assert_eq!(status, 401, "not a media route");
    let anonymous = reqwest::Client::new();
    let header = anonymous
        .get(format!("{base}/api/v1/cameras/{cam}"))
        .bearer_auth(t)
        .send()
        .await?;
    assert_eq!(
        header.status(),
        401,
        "a stream token is not an access token"
    );
    let forged = format!("{}x", &t[..t.len() - 1]);
    let (status, _, _) = fetch(
        &sb,
        &format!("{base}/api/v1/cameras/{cam}/snapshot?token={forged}"),
    )
    .await?;
    assert_eq!(status, 401, "a changed signature");
    let renew = anonymous
        .post(format!(
            "{base}/api/v1/cameras/{cam}/stream-token?token={t}"
        ))
        .send()
        .await?;
    assert_eq!(renew.status(), 401, "a token cannot get another");

    // Bad ranges name the field.
    let (status, body) = sb
        .get(&format!(
            "/cameras/{cam}/playlist.m3u8?from={}&to={}",
            "2030-01-02T00:00:00Z", "2030-01-01T00:00:00Z"
        ))
        .await?;
    assert_eq!(
        (status, api_error(&body)?.field.as_deref()),
        (400, Some("to"))
    );
    let (status, body) = sb
        .post(
            "/exports",
            &json!({"camera_id": cam, "from": "2030-01-01T00:00:00Z", "to": "2030-01-02T01:00:00Z"}),
        )
        .await?;
    assert_eq!(
        (status, api_error(&body)?.field.as_deref()),
        (400, Some("to")),
        "longer than exports.max_hours"
    );

    // An export: one MP4, its manifest signed, its footage held.
    let done = sb
        .export_done(&json!({"camera_id": cam, "from": from, "to": to, "reason": "case 7"}))
        .await?;
    assert_eq!(done.progress_percent, 100);
    let file = &done.files[0];
    let dir = tempdir()?;
    let mp4 = dir.join("export.mp4");
    let manifest = dir.join("manifest.json");
    for (url, path) in [(&file.download_url, &mp4), (&file.manifest_url, &manifest)] {
        let resp = sb
            .http()
            .get(format!("{base}{url}"))
            .bearer_auth(&sb.admin_key)
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{url}");
        std::fs::write(path, resp.bytes().await?)?;
    }
    assert_eq!(Some(std::fs::metadata(&mp4)?.len()), file.bytes);
    let (codec, seconds) = ffprobe_video(&mp4)?;
    assert_eq!(codec, "h264");
    assert!(
        (seconds - indexed).abs() < 1.0,
        "export {seconds} s, range {indexed} s"
    );
    // 1.5 s inside a 5 s segment is exported as itself, from the keyframe before its start (the
    // simulator sends one a second), not as the whole segment.
    let inner_from = segs[2].start + chrono::Duration::milliseconds(1500);
    let inner_to = inner_from + chrono::Duration::milliseconds(1500);
    let inner = sb
        .export_done(&json!({"camera_id": cam, "from": inner_from, "to": inner_to}))
        .await?;
    let inner_mp4 = dir.join("inner.mp4");
    let resp = sb
        .http()
        .get(format!("{base}{}", inner.files[0].download_url))
        .bearer_auth(&sb.admin_key)
        .send()
        .await?;
    std::fs::write(&inner_mp4, resp.bytes().await?)?;
    let (_, inner_seconds) = ffprobe_video(&inner_mp4)?;
    assert!(
        (1.4..=2.6).contains(&inner_seconds),
        "a 1.5 s range exported as {inner_seconds} s"
    );
    let head = std::fs::read(&mp4)?;
    assert_eq!(&head[4..8], b"ftyp");
    let moov_at = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    assert_eq!(
        &head[moov_at + 4..moov_at + 8],
        b"moov",
        "faststart: the moov comes first"
    );
    let key: Value = sb.get_typed("/export-key").await?;
    let key = key["public_key"].as_str().unwrap_or_default().to_string();
    let (code, out) = verify(&mp4, &manifest, &key)?;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK") && out.contains("gate"), "{out}");
    let mut tampered = head.clone();
    let last = tampered.len() - 100;
    tampered[last] ^= 0x01;
    let changed = dir.join("changed.mp4");
    std::fs::write(&changed, &tampered)?;
    let (code, out) = verify(&changed, &manifest, &key)?;
    assert_eq!(code, 1, "one byte changed: {out}");
    assert!(out.contains("FAILED"), "{out}");

    let holds: HoldPage = sb.get_typed(&format!("/holds?camera_id={cam}")).await?;
    let held: Vec<&Hold> = holds
        .items
        .iter()
        .filter(|h| h.export_id == Some(done.id))
        .collect();
    assert_eq!(held.len(), 1, "{holds:?}");
    let (status, _) = sb
        .request(
            reqwest::Method::DELETE,
            &format!("/holds/{}", held[0].id),
            None,
        )
        .await?;
    assert_eq!(status, 409, "an export's hold goes with the export");
    let (status, _) = sb
        .request(
            reqwest::Method::DELETE,
            &format!("/exports/{}", done.id),
            None,
        )
        .await?;
    assert_eq!(status, 204);
    let holds: HoldPage = sb.get_typed(&format!("/holds?camera_id={cam}")).await?;
    assert!(holds.items.iter().all(|h| h.export_id != Some(done.id)));
    let (status, _) = sb.get(&format!("/exports/{}", done.id)).await?;
    assert_eq!(status, 404);

    // The access log shows media requests without their tokens.
    let log = sb.node_log("data");
    assert!(log.contains("playlist.m3u8"), "access log on");
    assert!(log.contains("token=REDACTED"));
    assert!(!log.contains(t.as_str()), "a stream token reached the log");
    Ok(())
}

fn tempdir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("vms-playback-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
