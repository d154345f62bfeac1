//! Runner liveness from sessions: expiry drops a runner and frees its shards, an empty refresh
//! is a heartbeat, unregister releases, a paused runner takes back what nobody took, and a
//! hung storage call fails fast.

mod support;

use berth_core::{ErrorKind, ManualClock, OpenOptions, Store, Timestamp};
use berth_runner_storage::{Runner, RunnerAddress, RunnerStorage, ShardId};
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(35);

fn setup() -> (Store, RunnerStorage, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(1_000_000));
    let store =
        berth_state_memory::open(OpenOptions::default().with_clock(Arc::new(clock.clone())));
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    (store, storage, clock)
}

fn addr(a: &str) -> RunnerAddress {
    a.parse().unwrap()
}

fn shards(n: usize) -> Vec<ShardId> {
    (1..=n)
        .map(|i| format!("default:{i}").parse().unwrap())
        .collect()
}

async fn listed(storage: &RunnerStorage) -> Vec<String> {
    storage
        .runners()
        .await
        .unwrap()
        .iter()
        .map(|r| r.runner.address().to_string())
        .collect()
}

#[tokio::test]
async fn an_expired_runner_is_dropped_and_its_shards_are_free() {
    let (_store, storage, clock) = setup();
    let other = RunnerStorage::from_store(&_store).with_ttl(TTL);
    storage
        .register(&Runner::new(addr("a:1")), true)
        .await
        .unwrap();
    other
        .register(&Runner::new(addr("b:1")), true)
        .await
        .unwrap();
    let held = storage.acquire(&addr("a:1"), &shards(3)).await.unwrap();
    assert_eq!(held.len(), 3);
    clock.advance(TTL - Duration::from_secs(1));
    other.refresh(&addr("b:1"), &[]).await.unwrap();
    assert_eq!(listed(&other).await, ["a:1", "b:1"]);
    clock.advance(Duration::from_secs(1));
    assert_eq!(listed(&other).await, ["b:1"], "a:1's session expired");
    let taken = other.acquire(&addr("b:1"), &shards(3)).await.unwrap();
    assert_eq!(taken.len(), 3, "its shards are free at once");
    assert!(taken.iter().zip(&held).all(|(n, o)| n.token > o.token));
    assert!(storage
        .refresh(&addr("a:1"), &shards(3))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_empty_refresh_is_a_heartbeat() {
    let (_store, storage, clock) = setup();
    storage
        .register(&Runner::new(addr("a:1")), true)
        .await
        .unwrap();
    for _ in 0..4 {
        clock.advance(TTL - Duration::from_secs(1));
        assert!(storage.refresh(&addr("a:1"), &[]).await.unwrap().is_empty());
    }
    assert_eq!(
        listed(&storage).await,
        ["a:1"],
        "kept alive 4 × 34 s by heartbeats"
    );
    clock.advance(TTL);
    assert!(listed(&storage).await.is_empty());
}

#[tokio::test]
async fn refresh_keeps_every_shard_and_its_token() {
    let (_store, storage, clock) = setup();
    storage
        .register(&Runner::new(addr("a:1")), true)
        .await
        .unwrap();
    let held = storage.acquire(&addr("a:1"), &shards(300)).await.unwrap();
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        let kept = storage.refresh(&addr("a:1"), &shards(300)).await.unwrap();
        assert_eq!(kept.len(), 300);
        assert!(kept
            .iter()
            .zip(&held)
            .all(|(k, h)| k.token == h.token && k.shard == h.shard));
    }
}

#[tokio::test]
async fn unregister_releases_the_runners_leases() {
    let (store, storage, _clock) = setup();
    storage
        .register(&Runner::new(addr("a:1")), true)
        .await
        .unwrap();
    storage.acquire(&addr("a:1"), &shards(5)).await.unwrap();
    storage.unregister(&addr("a:1")).await.unwrap();
    for s in shards(5) {
        assert!(storage.lease(&s).await.unwrap().is_none(), "{s} released");
    }
    assert!(
        store.sessions().live().await.unwrap().is_empty(),
        "its session is closed"
    );
    assert!(listed(&storage).await.is_empty());
}

#[tokio::test]
async fn a_paused_runner_takes_back_what_nobody_took_with_new_tokens() {
    let (store, storage, clock) = setup();
    let other = RunnerStorage::from_store(&store).with_ttl(TTL);
    storage
        .register(&Runner::new(addr("a:1")), true)
        .await
        .unwrap();
    other
        .register(&Runner::new(addr("b:1")), true)
        .await
        .unwrap();
    let held = storage.acquire(&addr("a:1"), &shards(2)).await.unwrap();
    clock.advance(TTL + Duration::from_secs(5)); // SIGSTOP longer than the TTL
    other.refresh(&addr("b:1"), &[]).await.unwrap();
    let stolen = other.acquire(&addr("b:1"), &shards(2)[1..]).await.unwrap();
    assert_eq!(stolen.len(), 1);
    assert!(
        storage
            .refresh(&addr("a:1"), &shards(2))
            .await
            .unwrap()
            .is_empty(),
        "lapsed"
    );
    let back = storage.acquire(&addr("a:1"), &shards(2)).await.unwrap();
    assert_eq!(back.len(), 1, "only the shard nobody took");
    assert_eq!(back[0].shard, held[0].shard);
    assert!(back[0].token > held[0].token, "a new grant");
    assert_eq!(listed(&storage).await, ["a:1", "b:1"], "listed again");
    let mut stale = berth_core::Batch::new();
    stale
        .put("e", "k", serde_json::json!(1))
        .when(held[0].fence());
    assert_eq!(
        store.commit(stale).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_storage_call_fails_fast_and_retryably() {
    let store = berth_state_memory::open(OpenOptions::default());
    let (leases, switch) = support::Faulty::wrap(store.leases().clone());
    let storage = RunnerStorage::new(leases)
        .with_ttl(TTL)
        .with_call_timeout(Duration::from_secs(2));
    assert_eq!(storage.call_timeout(), Duration::from_secs(2));
    switch.hang();
    let started = tokio::time::Instant::now();
    let err = storage.acquire(&addr("a:1"), &shards(3)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let err = storage.runners().await.unwrap_err();
    assert!(err.is_retryable());
    switch.heal();
    assert_eq!(
        storage
            .acquire(&addr("a:1"), &shards(3))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        RunnerStorage::new(store.leases().clone()).call_timeout(),
        TTL / 3
    );
}
