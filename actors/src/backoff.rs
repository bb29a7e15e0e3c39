//! Exponential reconnect backoff with jitter, so cameras that fail together do not retry together.

use rand::Rng;
use std::time::Duration;

/// Delay before reconnect attempt `attempt` (0-based): `initial * 2^attempt`, capped at `max`, then
/// scaled by a random factor in `[0.75, 1.25)` (and capped again).
pub fn reconnect_delay(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let base = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let factor = rand::rng().random_range(0.75..1.25);
    base.mul_f64(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_jitter() {
        let initial = Duration::from_millis(500);
        let max = Duration::from_secs(30);
        for _ in 0..100 {
            let d0 = reconnect_delay(0, initial, max);
            assert!(
                d0 >= Duration::from_millis(375) && d0 < Duration::from_millis(625),
                "{d0:?}"
            );
            let d3 = reconnect_delay(3, initial, max);
            assert!(
                d3 >= Duration::from_secs(3) && d3 < Duration::from_secs(5),
                "{d3:?}"
            );
            assert!(reconnect_delay(40, initial, max) <= max);
        }
    }
}
