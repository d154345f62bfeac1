//! The lease-backed keyed lock: exclusion between handles that share a store but not their
//! in-process locks (as two processes would), lapse and takeover by the store's clock, refresh,
//! loss detection, fences, release on drop, and no deadlock on overlapping key sets.

use berth_core::{Batch, ErrorKind, ManualClock, OpenOptions, Store, Timestamp};
use berth_runner_storage::{lease_name, KeyLock, LeaseKeyLock, LeaseLockConfig};
use std::sync::Arc;
use std::time::Duration;

fn config(holder: &str) -> LeaseLockConfig {
    LeaseLockConfig {
        ttl: Duration::from_secs(10),
        refresh_every: Duration::from_secs(3600),
        wait_timeout: Duration::from_millis(150),
        backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(10),
        holder: holder.to_owned(),
    }
}

/// Two handles on one memory store (on `clock`) with separate in-process locks.
fn two_processes(clock: &ManualClock) -> (Store, Store) {
    let base = berth_state_memory::open(OpenOptions::default().with_clock(Arc::new(clock.clone())));
    let other = Store::builder(
        "memory",
        base.records().clone(),
        base.leases().clone(),
        base.capabilities(),
        base.options().clone(),
    )
    .build();
    (base, other)
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

async fn wait_until<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(what: &str, f: F) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

#[tokio::test]
async fn a_held_key_excludes_another_process_until_released() {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let (s1, s2) = two_processes(&clock);
    let (a, b) = (
        LeaseKeyLock::new(&s1, config("a")),
        LeaseKeyLock::new(&s2, config("b")),
    );
    let held = a.lock(&keys(&["worker-image:p:x"])).await.unwrap();
    let refused = b.lock(&keys(&["worker-image:p:x"])).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Backend);
    assert!(refused.is_retryable());
    // Another key is free meanwhile.
    b.lock(&keys(&["worker-image:p:y"]))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
    held.release().await.unwrap();
    let now = b.lock(&keys(&["worker-image:p:x"])).await.unwrap();
    now.release().await.unwrap();
    assert!(s1
        .leases()
        .lease(&lease_name("worker-image:p:x"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_lapsed_lock_is_taken_over_and_its_fences_refuse_writes() {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let (s1, s2) = two_processes(&clock);
    let a = LeaseKeyLock::new(&s1, config("a"));
    let b = LeaseKeyLock::new(&s2, config("b"));
    let stale = a.lock(&keys(&["k"])).await.unwrap();
    let mut batch = Batch::new();
    batch.put("c", "1", serde_json::json!(1));
    for fence in stale.fences() {
        batch.check("lock-fences", "k", fence);
    }
    s1.commit(batch.clone()).await.expect("accepted while held");

    clock.advance(Duration::from_secs(11)); // past the TTL, never refreshed
    let fresh = b
        .lock(&keys(&["k"]))
        .await
        .expect("lapsed lease taken over");
    let refused = s1.commit(batch).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::StaleFence);
    fresh.release().await.unwrap();
    stale.release().await.unwrap();
}

#[tokio::test]
async fn refresh_keeps_the_lock_and_a_lost_lease_is_reported() {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let (s1, s2) = two_processes(&clock);
    let refreshing = LeaseLockConfig {
        refresh_every: Duration::from_millis(10),
        ..config("a")
    };
    let a = LeaseKeyLock::new(&s1, refreshing);
    let b = LeaseKeyLock::new(&s2, config("b"));
    let held = a.lock(&keys(&["k"])).await.unwrap();
    let shard = lease_name("k");
    let first = s1.leases().lease(&shard).await.unwrap().unwrap().expires_at;
    clock.advance(Duration::from_secs(6));
    wait_until("a refresh moved the expiry", || async {
        s1.leases()
            .lease(&shard)
            .await
            .unwrap()
            .is_some_and(|l| l.expires_at > first)
    })
    .await;
    clock.advance(Duration::from_secs(6)); // 12 s after the grant, but refreshed at 6 s
    assert!(
        b.lock(&keys(&["k"])).await.is_err(),
        "still held thanks to refresh"
    );
    assert!(!held.is_lost());

    // Someone else takes the shard (as after a long pause of the holder): reported lost.
    s1.leases()
        .release_all(&s1.leases().lease(&shard).await.unwrap().unwrap().owner)
        .await
        .unwrap();
    let thief = b.lock(&keys(&["k"])).await.unwrap();
    wait_until("the holder noticed", || async { held.is_lost() }).await;
    thief.release().await.unwrap();
    held.release().await.unwrap();
}

#[tokio::test]
async fn a_dropped_guard_releases_in_the_background() {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let (s1, _) = two_processes(&clock);
    let a = LeaseKeyLock::new(&s1, config("a"));
    drop(a.lock(&keys(&["k"])).await.unwrap());
    wait_until("the lease is released", || async {
        s1.leases().lease(&lease_name("k")).await.unwrap().is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_key_sets_in_opposite_orders_never_deadlock() {
    let clock = ManualClock::new(Timestamp::from_millis(0));
    let (s1, s2) = two_processes(&clock);
    let patient = |h: &str| LeaseLockConfig {
        wait_timeout: Duration::from_secs(5),
        ..config(h)
    };
    let (a, b) = (
        LeaseKeyLock::new(&s1, patient("a")),
        LeaseKeyLock::new(&s2, patient("b")),
    );
    let run = |lock: LeaseKeyLock, order: Vec<String>| {
        tokio::spawn(async move {
            for _ in 0..25 {
                lock.lock(&order).await.unwrap().release().await.unwrap();
            }
        })
    };
    let all = async {
        let (x, y) = tokio::join!(run(a, keys(&["x", "y"])), run(b, keys(&["y", "x"])));
        x.unwrap();
        y.unwrap();
    };
    tokio::time::timeout(Duration::from_secs(9), all)
        .await
        .expect("no deadlock");
    for k in ["x", "y"] {
        assert!(s1.leases().lease(&lease_name(k)).await.unwrap().is_none());
    }
}
