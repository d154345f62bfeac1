//! Retries with exponential back-off.

use std::time::Duration;

/// How often a step is tried and how long to wait in between.
///
/// Attempt `n` (1-based) that fails waits `initial_backoff * multiplier^(n-1)`, capped at
/// `max_backoff`, before attempt `n + 1`. No jitter is added, so waits are reproducible.
///
/// ```
/// use berth_pipeline::RetryPolicy;
/// use std::time::Duration;
/// let p = RetryPolicy::attempts(4).backoff(Duration::from_millis(100), 2, Duration::from_millis(250));
/// assert_eq!(p.delay_after(1), Duration::from_millis(100));
/// assert_eq!(p.delay_after(2), Duration::from_millis(200));
/// assert_eq!(p.delay_after(3), Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, at least 1 (1 = no retry).
    pub max_attempts: u32,
    /// Wait after the first failed attempt.
    pub initial_backoff: Duration,
    /// Factor applied to the wait after every further failure.
    pub multiplier: u32,
    /// Longest wait.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// One attempt, no retry.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(100),
            multiplier: 2,
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// `n` attempts in total (0 is taken as 1), default back-off.
    pub fn attempts(n: u32) -> Self {
        RetryPolicy {
            max_attempts: n.max(1),
            ..RetryPolicy::default()
        }
    }

    /// This policy with the given back-off.
    pub fn backoff(mut self, initial: Duration, multiplier: u32, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.multiplier = multiplier.max(1);
        self.max_backoff = max;
        self
    }

    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1);
        let factor = self.multiplier.max(1).saturating_pow(exp);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}
