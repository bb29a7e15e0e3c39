//! Ingest v2 against the real simulator: retina reads the camera's RTSP over interleaved TCP and
//! the fMP4 writer records it in 1 s fragments; the segments play in ffprobe with the duration the
//! index gives, and each fragment's offset points at a `moof`. An H.265 camera is recorded as
//! `hvc1` the same way, without transcoding. A Motion-JPEG camera is refused naming its codec, a
//! closed port is an RTSP error, and a frozen camera trips the watchdog.

use std::path::Path;
use std::time::Duration;
use vms_actors::{
    ClosedFragments, FailureKind, FragmentRecorder, IngestError, IngestOptions, SegmentLayout,
    record_rtsp_for,
};
use vms_messages::RtspTransport;
use vms_node::{SimOptions, SimProcess};
use vms_testkit::{ffprobe_video, free_port};

const VMS: &str = env!("CARGO_BIN_EXE_vms");

async fn simulator(codec: &str) -> anyhow::Result<SimProcess> {
    simulator_with_audio(codec, None).await
}

async fn simulator_with_audio(codec: &str, audio: Option<&str>) -> anyhow::Result<SimProcess> {
    let options = SimOptions {
        codec: codec.into(),
        audio: audio.map(str::to_string),
        ..SimOptions::plain(1, free_port()?)
    };
    SimProcess::start_exe(Path::new(VMS), &options).await
}

/// The audio codec and duration (seconds) of a file's first audio stream, as ffprobe reads them.
fn ffprobe_audio(path: &Path) -> anyhow::Result<(String, f64)> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0"])
        .args([
            "-show_entries",
            "stream=codec_name,duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    match (
        field("codec_name="),
        field("duration=").and_then(|d| d.parse().ok()),
    ) {
        (Some(codec), Some(seconds)) => Ok((codec.to_string(), seconds)),
        _ => anyhow::bail!("no audio stream in {}: {text}", path.display()),
    }
}

/// Asserts that `closed` holds at least two segments of the camera's `codec` (as ffprobe names
/// it), each starting on a keyframe with its fragments at `moof` boxes, whole ones lasting 2 s,
/// each playing as long as its index says, all abutting.
fn assert_recorded(closed: &[ClosedFragments], codec: &str) -> anyhow::Result<()> {
    // The session and the simulator take a moment to start, and recording waits for a keyframe.
    assert!(
        closed.len() >= 2,
        "segments of about 2 s over 9 s: {closed:#?}"
    );
    for whole in &closed[..closed.len() - 1] {
        let ms = (whole.end - whole.start).num_milliseconds();
        assert!((1900..=2100).contains(&ms), "a whole segment lasts {ms} ms");
    }
    for segment in closed {
        assert!(
            segment.media.fragments[0].keyframe,
            "a segment starts on a keyframe"
        );
        let bytes = std::fs::read(&segment.path)?;
        for f in &segment.media.fragments {
            let at = usize::try_from(f.offset)?;
            assert_eq!(
                &bytes[at + 4..at + 8],
                b"moof",
                "fragment at {} is a moof",
                f.offset
            );
        }
        let indexed = (segment.end - segment.start).num_milliseconds() as f64 / 1000.0;
        let (probed_codec, probed) = ffprobe_video(&segment.path)?;
        assert_eq!(probed_codec, codec, "{}", segment.path.display());
        assert!(
            (probed - indexed).abs() < 0.2,
            "{}: ffprobe {probed} s, index {indexed} s",
            segment.path.display()
        );
    }
    for pair in closed.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "segments abut");
    }
    Ok(())
}

fn options(url: &str, transport: RtspTransport) -> anyhow::Result<IngestOptions> {
    Ok(IngestOptions {
        url: url.parse()?,
        credentials: None,
        transport,
        watchdog: Duration::from_secs(3),
        keyframes: None,
        tls: None,
    })
}

/// Records `url` for `seconds` (or until the session ends); the segments closed and how it ended.
async fn record_for(
    url: &str,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<(Vec<ClosedFragments>, Result<(), IngestError>)> {
    record_over(url, RtspTransport::Tcp, seconds, dir).await
}

/// [`record_for`] with RTP over `transport`.
async fn record_over(
    url: &str,
    transport: RtspTransport,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<(Vec<ClosedFragments>, Result<(), IngestError>)> {
    record_options(options(url, transport)?, seconds, dir).await
}

/// Records with `options` for `seconds` (or until the session ends).
async fn record_options(
    options: IngestOptions,
    seconds: u64,
    dir: &Path,
) -> anyhow::Result<(Vec<ClosedFragments>, Result<(), IngestError>)> {
    let mut recorder = FragmentRecorder::new(
        SegmentLayout {
            camera_dir: dir.to_path_buf(),
            first_seq: 1,
        },
        Duration::from_secs(2),
        Duration::from_secs(1),
    );
    Ok(record_rtsp_for(&options, &mut recorder, seconds).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retina_records_the_simulator_in_playable_one_second_fragments() -> anyhow::Result<()> {
    let sim = simulator("h264").await?;
    let dir = std::env::temp_dir().join(format!("vms-ingest-{}", uuid::Uuid::now_v7().simple()));
    let (closed, outcome) = record_for(&sim.url(0), 9, &dir).await?;
    outcome?;
    assert_recorded(&closed, "h264")?;
    // The same over UDP, the per-camera option for LAN cameras that do not interleave.
    let udp_dir = dir.join("udp");
    let (closed, outcome) = record_over(&sim.url(0), RtspTransport::Udp, 9, &udp_dir).await?;
    outcome?;
    assert_recorded(&closed, "h264")?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h265_camera_is_recorded_as_hvc1_without_transcoding() -> anyhow::Result<()> {
    let sim = simulator("h265").await?;
    let dir = std::env::temp_dir().join(format!("vms-ingest-{}", uuid::Uuid::now_v7().simple()));
    let (closed, outcome) = record_for(&sim.url(0), 9, &dir).await?;
    outcome?;
    assert_recorded(&closed, "hevc")?;
    let init = std::fs::read(&closed[0].path)?;
    assert!(
        init.windows(4).any(|w| w == b"hvc1"),
        "an hvc1 sample entry"
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cameras_end_with_a_reason() -> anyhow::Result<()> {
    let mut sim = simulator("h264").await?;
    let dir = std::env::temp_dir().join(format!("vms-ingest-{}", uuid::Uuid::now_v7().simple()));
    let (_, mjpeg) = record_for(&sim.url_of("/mjpeg0"), 5, &dir).await?;
    assert!(
        matches!(&mjpeg, Err(IngestError::UnsupportedCodec(c)) if c == "jpeg"),
        "{mjpeg:?}"
    );
    let closed_port = format!("rtsp://127.0.0.1:{}/cam0", free_port()?);
    let (_, refused) = record_for(&closed_port, 5, &dir).await?;
    assert!(
        matches!(refused, Err(IngestError::Rtsp { status: None, .. })),
        "{refused:?}"
    );
    let (_, missing) = record_for(&sim.url_of("/nothing-here"), 5, &dir).await?;
    assert!(
        matches!(
            missing,
            Err(IngestError::Rtsp {
                status: Some(404),
                ..
            })
        ),
        "{missing:?}"
    );
    // A camera that freezes mid-stream: the watchdog ends the session, its segment is closed.
    let url = sim.url(0);
    let recording = tokio::spawn({
        let dir = dir.clone();
        async move { record_for(&url, 30, &dir).await }
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    sim.command("freeze 0").await?;
    let (closed, frozen) = recording.await??;
    assert!(
        matches!(frozen, Err(IngestError::NoFrames(_))),
        "{frozen:?}"
    );
    assert!(
        !closed.is_empty(),
        "what was recorded before the freeze is closed"
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// ffmpeg decodes the whole audio track of `path` without an error.
fn assert_audio_decodes(path: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-map", "0:a", "-f", "null", "-"])
        .output()?;
    let errors = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        out.status.success() && errors.trim().is_empty(),
        "ffmpeg cannot decode the audio of {}: {errors}",
        path.display()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_g711_and_opus_audio_are_recorded_as_a_second_track() -> anyhow::Result<()> {
    for (audio, index_name, probed_name) in [
        ("aac", "mp4a.40.2", "aac"),
        ("pcmu", "ulaw", "pcm_mulaw"),
        ("opus", "opus", "opus"),
    ] {
        let sim = simulator_with_audio("h264", Some(audio)).await?;
        let dir = std::env::temp_dir().join(format!("vms-audio-{}", uuid::Uuid::now_v7().simple()));
        let (closed, outcome) = record_for(&sim.url(0), 9, &dir).await?;
        outcome?;
        assert_recorded(&closed, "h264")?;
        for segment in &closed[..closed.len() - 1] {
            assert_eq!(segment.media.audio.as_deref(), Some(index_name), "{audio}");
            let (codec, seconds) = ffprobe_audio(&segment.path)?;
            let video = (segment.end - segment.start).num_milliseconds() as f64 / 1000.0;
            println!(
                "{audio}: {} holds {seconds:.2} s of {codec} beside {video:.2} s of video",
                segment.path.display()
            );
            assert_eq!(codec, probed_name);
            assert_audio_decodes(&segment.path)?;
            assert!(
                (seconds - video).abs() < 0.3,
                "{audio}: {seconds:.2} s of audio beside {video:.2} s of video"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A test CA (`ca.pem`) and a server certificate it signed for 127.0.0.1, with its key, in one PEM
/// file (`server.pem`), as a camera would have.
fn camera_certificates(dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let key = ["-newkey", "rsa:2048", "-nodes", "-days", "1"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &key,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=vms test CA",
            ],
        ]
        .concat(),
    )?;
    openssl(
        dir,
        &[
            &["req"][..],
            &key[..3],
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=camera",
            ],
        ]
        .concat(),
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    )?;
    let pem = [
        std::fs::read(dir.join("server.crt"))?,
        std::fs::read(dir.join("server.key"))?,
    ]
    .concat();
    std::fs::write(dir.join("server.pem"), pem)?;
    Ok((dir.join("ca.pem"), dir.join("server.pem")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtsps_camera_is_recorded_over_tls_and_an_untrusted_one_is_refused() -> anyhow::Result<()>
{
    let dir = std::env::temp_dir().join(format!("vms-rtsps-{}", uuid::Uuid::now_v7().simple()));
    let (ca, server) = camera_certificates(&dir.join("certs"))?;
    let port = free_port()?;
    let sim = SimProcess::start_exe(
        Path::new(VMS),
        &SimOptions {
            tls_cert: Some(server),
            extra_args: Vec::new(),
            cpus: None,
            ..SimOptions::plain(1, port)
        },
    )
    .await?;
    let url = format!("rtsps://127.0.0.1:{port}/cam0");
    let mut trusted = options(&url, RtspTransport::Tcp)?;
    trusted.tls = Some(std::sync::Arc::new(
        vms_store::tls_client_config(Some(&ca), "ca").map_err(anyhow::Error::msg)?,
    ));
    let (closed, outcome) = record_options(trusted, 9, &dir.join("trusted")).await?;
    outcome?;
    assert_recorded(&closed, "h264")?;
    // The same camera checked against the system's roots only: refused, saying why.
    let mut untrusted = options(&url, RtspTransport::Tcp)?;
    untrusted.tls = Some(std::sync::Arc::new(
        vms_store::tls_client_config(None, "none").map_err(anyhow::Error::msg)?,
    ));
    let (closed, refused) = record_options(untrusted, 5, &dir.join("untrusted")).await?;
    assert!(closed.is_empty());
    assert!(
        matches!(&refused, Err(IngestError::Rtsp { message, .. }) if message.contains("tls handshake")),
        "{refused:?}"
    );
    drop(sim);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_with_field_quirks_is_recorded_through_them() -> anyhow::Result<()> {
    // `--faults`: at 6 s the picture goes from 720p to 1080p (new parameter sets, in-band only),
    // at 11 s the RTP timestamps jump 5 s backwards, from 16 s to 18 s nothing comes (under the 3 s
    // watchdog), at 20 s the picture goes back to 720p.
    let options = SimOptions {
        extra_args: vec!["--faults".into()],
        ..SimOptions::plain(1, free_port()?)
    };
    let sim = SimProcess::start_exe(Path::new(VMS), &options).await?;
    let dir = std::env::temp_dir().join(format!("vms-quirks-{}", uuid::Uuid::now_v7().simple()));
    let started = chrono::Utc::now();
    let (closed, outcome) = record_for(&sim.url(0), 25, &dir).await?;
    let stopped = chrono::Utc::now();
    outcome?;
    let sizes: Vec<(Option<u32>, Option<u32>)> = closed
        .iter()
        .map(|s| (s.media.width, s.media.height))
        .collect();
    for s in &closed {
        println!(
            "segment {}: {} .. {} ({:?}x{:?})",
            s.seq,
            s.start.format("%T%.3f"),
            s.end.format("%T%.3f"),
            s.media.width,
            s.media.height
        );
    }
    for size in [(1280, 720), (1920, 1080), (1280, 720)] {
        assert!(
            sizes.contains(&(Some(size.0), Some(size.1))),
            "a segment at {size:?}: {sizes:?}"
        );
    }
    let switches = sizes.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(
        switches, 2,
        "a new segment at each change of size: {sizes:?}"
    );
    for segment in &closed {
        let indexed = (segment.end - segment.start).num_milliseconds() as f64 / 1000.0;
        let (codec, probed) = ffprobe_video(&segment.path)?;
        assert_eq!(codec, "h264");
        assert!(
            (probed - indexed).abs() < 0.2,
            "{}: ffprobe {probed} s, index {indexed} s",
            segment.path.display()
        );
        assert!(segment.media.fragments[0].keyframe, "starts on a keyframe");
    }
    // The timeline stays on the wall clock through the backwards jump and the stall: segments in
    // order, within the time recorded, abutting (a new picture size starts its segment on its
    // keyframe's arrival: within a frame interval of where the last one ended, either side).
    for pair in closed.windows(2) {
        let gap = (pair[1].start - pair[0].end).num_milliseconds();
        assert!(
            (-40..40).contains(&gap),
            "segments {} and {} are {gap} ms apart",
            pair[0].seq,
            pair[1].seq
        );
    }
    let (first, last) = (&closed[0], &closed[closed.len() - 1]);
    assert!(
        first.start >= started && last.end <= stopped + chrono::TimeDelta::seconds(1),
        "recorded {} .. {} within {started} .. {stopped}",
        first.start,
        last.end
    );
    let covered = (last.end - first.start).num_milliseconds() as f64 / 1000.0;
    assert!(
        covered > 20.0,
        "{covered} s recorded of 25 s (less the session's start)"
    );
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_and_basic_credentials_are_answered_and_wrong_ones_refused() -> anyhow::Result<()> {
    for method in ["digest", "basic"] {
        let sim_options = SimOptions {
            extra_args: ["--auth", "cam:s3cret", "--auth-method", method]
                .map(str::to_string)
                .to_vec(),
            ..SimOptions::plain(1, free_port()?)
        };
        let sim = SimProcess::start_exe(Path::new(VMS), &sim_options).await?;
        let dir = std::env::temp_dir().join(format!("vms-auth-{}", uuid::Uuid::now_v7().simple()));
        let with = |credentials: Option<(&str, &str)>| -> anyhow::Result<IngestOptions> {
            Ok(IngestOptions {
                credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
                ..options(&sim.url(0), RtspTransport::Tcp)?
            })
        };
        let (closed, outcome) = record_options(with(Some(("cam", "s3cret")))?, 6, &dir).await?;
        outcome.map_err(|e| anyhow::anyhow!("{method} with the right password: {e}"))?;
        assert!(!closed.is_empty(), "{method}: recorded");
        for (credentials, what) in [
            (None, "no credentials"),
            (Some(("cam", "wrong")), "a wrong password"),
        ] {
            let (closed, outcome) = record_options(with(credentials)?, 5, &dir).await?;
            let Err(error) = outcome else {
                anyhow::bail!("{method} with {what} was recorded");
            };
            assert_eq!(
                error.kind(),
                FailureKind::Unauthorized,
                "{method} with {what}: {error}"
            );
            assert!(closed.is_empty(), "{method} with {what}: nothing recorded");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}
