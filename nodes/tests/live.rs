//! Live view against a real node and the simulator: a WebSocket viewer gets the track, its init
//! section and one fMP4 fragment per frame from a keyframe, at the live edge; Debian's Chromium
//! plays the camera over WebRTC (WHEP), MSE and LL-HLS (hls.js), with pictures that are not black;
//! LL-HLS playlists block until the part asked for exists and ffmpeg decodes them; a stream
//! token of one camera is refused for another; bad offers, non-WebSocket requests and one viewer
//! too many get 4xx naming what is wrong; viewers show in the metrics.

use std::time::Duration;
use vms_testkit::{
    Sandbox, api_error, assert_plays_in_chromium, live_refusal, metric_value, open_live, wait_for,
    watch_live,
};

const VMS: &str = env!("CARGO_BIN_EXE_vms");
const MAX_VIEWERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_video_reaches_websocket_webrtc_and_mse_viewers() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS)
        .cameras(2)
        .env("VMS_LIVE__MAX_VIEWERS_PER_CAMERA", &MAX_VIEWERS.to_string())
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "gate", &sb.sim.url(0)).await?;
    let other = sb.create_camera(&tenant, "yard", &sb.sim.url(1)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(60)).await?;
    let token = sb.stream_token(&cam, 600).await?;
    let t = &token;
    let base = sb.node()?.api.clone();
    let ws_base = base.replacen("http", "ws", 1);
    let live_url = |camera: &str| format!("{ws_base}/api/v1/cameras/{camera}/live.mp4?token={t}");

    // A WebSocket viewer: the track, its init section, then one fragment per frame.
    let mut ws = open_live(&live_url(&cam)).await?;
    let seen = watch_live(&mut ws, Duration::from_secs(4)).await?;
    assert!(seen.codec.starts_with("avc1."), "{seen:?}");
    // The simulator sends 25 fps; the first group of pictures comes at once.
    assert!(seen.frames >= 80, "{} frames in 4 s", seen.frames);
    assert!(
        seen.worst_lag_ms() < 500.0,
        "frames reach a WebSocket viewer within 500 ms of arriving at the node: {:.0} ms",
        seen.worst_lag_ms()
    );

    // The token is for one camera only; a plain GET is not a WebSocket.
    assert_eq!(live_refusal(&live_url(&other)).await?.0, 403);
    let resp = reqwest::Client::new()
        .get(format!("{base}/api/v1/cameras/{cam}/live.mp4?token={t}"))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        api_error(&resp.json().await?)?.field.as_deref(),
        Some("Upgrade")
    );

    // WHEP: a malformed offer names `sdp`; an unknown session is 404.
    let whep = format!("{base}/api/v1/cameras/{cam}/whep?token={t}");
    let resp = reqwest::Client::new()
        .post(&whep)
        .header("content-type", "application/sdp")
        .body("v=0\r\nthis is not sdp\r\n")
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        api_error(&resp.json().await?)?.field.as_deref(),
        Some("sdp")
    );
    let resp = reqwest::Client::new()
        .delete(format!(
            "{base}/api/v1/cameras/{cam}/whep/{}?token={t}",
            uuid::Uuid::now_v7()
        ))
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 404);

    // Chromium plays it over WebRTC and over MSE.
    for mode in ["mse", "webrtc"] {
        assert_plays_in_chromium(&base, &cam, t, mode)?;
    }

    // The browser's viewers are gone once it closed; the first WebSocket viewer remains.
    let viewers = |transport: &'static str| {
        let (sb, cam) = (&sb, &cam);
        async move {
            let label = format!("camera=\"{cam}\",transport=\"{transport}\"");
            anyhow::Ok(metric_value(
                &sb.metrics().await?,
                "vms_live_viewers",
                &label,
            ))
        }
    };
    wait_for(
        "the browser's viewers to leave",
        Duration::from_secs(30),
        || async {
            Ok((viewers("mse").await? == 1.0 && viewers("webrtc").await? == 0.0).then_some(()))
        },
    )
    .await?;

    // One viewer too many is 429 with Retry-After; the metrics count viewers and bytes.
    let mut open = vec![ws];
    while open.len() < MAX_VIEWERS {
        open.push(open_live(&live_url(&cam)).await?);
    }
    let (status, retry) = live_refusal(&live_url(&cam)).await?;
    assert_eq!(status, 429);
    assert!(retry.is_some(), "429 says when to retry");
    let metrics = sb.metrics().await?;
    assert_eq!(
        metric_value(
            &metrics,
            "vms_live_viewers",
            &format!("camera=\"{cam}\",transport=\"mse\"")
        ),
        MAX_VIEWERS as f64,
        "{metrics}"
    );
    assert!(
        metric_value(
            &metrics,
            "vms_live_bytes_total",
            &format!("camera=\"{cam}\",transport=\"webrtc\"")
        ) > 0.0,
        "WebRTC bytes are counted"
    );
    drop(open);

    // LL-HLS: a playlist of parts that blocks until the part asked for exists; ffmpeg decodes it.
    let hls = format!("{base}/api/v1/cameras/{cam}/live/index.m3u8");
    let get = |url: String| async move {
        let resp = reqwest::Client::new().get(url).send().await?;
        anyhow::Ok((resp.status().as_u16(), resp.text().await?))
    };
    let (status, playlist) = get(format!("{hls}?token={t}")).await?;
    assert_eq!(status, 200, "{playlist}");
    for tag in [
        "#EXT-X-PART:",
        "CAN-BLOCK-RELOAD=YES",
        "#EXT-X-PRELOAD-HINT:",
        "#EXT-X-MAP:",
    ] {
        assert!(playlist.contains(tag), "{tag} in {playlist}");
    }
    // The part the preload hint names is not there yet: asking for it blocks until it is.
    let hint = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"segments/"))
        .and_then(|rest| rest.split_once("/media.mp4"))
        .map(|(at, _)| at.to_string())
        .unwrap_or_default();
    let (msn, part) = hint.split_once("/parts/").unwrap_or_default();
    let asked = std::time::Instant::now();
    let (status, later) = get(format!("{hls}?_HLS_msn={msn}&_HLS_part={part}&token={t}")).await?;
    assert_eq!(status, 200, "{later}");
    assert!(
        later.lines().any(|l| l.starts_with("#EXT-X-PART:")
            && l.contains(&format!("URI=\"segments/{msn}/parts/{part}/"))),
        "the blocking reload holds the part asked for ({msn}.{part}): {later}"
    );
    println!(
        "LL-HLS: part {msn}.{part} listed after {:?}",
        asked.elapsed()
    );
    let (status, body) = get(format!("{hls}?_HLS_part=1&token={t}")).await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        api_error(&serde_json::from_str(&body)?)?.field.as_deref(),
        Some("_HLS_part")
    );
    // A client without LL-HLS (ffmpeg) starts from whole segments: wait for two.
    wait_for(
        "two whole LL-HLS segments",
        Duration::from_secs(15),
        || async {
            let (_, text) = get(format!("{hls}?token={t}")).await?;
            Ok((text.matches("#EXTINF").count() >= 2).then_some(()))
        },
    )
    .await?;
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i", &format!("{hls}?token={t}")])
        .args(["-frames:v", "75", "-f", "null", "-"])
        .output()?;
    assert!(
        decoded.status.success(),
        "ffmpeg decodes 3 s of the LL-HLS stream: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
    assert_plays_in_chromium(&base, &cam, t, "hls")?;

    // Each LL-HLS client is a viewer: players told apart by their user agents fill the camera's
    // places (the clients above hold some until they have been quiet for 10 s), then one more
    // is 429 with Retry-After.
    let mut refused = None;
    for i in 0..=MAX_VIEWERS {
        let resp = reqwest::Client::new()
            .get(format!("{hls}?token={t}"))
            .header("user-agent", format!("player-{i}"))
            .send()
            .await?;
        if resp.status().as_u16() == 429 {
            refused = Some((i, resp.headers().contains_key("retry-after")));
            break;
        }
        assert_eq!(resp.status().as_u16(), 200);
    }
    let (admitted, retry) = refused.expect("one LL-HLS client too many is refused");
    assert!(admitted < MAX_VIEWERS, "{admitted} new clients admitted");
    assert!(retry, "429 says when to retry");
    Ok(())
}
