//! `vms sim`: a camera simulator on gst-rtsp-server. Serves `rtsp://127.0.0.1:<port>/cam{i}` from a
//! looping, pre-encoded H.264 or H.265 clip (`--codec`; encoded once with `x264enc` or `x265enc`,
//! keyframe every GOP, no scene cuts, and cached on disk), so serving a camera costs almost nothing: a
//! pacing thread pushes the cached access units into each camera's `appsrc` in real time, and
//! `rtph264pay` or `rtph265pay` packetises them.
//!
//! It also serves `/mjpeg0`, a Motion-JPEG stream for testing codec refusal, and `/clock0`, a
//! live-encoded picture of the time for glass-to-glass latency (`sim_clock`). Commands on standard
//! input control cameras for tests: `stop N` (drops the camera's clients and unmounts it:
//! reconnects get 404), `drop N` (drops its clients mid-stream; reconnects succeed), `freeze N`
//! (keeps connections open, sends nothing), `resume N`, `quit`.

use crate::sim_auth::{authenticator, viewable};
use crate::sim_faults;
use anyhow::{Context, bail};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Options of `vms sim`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Number of cameras (`/cam0` … `/cam{N-1}`).
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Picture size.
    #[arg(long, default_value = "720p", value_parser = ["720p", "1080p"])]
    pub resolution: String,
    /// RTSP port.
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Address to listen on (`0.0.0.0` to serve other machines or containers).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
    /// Frames per second of the clip.
    #[arg(long, default_value_t = 25)]
    pub fps: u32,
    /// Seconds between keyframes (`--gop 4` for a long-GOP camera).
    #[arg(long, visible_alias = "gop", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub gop_seconds: u32,
    /// Start every camera's clip at the same instant, so all keyframes arrive together (a worst case
    /// for analytics); by default the cameras are spread over the keyframe interval, as independent
    /// cameras are.
    #[arg(long)]
    pub aligned: bool,
    /// Where the encoded clip is cached (default: `$XDG_CACHE_HOME/vms-sim` or `~/.cache/vms-sim`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// What the cameras see: test bars (`plain`) or a person walking through a room (`person`).
    #[arg(long, default_value = "plain", value_parser = ["plain", "person"])]
    pub scene: String,
    /// Video codec the cameras send.
    #[arg(long, default_value = "h264", value_parser = ["h264", "h265"])]
    pub codec: String,
    /// Audio the cameras send beside the video, a tone encoded live: AAC (16 kHz), G.711 µ-law or
    /// A-law (8 kHz), or Opus (48 kHz).
    #[arg(long, value_parser = ["aac", "pcmu", "pcma", "opus"])]
    pub audio: Option<String>,
    /// Serve `rtsps://` only, with this PEM file's certificate and private key.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// Ask for these credentials (`USER:PASSWORD`), as most cameras do.
    #[arg(long)]
    pub auth: Option<String>,
    /// How `--auth` credentials are asked for.
    #[arg(long, default_value = "digest", value_parser = ["digest", "basic"])]
    pub auth_method: String,
    /// Video bit rate in kbit/s (default: 4000 at 1080p, 2000 at 720p).
    #[arg(long, value_parser = clap::value_parser!(u32).range(100..=50_000))]
    pub bitrate: Option<u32>,
    /// Misbehave as cameras in the field do, every 20 s: change picture size and parameter sets
    /// mid-stream, jump RTP timestamps 5 s backwards, stall for 2 s (`sim_faults`).
    #[arg(long)]
    pub faults: bool,
}

/// A camera's audio branch: its launch line (a tone, encoded live, payloaded as `pay1`), and
/// whether the camera's media may be shared by its clients.
struct AudioBranch {
    launch: String,
    /// One media for all of a camera's clients, as a camera's one encoder, except with Opus: the
    /// recorder reads Opus over a second session that sets up only the audio, and gst-rtsp-server
    /// answers 503 to a DESCRIBE of a shared media already playing only some of its streams.
    shared: bool,
}

fn audio_branch(audio: Option<&str>) -> AudioBranch {
    let (rate, encode) = match audio {
        Some("aac") => (16_000, "avenc_aac ! aacparse ! rtpmp4gpay"),
        Some("pcmu") => (8000, "mulawenc ! rtppcmupay"),
        Some("pcma") => (8000, "alawenc ! rtppcmapay"),
        Some("opus") => (48_000, "opusenc ! rtpopuspay"),
        _ => {
            return AudioBranch {
                launch: String::new(),
                shared: true,
            };
        }
    };
    AudioBranch {
        launch: format!(
            " audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audioconvert ! audioresample \
               ! audio/x-raw,rate={rate},channels=1 ! {encode} name=pay1 pt=97"
        ),
        shared: audio != Some("opus"),
    }
}

/// The GStreamer elements of a codec: encoder (for the clip), parser, caps and payloader.
struct CodecElements {
    /// Encoder element.
    encoder: &'static str,
    /// Its options beyond the GOP (`{gop}`: the GOP in frames): no scene cuts.
    options: &'static str,
    /// Parser element.
    parser: &'static str,
    /// Caps media type of the parsed stream.
    caps: &'static str,
    /// RTP payloader element.
    payloader: &'static str,
}

fn codec_elements(codec: &str) -> CodecElements {
    if codec == "h265" {
        // Open GOPs, x265's default and what many cameras send: keyframes after the first are CRA
        // pictures, not IDR (the recorder must find them itself; retina counts only IDR).
        CodecElements {
            encoder: "x265enc",
            options: "scenecut=0:min-keyint={gop}:repeat-headers=1",
            parser: "h265parse",
            caps: "video/x-h265",
            payloader: "rtph265pay",
        }
    } else {
        CodecElements {
            encoder: "x264enc",
            options: "scenecut=0:keyint_min={gop}",
            parser: "h264parse",
            caps: "video/x-h264",
            payloader: "rtph264pay",
        }
    }
}

/// Length of the looping clip.
const CLIP_SECONDS: u32 = 10;

const MODE_LIVE: u8 = 0;
const MODE_FROZEN: u8 = 1;
const MODE_STOPPED: u8 = 2;

/// One access unit of the clip.
struct AccessUnit {
    data: glib::Bytes,
    keyframe: bool,
}

/// A cached clip, loaded in memory.
struct Clip {
    units: Vec<AccessUnit>,
    caps: gst::Caps,
    fps: u32,
    /// RTP payloader of its codec.
    payloader: &'static str,
}

struct SimCamera {
    path: String,
    mode: AtomicU8,
    sources: Mutex<Vec<gst_app::AppSrc>>,
    /// With `--faults`: how far its RTP timestamps are shifted back now.
    rtp_shift: Option<Arc<AtomicU32>>,
}

fn dims(resolution: &str) -> (u32, u32, u32) {
    match resolution {
        "1080p" => (1920, 1080, 4000),
        _ => (1280, 720, 2000),
    }
}

fn default_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("vms-sim")
}

/// Runs a pipeline to EOS, failing on the first error.
fn run_to_eos(pipeline: &gst::Pipeline, what: &str) -> anyhow::Result<()> {
    pipeline
        .set_state(gst::State::Playing)
        .with_context(|| format!("cannot start {what}"))?;
    let bus = pipeline.bus().context("pipeline without bus")?;
    let result = loop {
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(300)) else {
            break Err(anyhow::anyhow!("{what} timed out"));
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                break Err(anyhow::anyhow!(
                    "{what} failed: {} ({:?})",
                    e.error(),
                    e.debug()
                ));
            }
            _ => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Encodes the clip unless it is cached; returns its path.
pub fn ensure_clip(args: &SimArgs) -> anyhow::Result<PathBuf> {
    let (w, h, default_kbps) = dims(&args.resolution);
    let kbps = args.bitrate.unwrap_or(default_kbps);
    // The default rate keeps the clip's name of before the option.
    let rate = args
        .bitrate
        .filter(|k| *k != default_kbps)
        .map_or_else(String::new, |k| format!("-{k}k"));
    let dir = args.cache_dir.clone().unwrap_or_else(default_cache_dir);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create cache folder {}", dir.display()))?;
    let scene = if args.scene == "person" {
        "person-"
    } else {
        ""
    };
    let name = format!(
        "clip-v2-{scene}{w}x{h}{rate}-{}fps-gop{}s-{CLIP_SECONDS}s.{}",
        args.fps, args.gop_seconds, args.codec
    );
    let path = dir.join(name);
    if path.exists() {
        return Ok(path);
    }
    eprintln!(
        "[sim] encoding a {CLIP_SECONDS} s {w}x{h} clip once into {} …",
        path.display()
    );
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let frames = args.fps * CLIP_SECONDS;
    let gop = args.fps * args.gop_seconds;
    let source = if args.scene == "person" {
        format!(
            "appsrc name=scene format=time caps=video/x-raw,format=RGB,width={w},height={h},framerate={fps}/1 ! videoconvert",
            fps = args.fps
        )
    } else {
        format!("videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=4")
    };
    let codec = codec_elements(&args.codec);
    let encoder = format!(
        "{} bitrate={kbps} speed-preset=veryfast tune=zerolatency key-int-max={gop} option-string=\"{}\"",
        codec.encoder,
        codec.options.replace("{gop}", &gop.to_string())
    );
    let launch = format!(
        "{source} ! \
         video/x-raw,width={w},height={h},framerate={fps}/1,format=I420 ! {encoder} ! \
         {parser} config-interval=-1 ! {caps},stream-format=byte-stream,alignment=au ! \
         filesink location=\"{tmp}\"",
        fps = args.fps,
        parser = codec.parser,
        caps = codec.caps,
        tmp = tmp.display()
    );
    let pipeline = gst::parse::launch(&launch)
        .context(
            "cannot build the clip encoder (are gstreamer1.0-plugins-ugly and -base installed?)",
        )?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("clip encoder is not a pipeline"))?;
    if let Some(src) = pipeline
        .by_name("scene")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
    {
        let person = load_person(h * 4 / 5)?;
        let fps = args.fps;
        std::thread::spawn(move || {
            for i in 0..frames {
                let mut buffer = gst::Buffer::from_mut_slice(person_frame(&person, w, h, i, fps));
                if let Some(b) = buffer.get_mut() {
                    b.set_pts(gst::ClockTime::from_nseconds(
                        u64::from(i) * 1_000_000_000 / u64::from(fps),
                    ));
                }
                if src.push_buffer(buffer).is_err() {
                    return;
                }
            }
            let _ = src.end_of_stream();
        });
    }
    run_to_eos(&pipeline, "clip encoding")?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// An RGB picture.
pub struct Picture {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Packed RGB8.
    pub rgb: Vec<u8>,
}

/// The astronaut (public domain, NASA) from the repository's test pictures, scaled to `height`.
fn load_person(height: u32) -> anyhow::Result<Picture> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/testdata/images/astronaut.png");
    let img = image::open(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .resize(height, height, image::imageops::FilterType::Triangle)
        .to_rgb8();
    Ok(Picture {
        width: img.width(),
        height: img.height(),
        rgb: img.into_raw(),
    })
}

/// The person scene at `width`x`height`, `per_second` frames a second over one clip: the pictures the
/// simulator encodes (before compression), for benchmarks that need frames with and without a person.
pub fn person_scene_frames(
    width: u32,
    height: u32,
    per_second: u32,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let person = load_person(height * 4 / 5)?;
    let per_second = per_second.max(1);
    Ok((0..CLIP_SECONDS * per_second)
        .map(|i| person_frame(&person, width, height, i, per_second))
        .collect())
}

/// The repository's test pictures (`models/testdata/images`), by file name, as RGB.
pub fn test_pictures() -> anyhow::Result<Vec<(String, Picture)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/testdata/images");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png" || x == "jpg"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let img = image::open(&path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .to_rgb8();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok((
                name,
                Picture {
                    width: img.width(),
                    height: img.height(),
                    rgb: img.into_raw(),
                },
            ))
        })
        .collect()
}

/// Frame `i` of the person scene: an empty room for 2 s, the person crossing it for 6 s, empty again.
fn person_frame(person: &Picture, w: u32, h: u32, i: u32, fps: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            // A wall and a floor.
            let v = if y < h * 2 / 3 {
                170 + (x * 20 / w) as u8
            } else {
                90 + (y * 30 / h) as u8
            };
            rgb.extend_from_slice(&[v, v - 10, v - 25]);
        }
    }
    let t = f64::from(i) / f64::from(fps);
    if (2.0..8.0).contains(&t) {
        let progress = (t - 2.0) / 6.0;
        let span = f64::from(w + person.width);
        let left = (progress * span) as i64 - i64::from(person.width);
        let top = i64::from(h - person.height) - i64::from(h / 12);
        for py in 0..person.height {
            for px in 0..person.width {
                let (x, y) = (left + i64::from(px), top + i64::from(py));
                if x < 0 || y < 0 || x >= i64::from(w) || y >= i64::from(h) {
                    continue;
                }
                let s = ((py * person.width + px) * 3) as usize;
                let d = ((y as u32 * w + x as u32) * 3) as usize;
                rgb[d..d + 3].copy_from_slice(&person.rgb[s..s + 3]);
            }
        }
    }
    rgb
}

/// Splits the cached clip into access units.
fn load_clip(path: &Path, fps: u32, codec: &str) -> anyhow::Result<Clip> {
    let codec = codec_elements(codec);
    let launch = format!(
        "filesrc location=\"{}\" ! {} ! {},stream-format=byte-stream,alignment=au ! appsink name=out sync=false",
        path.display(),
        codec.parser,
        codec.caps
    );
    let pipeline = gst::parse::launch(&launch)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| anyhow::anyhow!("clip loader is not a pipeline"))?;
    let sink = pipeline
        .by_name("out")
        .context("no appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow::anyhow!("not an appsink"))?;
    let units = Arc::new(Mutex::new(Vec::new()));
    let caps = Arc::new(Mutex::new(None));
    let (units_cb, caps_cb) = (Arc::clone(&units), Arc::clone(&caps));
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
                units_cb
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(AccessUnit {
                        data: glib::Bytes::from(map.as_slice()),
                        keyframe,
                    });
                let mut c = caps_cb.lock().unwrap_or_else(PoisonError::into_inner);
                if c.is_none() {
                    *c = sample.caps().map(|c| c.to_owned());
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    run_to_eos(&pipeline, "clip loading")?;
    let units = std::mem::take(&mut *units.lock().unwrap_or_else(PoisonError::into_inner));
    let caps = caps
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .context("clip has no caps")?;
    if units.is_empty() || !units[0].keyframe {
        bail!(
            "clip {} is empty or does not start with a keyframe; delete it to re-encode",
            path.display()
        );
    }
    Ok(Clip {
        units,
        caps,
        fps,
        payloader: codec.payloader,
    })
}

/// Pushes the clip into every connected `appsrc` of a camera, in real time, forever.
#[allow(
    clippy::disallowed_methods,
    reason = "runs on its own OS thread, never in async code"
)]
fn pace(camera: Arc<SimCamera>, clip: Arc<Clip>, offset: u64, faulty: Option<Arc<Clip>>) {
    let frame = Duration::from_secs(1) / clip.fps;
    let start = Instant::now();
    let mut n: u64 = offset;
    // The unit of the clip playing now (the other one's from its start after a switch).
    let mut k: u64 = offset;
    let mut playing_other = false;
    loop {
        let due = start + frame * u32::try_from((n - offset) % u64::from(u32::MAX)).unwrap_or(0);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        n += 1;
        let mut stalled = false;
        if let (Some(other), Some(shift)) = (&faulty, &camera.rtp_shift) {
            let state = sim_faults::state_at(start.elapsed());
            shift.store(state.rtp_shift, Ordering::Relaxed);
            stalled = state.stalled;
            if state.other_clip != playing_other {
                playing_other = state.other_clip;
                k = 0;
                let caps = if playing_other {
                    &other.caps
                } else {
                    &clip.caps
                };
                for src in camera
                    .sources
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                {
                    src.set_caps(Some(caps));
                }
            }
        }
        let playing = match &faulty {
            Some(other) if playing_other => other,
            _ => &clip,
        };
        let unit = &playing.units[usize::try_from(k).unwrap_or(0) % playing.units.len()];
        k += 1;
        if stalled || camera.mode.load(Ordering::Relaxed) != MODE_LIVE {
            continue;
        }
        let sources = camera
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for src in sources {
            let mut buffer = gst::Buffer::from_slice(unit.data.clone());
            if let Some(b) = buffer.get_mut() {
                b.set_duration(gst::ClockTime::from_nseconds(
                    u64::try_from(frame.as_nanos()).unwrap_or(0),
                ));
                if !unit.keyframe {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
            }
            if src.push_buffer(buffer).is_err() {
                camera
                    .sources
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|s| s != &src);
            }
        }
    }
}

fn camera_factory(
    camera: &Arc<SimCamera>,
    clip: &Arc<Clip>,
    audio: &AudioBranch,
) -> rtsp::RTSPMediaFactory {
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=src is-live=true do-timestamp=true format=time max-bytes=4000000 leaky-type=downstream \
           ! {} name=pay0 pt=96 config-interval=-1 mtu=1400{} )",
        clip.payloader, audio.launch
    ));
    factory.set_shared(audio.shared);
    viewable(&factory);
    let (camera, caps) = (Arc::clone(camera), clip.caps.clone());
    factory.connect_media_configure(move |_factory, media| {
        let element = media.element();
        let Some(bin) = element.downcast_ref::<gst::Bin>() else {
            return;
        };
        let Some(src) = bin
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            return;
        };
        src.set_caps(Some(&caps));
        if let (Some(shift), Some(payloader)) = (&camera.rtp_shift, bin.by_name("pay0")) {
            sim_faults::shift_timestamps(&payloader, Arc::clone(shift));
        }
        // A live tone would make the media seekable and PLAY's seek would then fail on the video's
        // appsrc: the audio branch says it cannot seek, as a camera cannot.
        if let Some(pad) = bin.by_name("pay1").and_then(|p| p.static_pad("src")) {
            pad.add_probe(gst::PadProbeType::QUERY_UPSTREAM, |_pad, info| {
                match info.query_mut().map(|q| q.view_mut()) {
                    Some(gst::QueryViewMut::Seeking(q)) => {
                        q.set(false, gst::ClockTime::ZERO, gst::ClockTime::NONE);
                        gst::PadProbeReturn::Handled
                    }
                    _ => gst::PadProbeReturn::Ok,
                }
            });
        }
        camera
            .sources
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(src.clone());
        let camera_unprep = Arc::clone(&camera);
        media.connect_unprepared(move |_media| {
            camera_unprep
                .sources
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|s| s != &src);
        });
    });
    factory
}

/// Runs the simulator until `quit` on standard input or the process is killed.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    gst::init()?;
    let clip_path = ensure_clip(&args)?;
    let clip = Arc::new(load_clip(&clip_path, args.fps, &args.codec)?);
    // With faults, the cameras switch to a clip of the other picture size now and then.
    let faulty = if args.faults {
        let other = SimArgs {
            resolution: if args.resolution == "1080p" {
                "720p".into()
            } else {
                "1080p".into()
            },
            bitrate: None,
            ..args.clone()
        };
        let path = ensure_clip(&other)?;
        Some(Arc::new(load_clip(&path, args.fps, &args.codec)?))
    } else {
        None
    };
    let audio = audio_branch(args.audio.as_deref());
    let server = rtsp::RTSPServer::new();
    if let Some(auth) = authenticator(&args)? {
        server.set_auth(Some(&auth));
    }
    server.set_address(&args.listen);
    server.set_service(&args.port.to_string());
    let mounts = server
        .mount_points()
        .context("rtsp server without mount points")?;
    let mut cameras = Vec::new();
    for i in 0..args.cameras {
        let camera = Arc::new(SimCamera {
            path: format!("/cam{i}"),
            mode: AtomicU8::new(MODE_LIVE),
            sources: Mutex::new(Vec::new()),
            rtp_shift: args.faults.then(|| Arc::new(AtomicU32::new(0))),
        });
        mounts.add_factory(&camera.path, camera_factory(&camera, &clip, &audio));
        let (c, k, f) = (Arc::clone(&camera), Arc::clone(&clip), faulty.clone());
        // Spread the cameras' keyframes over one keyframe interval unless asked to align them.
        let gop = u64::from(args.fps * args.gop_seconds).max(1);
        let offset = if args.aligned {
            0
        } else {
            i as u64 * gop / args.cameras.max(1) as u64
        };
        std::thread::Builder::new()
            .name(format!("sim-cam{i}"))
            .spawn(move || pace(c, k, offset, f))?;
        cameras.push(camera);
    }
    let mjpeg = rtsp::RTSPMediaFactory::new();
    mjpeg.set_launch(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=5/1,format=I420 ! jpegenc ! rtpjpegpay name=pay0 pt=26 )",
    );
    mjpeg.set_shared(true);
    viewable(&mjpeg);
    mounts.add_factory("/mjpeg0", mjpeg);
    let clock = crate::sim_clock::factory();
    viewable(&clock);
    mounts.add_factory("/clock0", clock);

    let main_loop = glib::MainLoop::new(None, false);
    let _source = server.attach(None).with_context(|| {
        format!(
            "cannot listen on {}:{} (port in use?)",
            args.listen, args.port
        )
    })?;
    println!(
        "ready {} cameras at rtsp://{}:{}/cam0 … /cam{} ({} {}, {} fps, keyframe every {} s{})",
        args.cameras,
        args.listen,
        args.port,
        args.cameras.saturating_sub(1),
        args.codec,
        args.resolution,
        args.fps,
        args.gop_seconds,
        if args.faults { ", with faults" } else { "" }
    );
    let control_loop = main_loop.clone();
    std::thread::Builder::new()
        .name("sim-control".into())
        .spawn(move || {
            control(&server, &mounts, &cameras, &clip, &audio);
            // `quit` ends the simulator; end of input (no controller attached) leaves it serving.
        })?;
    let _ = control_loop;
    main_loop.run();
    Ok(())
}

/// Reads commands from standard input until `quit` (then exits the process) or end of input.
fn control(
    server: &rtsp::RTSPServer,
    mounts: &rtsp::RTSPMountPoints,
    cameras: &[Arc<SimCamera>],
    clip: &Arc<Clip>,
    audio: &AudioBranch,
) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return };
        let mut words = line.split_whitespace();
        let (Some(cmd), index) = (
            words.next(),
            words.next().and_then(|w| w.parse::<usize>().ok()),
        ) else {
            continue;
        };
        if cmd == "quit" {
            println!("ok quit");
            std::process::exit(0);
        }
        let Some(camera) = index.and_then(|i| cameras.get(i)) else {
            println!("error unknown camera in {line:?}");
            continue;
        };
        match cmd {
            "stop" => {
                camera.mode.store(MODE_STOPPED, Ordering::Relaxed);
                mounts.remove_factory(&camera.path);
                drop_clients(server, &camera.path);
            }
            "drop" => drop_clients(server, &camera.path),
            "freeze" => camera.mode.store(MODE_FROZEN, Ordering::Relaxed),
            "resume" => {
                if camera.mode.swap(MODE_LIVE, Ordering::Relaxed) == MODE_STOPPED {
                    mounts.add_factory(&camera.path, camera_factory(camera, clip, audio));
                }
            }
            other => {
                println!(
                    "error unknown command {other:?} (stop N, drop N, freeze N, resume N, quit)"
                );
                continue;
            }
        }
        println!("ok {line}");
    }
}

/// Closes every client connection that plays `path`.
fn drop_clients(server: &rtsp::RTSPServer, path: &str) {
    server.client_filter(Some(
        &mut |_server: &rtsp::RTSPServer, client: &rtsp::RTSPClient| {
            let mut plays = false;
            client.session_filter(Some(
                &mut |_client: &rtsp::RTSPClient, session: &rtsp::RTSPSession| {
                    if session.media(path).0.is_some() {
                        plays = true;
                    }
                    rtsp::RTSPFilterResult::Keep
                },
            ));
            if plays {
                rtsp::RTSPFilterResult::Remove
            } else {
                rtsp::RTSPFilterResult::Keep
            }
        },
    ));
}
