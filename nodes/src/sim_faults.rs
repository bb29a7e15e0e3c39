//! `vms sim --faults`: the camera quirks a recorder meets in the field, on a fixed schedule so a
//! test knows what to expect. Every camera repeats a 20 s cycle from when it starts:
//!
//! - at 6 s its picture size changes (the other clip, with other parameter sets, sent in-band from
//!   its first keyframe on) and at the cycle's end it changes back;
//! - at 11 s its RTP timestamps jump 5 s backwards (and stay shifted);
//! - from 16 s to 18 s it stalls: no frame at all, less than a recorder's watchdog.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Length of one cycle of faults.
pub const CYCLE: Duration = Duration::from_secs(20);
/// When, in a cycle, the picture size changes.
const SWITCH_AT: Duration = Duration::from_secs(6);
/// When, in a cycle, the RTP timestamps jump backwards.
const JUMP_AT: Duration = Duration::from_secs(11);
/// How far they jump, in 90 kHz ticks (5 s).
const JUMP_TICKS: u32 = 5 * 90_000;
/// When, in a cycle, the camera stalls, and for how long.
const STALL_AT: Duration = Duration::from_secs(16);
const STALL: Duration = Duration::from_secs(2);

/// What a faulty camera does at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultState {
    /// It sends the other clip (other picture size and parameter sets).
    pub other_clip: bool,
    /// It sends nothing.
    pub stalled: bool,
    /// How far back its RTP timestamps have been shifted, in 90 kHz ticks.
    pub rtp_shift: u32,
}

/// The faults at `elapsed` since the camera started.
pub fn state_at(elapsed: Duration) -> FaultState {
    let cycles = u32::try_from(elapsed.as_secs() / CYCLE.as_secs()).unwrap_or(u32::MAX);
    let within =
        Duration::from_nanos(u64::try_from(elapsed.as_nanos() % CYCLE.as_nanos()).unwrap_or(0));
    let jumps = cycles.saturating_add(u32::from(within >= JUMP_AT));
    FaultState {
        other_clip: within >= SWITCH_AT,
        stalled: within >= STALL_AT && within < STALL_AT + STALL,
        rtp_shift: jumps.wrapping_mul(JUMP_TICKS),
    }
}

/// Subtracts `shift` ticks from the timestamp of the RTP packet in `buffer`.
fn shift_rtp(buffer: &mut gst::BufferRef, shift: u32) {
    let Ok(mut map) = buffer.map_writable() else {
        return;
    };
    if let Some(field) = map.get_mut(4..8) {
        let ts = u32::from_be_bytes([field[0], field[1], field[2], field[3]]);
        field.copy_from_slice(&ts.wrapping_sub(shift).to_be_bytes());
    }
}

/// Shifts the RTP timestamps leaving `payloader` back by what `shift` holds at the time.
pub fn shift_timestamps(payloader: &gst::Element, shift: Arc<AtomicU32>) {
    let Some(pad) = payloader.static_pad("src") else {
        return;
    };
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_pad, info| {
            let by = shift.load(Ordering::Relaxed);
            if by == 0 {
                return gst::PadProbeReturn::Ok;
            }
            match &mut info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => shift_rtp(buffer.make_mut(), by),
                Some(gst::PadProbeData::BufferList(list)) => {
                    list.make_mut().foreach_mut(|mut buffer, _| {
                        shift_rtp(buffer.make_mut(), by);
                        ControlFlow::Continue(Some(buffer))
                    });
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_repeats_every_cycle() {
        let at = |s: f64| state_at(Duration::from_secs_f64(s));
        assert_eq!(
            at(1.0),
            FaultState {
                other_clip: false,
                stalled: false,
                rtp_shift: 0
            }
        );
        assert!(at(6.5).other_clip && !at(6.5).stalled);
        assert_eq!(at(12.0).rtp_shift, JUMP_TICKS);
        assert!(at(17.0).stalled && !at(18.5).stalled);
        assert!(!at(21.0).other_clip, "back to the first clip");
        assert_eq!(at(21.0).rtp_shift, JUMP_TICKS);
        assert_eq!(at(31.0).rtp_shift, 2 * JUMP_TICKS);
    }
}
