//! Back-off after failed starts and crashes: exponential windows and a failure cap.

use berth_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How failures of a key are punished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackoffPolicy {
    /// First window. Default 1 s.
    pub base: Duration,
    /// Largest window. Default 60 s.
    pub max: Duration,
    /// After this many consecutive failures the key is refused until `clear_backoff`.
    /// Default 10.
    pub max_failures: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
            max_failures: 10,
        }
    }
}

impl BackoffPolicy {
    /// A policy with these values.
    pub fn new(base: Duration, max: Duration, max_failures: u32) -> Self {
        BackoffPolicy {
            base,
            max,
            max_failures,
        }
    }

    /// The window after the `attempt`-th consecutive failure: `base * 2^(attempt-1)`, capped.
    pub fn window(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// A key's consecutive-failure state; persisted in its record so it survives a host restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffState {
    /// Consecutive failures.
    pub attempt: u32,
    /// `ensure` refuses the key before this time.
    pub retry_at: Timestamp,
    /// The last failure.
    pub last_error: String,
    /// When the last failure happened (absent in records of older versions).
    #[serde(default)]
    pub failed_at: Option<Timestamp>,
}

/// What a back-off state says about starting now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead.
    Allowed,
    /// Inside the window.
    Wait(Duration),
    /// At the failure cap.
    Refused,
}

impl BackoffState {
    /// The state after one more failure at `now`. Failures decay: when the previous one is
    /// `decay` or more in the past, the count starts again at 1 (a tenant that crashes once
    /// a day is never refused).
    pub(crate) fn next(
        previous: Option<&BackoffState>,
        policy: &BackoffPolicy,
        decay: Duration,
        now: Timestamp,
        error: String,
    ) -> BackoffState {
        let previous = previous.filter(|b| match b.failed_at {
            Some(at) => decay.is_zero() || now.since(at) < decay,
            None => true,
        });
        let attempt = previous.map_or(0, |b| b.attempt).saturating_add(1);
        BackoffState {
            attempt,
            retry_at: now.plus(policy.window(attempt)),
            last_error: error,
            failed_at: Some(now),
        }
    }

    /// Whether a start is allowed at `now`.
    pub(crate) fn verdict(&self, policy: &BackoffPolicy, now: Timestamp) -> Verdict {
        if self.attempt >= policy.max_failures {
            Verdict::Refused
        } else if self.retry_at > now {
            Verdict::Wait(self.retry_at.since(now))
        } else {
            Verdict::Allowed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_and_cap() {
        let p = BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(5), 10);
        let w: Vec<u64> = (1..=5).map(|a| p.window(a).as_secs()).collect();
        assert_eq!(w, vec![1, 2, 4, 5, 5]);
        assert_eq!(p.window(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn verdicts() {
        let p = BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(60), 2);
        let t0 = Timestamp::from_millis(10_000);
        let decay = Duration::from_secs(600);
        let one = BackoffState::next(None, &p, decay, t0, "boom".into());
        assert_eq!(one.verdict(&p, t0), Verdict::Wait(Duration::from_secs(1)));
        assert_eq!(
            one.verdict(&p, t0.plus(Duration::from_secs(1))),
            Verdict::Allowed
        );
        let two = BackoffState::next(Some(&one), &p, decay, t0, "boom".into());
        assert_eq!(two.attempt, 2);
        assert_eq!(
            two.verdict(&p, t0.plus(Duration::from_secs(99))),
            Verdict::Refused
        );
        // A failure long after the previous one starts the count again.
        let later = t0.plus(Duration::from_secs(601));
        let fresh = BackoffState::next(Some(&one), &p, decay, later, "boom".into());
        assert_eq!(fresh.attempt, 1);
    }
}
