//! Time as the actors read it, wall-clock and monotonic, from a [`Clock`]: the system's in
//! production, a [`SimulatedClock`] that moves only when told in tests, so that code judging ages
//! and deadlines (the camera watchdog, membership's verdicts) is tested in simulated time. A base
//! module: it imports nothing of this crate.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Where time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall-clock time.
    fn now(&self) -> DateTime<Utc>;

    /// Monotonic time.
    fn instant(&self) -> Instant;

    /// Monotonic time since `earlier` (zero if `earlier` is later).
    fn since(&self, earlier: Instant) -> Duration {
        self.instant().saturating_duration_since(earlier)
    }
}

/// The system's clocks.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock, shared.
pub fn system() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A clock that stands still until [`SimulatedClock::advance`] moves both its times.
#[derive(Debug)]
pub struct SimulatedClock {
    wall: DateTime<Utc>,
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl Default for SimulatedClock {
    fn default() -> Self {
        Self {
            wall: Utc::now(),
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }
}

impl SimulatedClock {
    /// Moves time on by `by`.
    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(self.elapsed()).unwrap_or(chrono::TimeDelta::MAX)
    }

    fn instant(&self) -> Instant {
        self.start + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_time_moves_only_when_told() {
        let clock = SimulatedClock::default();
        let (wall, mono) = (clock.now(), clock.instant());
        assert_eq!((clock.now(), clock.since(mono)), (wall, Duration::ZERO));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.since(mono), Duration::from_millis(1500));
        assert_eq!((clock.now() - wall).num_milliseconds(), 1500);
    }
}
