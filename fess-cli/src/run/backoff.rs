//! When a failed camera is tried again: 1 s doubling to 60 s (a camera's `retry-delay` and
//! `max-retry-delay`), each delay jittered so cameras that failed together (a switch rebooted)
//! do not all come back in the same instant, and back to the first delay once a camera has been
//! healthy for a minute.

use std::time::Duration;

pub const FIRST_DELAY: Duration = Duration::from_secs(1);
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A camera running this long without a failure starts again from its first delay.
pub const HEALTHY_RESET: Duration = Duration::from_secs(60);
/// Each delay is the nominal one times a factor from 1 − JITTER to 1 + JITTER.
const JITTER: f64 = 0.2;

#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// Failures since the camera was last healthy for [`HEALTHY_RESET`].
    attempt: u32,
    rng: u64,
}

impl Backoff {
    /// Delays from `first` doubling to `max`; `seed` spreads the jitter of different cameras
    /// (their id's hash, the time).
    pub fn new(first: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            first,
            max,
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// Failures in a row so far.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Counts a failure and returns how long to wait before the next try.
    pub fn failed(&mut self) -> Duration {
        let nominal = self
            .first
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        nominal.mul_f64(1.0 + JITTER * (2.0 * self.uniform() - 1.0))
    }

    /// The camera has been healthy for `healthy`: forget old failures after [`HEALTHY_RESET`].
    pub fn healthy_for(&mut self, healthy: Duration) {
        if healthy >= HEALTHY_RESET {
            self.attempt = 0;
        }
    }

    /// A number in [0, 1) (xorshift64*: jitter needs no better).
    fn uniform(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_a_minute_with_jitter_and_reset_after_health() {
        let mut b = Backoff::new(FIRST_DELAY, MAX_DELAY, 42);
        let delays: Vec<f64> = (0..10).map(|_| b.failed().as_secs_f64()).collect();
        let nominal = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0];
        for (d, n) in delays.iter().zip(nominal) {
            assert!((d / n - 1.0).abs() <= JITTER + 1e-9, "{d} for {n}");
        }
        // Jittered: not all the same factor.
        let factors: Vec<f64> = delays.iter().zip(nominal).map(|(d, n)| d / n).collect();
        assert!(factors.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-3));
        assert_eq!(b.attempt(), 10);
        b.healthy_for(Duration::from_secs(59));
        assert_eq!(b.attempt(), 10);
        b.healthy_for(HEALTHY_RESET);
        assert_eq!(b.attempt(), 0);
        assert!(b.failed() <= FIRST_DELAY.mul_f64(1.0 + JITTER));
    }

    #[test]
    fn two_cameras_failing_together_come_back_apart() {
        let (mut a, mut b) = (
            Backoff::new(FIRST_DELAY, MAX_DELAY, 1),
            Backoff::new(FIRST_DELAY, MAX_DELAY, 2),
        );
        assert_ne!(a.failed(), b.failed());
    }
}
