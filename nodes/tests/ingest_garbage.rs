//! A camera that answers RTSP properly and then sends garbage as its RTP: the session ends with an
//! error naming what was wrong, at once, and writes nothing (no panic, no hang, no file).

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vms_actors::{FragmentRecorder, IngestError, IngestOptions, SegmentLayout, record_rtsp};
use vms_messages::RtspTransport;

/// An H.264 stream description without parameter sets (the recorder waits for them in-band).
const SDP: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=garbage\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
                   m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
                   a=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n";

/// Reads one RTSP request (up to its blank line): its method and CSeq.
async fn request(sock: &mut TcpStream) -> anyhow::Result<(String, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        anyhow::ensure!(sock.read(&mut byte).await? == 1, "client closed");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let method = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let cseq = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:"))
        .unwrap_or("0")
        .trim()
        .to_string();
    Ok((method, cseq))
}

/// Serves one client: proper answers, then `rtp` interleaved on channel 0 every 10 ms.
async fn garbage_camera(listener: TcpListener, rtp: Vec<u8>) -> anyhow::Result<()> {
    let (mut sock, _) = listener.accept().await?;
    let base = format!("rtsp://{}/cam/", listener.local_addr()?);
    loop {
        let (method, cseq) = request(&mut sock).await?;
        let extra = match method.as_str() {
            "OPTIONS" => "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n".to_string(),
            "DESCRIBE" => format!(
                "Content-Base: {base}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP}",
                SDP.len()
            ),
            "SETUP" => {
                "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 42;timeout=60\r\n"
                    .to_string()
            }
            _ => "Session: 42\r\n".to_string(),
        };
        let blank = if method == "DESCRIBE" { "" } else { "\r\n" };
        let answer = format!("RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}{blank}");
        sock.write_all(answer.as_bytes()).await?;
        if method == "PLAY" {
            let len = u16::try_from(rtp.len())?.to_be_bytes();
            loop {
                sock.write_all(&[b'$', 0, len[0], len[1]]).await?;
                sock.write_all(&rtp).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Records a garbage camera sending `rtp` until the session ends (at most 10 s).
async fn record_garbage(rtp: Vec<u8>) -> anyhow::Result<Result<(), IngestError>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("rtsp://{}/cam", listener.local_addr()?).parse()?;
    let camera = tokio::spawn(garbage_camera(listener, rtp));
    let dir = std::env::temp_dir().join(format!("vms-garbage-{}", uuid::Uuid::now_v7().simple()));
    let mut recorder = FragmentRecorder::new(
        SegmentLayout {
            camera_dir: dir.clone(),
            first_seq: 1,
        },
        Duration::from_secs(5),
        Duration::from_secs(1),
    );
    let options = IngestOptions {
        url,
        credentials: None,
        transport: RtspTransport::Tcp,
        watchdog: Duration::from_secs(3),
        keyframes: None,
        tls: None,
    };
    let (_stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let end = tokio::time::timeout(
        Duration::from_secs(10),
        record_rtsp(&options, &mut recorder, &mut stop, &mut |_| {}),
    )
    .await?;
    camera.abort();
    assert!(end.last.is_none(), "nothing recorded: {:?}", end.last);
    assert!(!dir.exists(), "no file written");
    Ok(end.result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_rtp_ends_the_session_with_a_reason() -> anyhow::Result<()> {
    // Not RTP at all (version 0).
    let noise = record_garbage(vec![0x17; 40]).await?;
    println!("noise: {noise:?}");
    // One line, fit for a camera status (retina's packet dump goes to the log).
    assert!(
        matches!(&noise, Err(IngestError::Rtsp { message, .. })
            if message.contains("must be version 2") && !message.contains('\n')),
        "{noise:?}"
    );
    // Valid RTP headers around H.264 payloads that are not NAL units (forbidden bit set).
    let mut rtp = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.extend_from_slice(&[0xff; 40]);
    let bad_payload = record_garbage(rtp).await?;
    println!("bad payload: {bad_payload:?}");
    assert!(
        matches!(&bad_payload, Err(IngestError::Rtsp { message, .. })
            if message.contains("F bit") && !message.contains('\n')),
        "{bad_payload:?}"
    );
    Ok(())
}
