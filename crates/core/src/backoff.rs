//! Capped exponential back-off with full jitter, for retrying within an operation's deadline.

use std::time::{Duration, Instant};

/// Delays between attempts of an operation that met contention or a transient fault.
///
/// Attempt `n` waits a random time in `[0, min(cap, first × 2ⁿ)]` ("full jitter"), so writers
/// that collided spread out instead of colliding again in lock step.
///
/// ```
/// use berth_core::Backoff;
/// use std::time::Duration;
/// let backoff = Backoff::new(Duration::from_millis(2), Duration::from_millis(100));
/// assert!(backoff.delay(0) <= Duration::from_millis(2));
/// assert!(backoff.delay(30) <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The largest delay after the first failed attempt.
    pub first: Duration,
    /// No delay is longer than this.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 2 ms doubling up to 250 ms.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(2), Duration::from_millis(250))
    }
}

impl Backoff {
    /// Delays starting at up to `first`, doubling, never over `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Backoff { first, cap }
    }

    /// The ceiling of the delay after failed attempt `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// A random delay in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return ceiling;
        }
        // Without an entropy source the full ceiling is still a correct (if less spread) delay.
        let random = getrandom::u64().unwrap_or(u64::MAX);
        Duration::from_nanos(random % nanos.saturating_add(1))
    }

    /// The delay after failed attempt `attempt`, or `None` if waiting it would pass `deadline`.
    pub fn delay_before(&self, attempt: u32, deadline: Instant) -> Option<Duration> {
        let delay = self.delay(attempt);
        let left = deadline.checked_duration_since(Instant::now())?;
        (delay < left).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap_and_are_jittered() {
        let b = Backoff::new(Duration::from_millis(1), Duration::from_millis(64));
        assert_eq!(b.ceiling(0), Duration::from_millis(1));
        assert_eq!(b.ceiling(3), Duration::from_millis(8));
        assert_eq!(b.ceiling(6), Duration::from_millis(64));
        assert_eq!(b.ceiling(40), Duration::from_millis(64));
        let delays: Vec<Duration> = (0..64).map(|_| b.delay(10)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(64)));
        let first = delays[0];
        assert!(delays.iter().any(|d| *d != first), "jitter spreads delays");
    }

    #[test]
    fn no_delay_past_the_deadline() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        assert_eq!(b.delay_before(0, Instant::now()), None);
    }
}
