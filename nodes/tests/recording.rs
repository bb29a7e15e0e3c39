//! The recording spine against the real simulator, PostgreSQL, NATS and GStreamer: segments, their index,
//! media serving, and recovery from cameras that stop or freeze.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use vms_messages::{CameraState, CameraView, Segment, SegmentContainer, SegmentPage};
use vms_testkit::{Sandbox, ffprobe_duration, metric_positive, wait_for};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

fn ms(segment: &Segment) -> i64 {
    segment.duration_ms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_cameras_record_indexed_playable_five_second_segments() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(4).start().await?;
    let tenant = sb.create_tenant("acme", 8).await?;
    let mut cameras = Vec::new();
    for i in 0..4 {
        cameras.push(
            sb.create_camera(&tenant, &format!("cam{i}"), &sb.sim.url(i))
                .await?,
        );
    }
    for cam in &cameras {
        // The first segment starts mid-stream; the next three are whole.
        let segs = sb.wait_segments(cam, 4, Duration::from_secs(60)).await?;
        for seg in &segs[1..] {
            let d = ms(seg);
            assert!(
                (4000..=6000).contains(&d),
                "segment duration {d} ms outside 5 ± 1 s: {seg:?}"
            );
        }
        for pair in segs.windows(2) {
            assert!(pair[1].seq > pair[0].seq, "sequence increases");
            assert!(pair[1].start > pair[0].start, "ordered by start");
        }
        // Index rows match files on disk, and ffprobe reads each file with the indexed duration.
        let data = &sb.node()?.data_dir;
        for seg in &segs {
            let dir = data.join("segments").join(&tenant).join(cam);
            let file = find_file(&dir, seg.seq).expect("segment file on disk");
            assert_eq!(
                std::fs::metadata(&file)?.len() as i64,
                seg.bytes,
                "size matches index"
            );
            let probed = ffprobe_duration(&file)?;
            assert!(
                (probed * 1000.0 - ms(seg) as f64).abs() < 200.0,
                "ffprobe {probed} s vs index {} ms",
                ms(seg)
            );
            // The index says what the file holds and where each fragment is, to the byte.
            let m = &seg.media;
            assert_eq!(m.container, SegmentContainer::Fmp4, "{seg:?}");
            assert!(
                m.codec.as_deref().is_some_and(|c| c.starts_with("avc1.")),
                "{seg:?}"
            );
            assert!(m.width.is_some_and(|w| w > 0) && m.height.is_some_and(|h| h > 0));
            assert!(m.fragments[0].keyframe, "a segment starts on a keyframe");
            assert_eq!(Some(m.fragments[0].offset), m.init_len);
            let end = m.fragments.last().map(|f| f.offset + f.len);
            assert_eq!(
                end,
                u64::try_from(seg.bytes).ok(),
                "fragments cover the file"
            );
            let bytes = std::fs::read(&file)?;
            for f in &m.fragments {
                let at = usize::try_from(f.offset)?;
                assert_eq!(&bytes[at + 4..at + 8], b"moof", "fragment at {}", f.offset);
            }
        }
        // Media is served whole and by range.
        assert_eq!(
            segs[1].media_url,
            format!("/api/v1/segments/{}/media", segs[1].id)
        );
        let media = format!("{}{}", sb.node()?.api, segs[1].media_url);
        let whole = sb.http().get(&media).send().await?;
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "video/mp4");
        assert_eq!(whole.bytes().await?.len() as i64, segs[1].bytes);
        let part = sb
            .http()
            .get(&media)
            .header("Range", "bytes=188-375")
            .send()
            .await?;
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await?.len(), 188);
    }
    // Live status and metrics.
    let view: CameraView = sb.get_typed(&format!("/cameras/{}", cameras[0])).await?;
    let status = &view.status;
    assert_eq!(status.state, CameraState::Streaming, "{view:?}");
    assert!(
        (15.0..=35.0).contains(&status.fps),
        "fps {} near the simulator's 25",
        status.fps
    );
    assert!(status.bitrate_bps > 100_000.0, "{view:?}");
    assert_eq!(status.node.as_deref(), Some(sb.node_id.as_str()));
    let metrics = sb.metrics().await?;
    for name in [
        "vms_camera_fps",
        "vms_camera_bytes_total",
        "vms_camera_segments_total",
        "vms_camera_segment_lag_seconds",
        "vms_camera_reconnects_total",
    ] {
        assert!(
            metrics.contains(&format!("{name}{{camera=\"{}\"}}", cameras[0])),
            "metric {name} missing"
        );
    }
    // Keyset pagination walks every segment exactly once.
    let all = sb.segments(&cameras[0]).await?;
    let first: SegmentPage = sb
        .get_typed(&format!("/cameras/{}/segments?limit=2", cameras[0]))
        .await?;
    let cursor = first.next_cursor.expect("more pages");
    let second: SegmentPage = sb
        .get_typed(&format!(
            "/cameras/{}/segments?limit=2&cursor={cursor}",
            cameras[0]
        ))
        .await?;
    assert_eq!(second.items[0].id, all[2].id);
    // Time-range filter.
    let from = all[1].end.to_rfc3339();
    let page: SegmentPage = sb
        .get_typed(&format!(
            "/cameras/{}/segments?from={}",
            cameras[0],
            from.replace('+', "%2B")
        ))
        .await?;
    let items = page.items;
    assert!(
        !items.is_empty() && items.len() < all.len(),
        "range filter keeps some, not all"
    );
    assert!(items.iter().all(|s| s.end > all[1].end));
    Ok(())
}

fn find_file(dir: &std::path::Path, seq: i64) -> Option<PathBuf> {
    let name = format!("{seq:010}.mp4");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|d| d.path().join(&name))
        .find(|p| p.exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_camera_backs_off_then_resumes_and_others_keep_recording() -> anyhow::Result<()> {
    let mut sb = Sandbox::builder(VMS).cameras(2).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    let other = sb.create_camera(&tenant, "yard", &sb.sim.url(1)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(30)).await?;
    sb.wait_state(&other, "streaming", Duration::from_secs(10))
        .await?;
    let before = sb.segments(&cam).await?.len();

    sb.sim.command("stop 0").await?;
    let view = sb
        .wait_state(&cam, "backoff", Duration::from_secs(5))
        .await?;
    assert!(
        view.status.reason.as_deref().is_some_and(|r| !r.is_empty()),
        "backoff has a reason: {view:?}"
    );
    // The segment that was open when the camera stopped is finalised, indexed and playable.
    let after_stop = sb
        .wait_segments(&cam, before + 1, Duration::from_secs(10))
        .await?;
    let last = after_stop.last().expect("segment");
    let file = sb
        .http()
        .get(format!("{}{}", sb.node()?.api, last.media_url))
        .send()
        .await?;
    assert_eq!(file.status(), 200);
    let tmp = std::env::temp_dir().join(format!("vms-partial-{}.mp4", std::process::id()));
    std::fs::write(&tmp, file.bytes().await?)?;
    let probed = ffprobe_duration(&tmp);
    let _ = std::fs::remove_file(&tmp);
    assert!(probed? > 0.0, "partial segment is playable");
    // The other camera is untouched.
    let v: CameraView = sb.get_typed(&format!("/cameras/{other}")).await?;
    assert_eq!(v.status.state, CameraState::Streaming, "{v:?}");
    assert_eq!(v.status.reconnects, 0, "{v:?}");

    tokio::time::sleep(Duration::from_secs(3)).await;
    sb.sim.command("resume 0").await?;
    sb.wait_state(&cam, "streaming", Duration::from_secs(5))
        .await?;
    let count = sb.segments(&cam).await?.len();
    sb.wait_segments(&cam, count + 1, Duration::from_secs(12))
        .await?;
    let _ = &mut sb;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_camera_is_caught_by_the_watchdog() -> anyhow::Result<()> {
    let mut sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    sb.wait_state(&cam, "streaming", Duration::from_secs(20))
        .await?;
    sb.sim.command("freeze 0").await?;
    let view = sb
        .wait_state(&cam, "backoff", Duration::from_secs(5))
        .await?;
    let reason = view.status.reason.unwrap_or_default();
    assert!(reason.contains("no frames"), "watchdog reason: {reason}");
    sb.sim.command("resume 0").await?;
    sb.wait_state(&cam, "streaming", Duration::from_secs(15))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_changes_take_effect_live() -> anyhow::Result<()> {
    let sb = Sandbox::builder(VMS).cameras(2).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    sb.wait_state(&cam, "streaming", Duration::from_secs(20))
        .await?;
    let patch = |body: Value| {
        let path = format!("/cameras/{cam}");
        let sb = &sb;
        async move { sb.request(reqwest::Method::PATCH, &path, Some(&body)).await }
    };
    let (status, v) = patch(json!({"enabled": false})).await?;
    assert_eq!(status, 200, "{v}");
    sb.wait_state(&cam, "disabled", Duration::from_secs(10))
        .await?;
    let (status, _) =
        patch(json!({"enabled": true, "url": sb.sim.url(1), "labels": {"site": "hq"}})).await?;
    assert_eq!(status, 200);
    let v = sb
        .wait_state(&cam, "streaming", Duration::from_secs(15))
        .await?;
    assert_eq!(v.camera.url, sb.sim.url(1));
    assert_eq!(v.camera.labels.get("site").map(String::as_str), Some("hq"));
    let segs = sb.wait_segments(&cam, 1, Duration::from_secs(15)).await?;
    let (status, _) = sb
        .request(reqwest::Method::DELETE, &format!("/cameras/{cam}"), None)
        .await?;
    assert_eq!(status, 204);
    let (status, body) = sb.get(&format!("/cameras/{cam}")).await?;
    assert_eq!(status, 404, "{body}");
    let (status, _) = sb.get(&format!("/segments/{}", segs[0].id)).await?;
    assert_eq!(status, 404);
    // The tenant can be deleted once empty.
    let (status, _) = sb
        .request(reqwest::Method::DELETE, &format!("/tenants/{tenant}"), None)
        .await?;
    assert_eq!(status, 204);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_frees_disk_above_the_watermark_while_recording_goes_on() -> anyhow::Result<()> {
    // A high watermark of 1 % is always exceeded: the sweep deletes the oldest segments it can.
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .env("VMS_RETENTION__DISK_HIGH_WATERMARK_PERCENT", "1")
        .env("VMS_RETENTION__DISK_LOW_WATERMARK_PERCENT", "0")
        .env("VMS_RETENTION__INTERVAL_SECONDS", "2")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    sb.wait_metric_positive("vms_camera_segments_total", Duration::from_secs(30))
        .await?;
    // Segments are recorded and then deleted by retention; recording goes on.
    sb.wait_metric_positive(
        "vms_retention_deleted_segments_total",
        Duration::from_secs(30),
    )
    .await?;
    let v: CameraView = sb.get_typed(&format!("/cameras/{cam}")).await?;
    assert_eq!(
        v.status.state,
        CameraState::Streaming,
        "recording goes on: {v:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_reported_and_retention_frees_space() -> anyhow::Result<()> {
    // An 8 MiB data disk fills in about 30 s at 2 Mbit/s; the periodic sweep is too slow on purpose, so
    // the write fails with ENOSPC and the camera's failure triggers retention.
    let sb = Sandbox::builder(VMS)
        .cameras(1)
        .data_on_tmpfs(8)
        .env("VMS_RETENTION__INTERVAL_SECONDS", "3600")
        .start()
        .await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    let view = wait_for(
        "the disk to fill and the camera to recover",
        Duration::from_secs(90),
        || async {
            let v: CameraView = sb.get_typed(&format!("/cameras/{cam}")).await?;
            let recovered = v.status.state == CameraState::Streaming
                && v.status
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.contains("disk full"));
            Ok(recovered.then_some(v))
        },
    )
    .await?;
    assert!(view.status.reconnects >= 1, "{view:?}");
    let metrics = sb.metrics().await?;
    assert!(
        metric_positive(&metrics, "vms_retention_deleted_segments_total"),
        "retention deleted segments"
    );
    // Recording goes on after the space is freed.
    let count = sb.segments(&cam).await?.len();
    sb.wait_segments(&cam, count + 1, Duration::from_secs(15))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_playable_files_that_are_indexed_on_restart() -> anyhow::Result<()> {
    let mut sb = Sandbox::builder(VMS).cameras(1).start().await?;
    let tenant = sb.create_tenant("acme", 4).await?;
    let cam = sb.create_camera(&tenant, "door", &sb.sim.url(0)).await?;
    sb.wait_segments(&cam, 1, Duration::from_secs(30)).await?;
    // Crash (SIGKILL) in the middle of the next segment.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let data = sb.node()?.data_dir.clone();
    let killed_at = chrono::Utc::now();
    sb.node.take().expect("node").kill().await;
    let camera_dir = data.join("segments").join(&tenant).join(&cam);
    let newest = std::fs::read_dir(&camera_dir)?
        .flatten()
        .flat_map(|day| {
            std::fs::read_dir(day.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|f| f.path())
        .max()
        .expect("segment files");
    let size = std::fs::metadata(&newest)?.len();
    let probed = ffprobe_duration(&newest)?;
    assert!(
        probed >= 1.0,
        "the unfinished segment plays up to its last durable fragment: {probed} s"
    );
    sb.start_node().await?;
    sb.wait_state(&cam, "streaming", Duration::from_secs(20))
        .await?;
    let before = sb.segments(&cam).await?.len();
    let segs = sb
        .wait_segments(&cam, before + 1, Duration::from_secs(15))
        .await?;
    let newest_seq: i64 = newest
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("seq");
    let last = segs.last().expect("segment");
    assert!(
        last.seq > newest_seq,
        "restart continues after seq {newest_seq}: {last:?}"
    );
    // The restarted node indexed the crashed segment with the duration its file holds, cut back to
    // its last whole fragment (a torn one, had the kill come mid-write), never overwritten.
    let recovered = segs
        .iter()
        .find(|s| s.seq == newest_seq)
        .expect("crashed segment indexed");
    let now_size = std::fs::metadata(&newest)?.len();
    assert!(now_size <= size, "the crashed segment is not overwritten");
    assert_eq!(u64::try_from(recovered.bytes).ok(), Some(now_size));
    let indexed_s = recovered.duration_ms as f64 / 1000.0;
    let playable = ffprobe_duration(&newest)?;
    assert!(
        (indexed_s - playable).abs() < 0.2,
        "indexed {indexed_s} s vs file {playable} s"
    );
    // The recovery point: the tail plays up to at most 1.5 s before the kill.
    let lost = (killed_at - recovered.end).num_milliseconds();
    println!("recovery point: the tail ends {lost} ms before the kill, plays {playable:.2} s");
    assert!(
        (-200..=1500).contains(&lost),
        "the recovered tail ends {lost} ms before the kill"
    );
    Ok(())
}
