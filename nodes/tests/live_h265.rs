//! H.265 over WebRTC against a real node and the simulator's H.265 camera. The receiver is str0m,
//! the WebRTC stack of the node and of `vms-bench live` (Debian's Chromium offers no H.265 to
//! WebRTC): an offer that receives H.265 gets the camera's frames as H.265, every one in order;
//! an offer that receives only H.264 is refused with 400 naming `sdp`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use vms_bench::live_viewers::{Received, webrtc};
use vms_testkit::Sandbox;

const VMS: &str = env!("CARGO_BIN_EXE_vms");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_reaches_a_webrtc_receiver_that_offers_it() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).video_codec("h265").start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "gate", &sb.sim.url(0)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(60)).await?;
    let token = sb.stream_token(&cam, 120).await?;
    let base = sb.node()?.api.clone();
    let viewer = (base.clone(), cam.clone(), token.clone());

    // Without H.265 in the offer the camera's video cannot go: 400 naming `sdp`.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let refused = webrtc(viewer.clone(), false, stopped, Arc::default()).await;
    let refused = refused
        .expect_err("an H.264-only offer is refused")
        .to_string();
    assert!(
        refused.contains("400") && refused.contains("sdp") && refused.contains("H.265"),
        "{refused}"
    );

    // With H.265 in the offer: 4 s of the camera's frames, all H.265, none missing.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let got = Arc::new(Received::default());
    let watching = tokio::spawn(webrtc(viewer, true, stopped, Arc::clone(&got)));
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.send(true)?;
    watching.await??;
    let (frames, h265, gaps) = (
        got.frames.load(Ordering::Relaxed),
        got.h265.load(Ordering::Relaxed),
        got.gaps.load(Ordering::Relaxed),
    );
    println!("WebRTC H.265: {frames} frames in 4 s, {h265} of them H.265, {gaps} gaps");
    // 25 fps for 4 s, less the connection's setup.
    assert!(frames >= 60, "{frames} frames");
    assert_eq!(h265, frames, "every frame came as H.265");
    assert_eq!(gaps, 0);
    Ok(())
}
