//! [`KeeperConfig`]: the keeper's timing.

use crate::sharding::shard::DEFAULT_SHARDS_PER_GROUP;
use berth_core::{Error, Result};
use std::time::Duration;

/// How a [`ShardKeeper`](crate::ShardKeeper) paces itself. The lease TTL comes from the
/// [`RunnerStorage`](crate::RunnerStorage) it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeeperConfig {
    /// Time between rounds (refresh, rebalance, acquire). Default 10 s.
    pub refresh_interval: Duration,
    /// Shards in each group. Default 300; must be the same on every runner.
    pub shards_per_group: u32,
    /// How long before a lease could lapse in the store the keeper stops believing in it.
    /// Covers the store's millisecond timestamps and clock-rate differences. Default 1 s.
    pub safety_margin: Duration,
    /// First pause between retries while storage fails; doubles up to `refresh_interval`.
    /// Default 500 ms.
    pub retry_backoff: Duration,
    /// Events buffered per subscriber before a slow one starts missing them. Default 4096.
    pub event_capacity: usize,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        KeeperConfig {
            refresh_interval: Duration::from_secs(10),
            shards_per_group: DEFAULT_SHARDS_PER_GROUP,
            safety_margin: Duration::from_secs(1),
            retry_backoff: Duration::from_millis(500),
            event_capacity: 4096,
        }
    }
}

impl KeeperConfig {
    /// This config with rounds every `interval`.
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// This config with `n` shards per group.
    pub fn with_shards_per_group(mut self, n: u32) -> Self {
        self.shards_per_group = n;
        self
    }

    /// This config with `margin` of safety before a lease could lapse.
    pub fn with_safety_margin(mut self, margin: Duration) -> Self {
        self.safety_margin = margin;
        self
    }

    /// This config with a first retry pause of `backoff`.
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// This config buffering `capacity` events per subscriber.
    pub fn with_event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// The deadline of every storage call: `min(refresh_interval, ttl / 3)`.
    pub fn call_timeout(&self, ttl: Duration) -> Duration {
        self.refresh_interval.min(ttl / 3)
    }

    /// Checks that leases can be kept alive with `ttl`: a refresh that starts one interval
    /// after the last and takes its whole deadline must still end inside the margin.
    pub fn validate(&self, ttl: Duration) -> Result<()> {
        let bad = |reason: String| Err(Error::invalid("keeper config", reason));
        if self.refresh_interval.is_zero() || self.retry_backoff.is_zero() {
            return bad("refresh_interval and retry_backoff must be above zero".into());
        }
        if self.shards_per_group == 0 {
            return bad("shards_per_group must be at least 1".into());
        }
        if self.safety_margin < Duration::from_millis(1) {
            return bad("safety_margin must be at least 1 ms (stores keep milliseconds)".into());
        }
        if self.event_capacity == 0 {
            return bad("event_capacity must be at least 1".into());
        }
        let needed = self.refresh_interval + self.call_timeout(ttl) + self.safety_margin;
        if needed >= ttl {
            return bad(format!(
                "ttl {ttl:?} must exceed refresh_interval + call timeout + safety_margin = {needed:?}"
            ));
        }
        Ok(())
    }
}
