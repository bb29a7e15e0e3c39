//! `/clock0`: a camera whose pictures show the time they were made, for glass-to-glass latency.
//! Each 640x360 frame is painted with the wall clock's milliseconds (modulo 2^32) as 32 black or
//! white blocks in a row, and the same bits inverted in a second row (a reader takes only frames
//! whose rows agree), then encoded live by x264 (zero latency, a keyframe every second). A page
//! reads the blocks back from the `<video>` element and compares them with its own clock.

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use rtsp::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Picture size.
const WIDTH: usize = 640;
const HEIGHT: usize = 360;
/// Frames per second.
const FPS: u32 = 25;
/// Each bit's block: 20 pixels wide, 40 high; the rows start at these lines.
const BLOCK_WIDTH: usize = 20;
const BLOCK_HEIGHT: usize = 40;
/// First lines of the time's row and of its inverse.
pub const ROWS: [usize; 2] = [40, 100];

/// An I420 frame showing `millis`.
pub fn paint(millis: u32) -> Vec<u8> {
    let luma = WIDTH * HEIGHT;
    let mut frame = vec![128u8; luma + luma / 2];
    for (row, top) in ROWS.iter().enumerate() {
        for bit in 0..32 {
            let set = (millis >> (31 - bit)) & 1 == 1;
            let white = set != (row == 1);
            let value = if white { 235 } else { 16 };
            for y in *top..top + BLOCK_HEIGHT {
                let start = y * WIDTH + bit * BLOCK_WIDTH;
                frame[start..start + BLOCK_WIDTH].fill(value);
            }
        }
    }
    frame
}

/// The factory of `/clock0` (shared: one encoder however many clients).
pub fn factory() -> rtsp::RTSPMediaFactory {
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=src is-live=true do-timestamp=true format=time \
             caps=video/x-raw,format=I420,width={WIDTH},height={HEIGHT},framerate={FPS}/1 \
           ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={FPS} bitrate=1500 \
           ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    ));
    factory.set_shared(true);
    factory.connect_media_configure(|_factory, media| {
        let element = media.element();
        let Some(src) = element
            .downcast_ref::<gst::Bin>()
            .and_then(|bin| bin.by_name("src"))
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("sim-clock".into())
            .spawn(move || paint_forever(&src));
    });
    factory
}

/// Pushes a frame showing the time every 40 ms until the media goes away.
#[allow(
    clippy::disallowed_methods,
    reason = "runs on its own OS thread, never in async code"
)]
fn paint_forever(src: &gst_app::AppSrc) {
    let frame = Duration::from_secs(1) / FPS;
    let start = std::time::Instant::now();
    for n in 1u32.. {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u32);
        let mut buffer = gst::Buffer::from_mut_slice(paint(millis));
        if let Some(b) = buffer.get_mut() {
            b.set_duration(gst::ClockTime::from_nseconds(frame.as_nanos() as u64));
        }
        if src.push_buffer(buffer).is_err() {
            return;
        }
        let due = start + frame * n;
        std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the time back as a page does: the middle of each block, both rows agreeing.
    fn read(frame: &[u8]) -> Option<u32> {
        let bits = |top: usize| {
            (0..32).fold(0u32, |acc, bit| {
                let y = top + BLOCK_HEIGHT / 2;
                let x = bit * BLOCK_WIDTH + BLOCK_WIDTH / 2;
                (acc << 1) | u32::from(frame[y * WIDTH + x] > 128)
            })
        };
        let (time, inverse) = (bits(ROWS[0]), bits(ROWS[1]));
        (time == !inverse).then_some(time)
    }

    #[test]
    fn a_painted_time_reads_back() {
        for millis in [0, 1, 0x8000_0001, 1_733_000_123, u32::MAX] {
            assert_eq!(read(&paint(millis)), Some(millis));
        }
    }
}
