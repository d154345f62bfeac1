//! The seed's storage behaviours, through the typed service, on the memory backend.

use berth_core::{Batch, ErrorKind, ManualClock, OpenOptions, Store, Timestamp};
use berth_runner_storage::{Runner, RunnerAddress, RunnerStorage, ShardId};
use std::collections::BTreeMap;
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

fn runner(addr: &str) -> Runner {
    Runner::new(addr.parse().unwrap())
}

fn shards(ids: &[&str]) -> Vec<ShardId> {
    ids.iter().map(|s| s.parse().unwrap()).collect()
}

fn names(leases: &[berth_runner_storage::ShardLease]) -> Vec<String> {
    let mut v: Vec<String> = leases.iter().map(|l| l.shard.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn registering_the_same_address_twice_keeps_the_machine_id() {
    let (_store, storage, _clock) = setup();
    let a = runner("10.0.0.1:1");
    let id1 = storage.register(&a, true).await.unwrap();
    let heavier = a.clone().with_weight(5);
    let id2 = storage.register(&heavier, false).await.unwrap();
    assert_eq!(id1, id2);
    let other = storage.register(&runner("10.0.0.2:1"), true).await.unwrap();
    assert_ne!(other, id1);
    let listed = storage.runners().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].runner, heavier,
        "re-registering replaces the description"
    );
    assert!(!listed[0].healthy);
    assert_eq!(listed[0].machine_id, id1);
}

#[tokio::test]
async fn runners_are_listed_with_health_then_gone_after_unregister() {
    let (_store, storage, _clock) = setup();
    let (a, b) = (runner("a:1"), runner("b:1"));
    storage.register(&a, true).await.unwrap();
    storage.register(&b, true).await.unwrap();
    storage.set_runner_health(b.address(), false).await.unwrap();
    let health: Vec<(String, bool)> = storage
        .runners()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.runner.address().to_string(), r.healthy))
        .collect();
    assert_eq!(
        health,
        [("a:1".to_string(), true), ("b:1".to_string(), false)]
    );
    storage.unregister(a.address()).await.unwrap();
    let left: Vec<String> = storage
        .runners()
        .await
        .unwrap()
        .iter()
        .map(|r| r.runner.address().to_string())
        .collect();
    assert_eq!(left, ["b:1"]);
    storage.unregister(a.address()).await.unwrap();
    let missing = storage.set_runner_health(a.address(), true).await;
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn undecodable_registry_entries_are_skipped() {
    let (store, storage, _clock) = setup();
    storage.register(&runner("a:1"), true).await.unwrap();
    let raw = store.leases();
    raw.register("b:1", "written by something else", true)
        .await
        .unwrap();
    raw.register("c:1", &runner("d:1").encode(), true)
        .await
        .unwrap();
    let listed = storage.runners().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].runner.address().to_string(), "a:1");
}

#[tokio::test]
async fn acquire_is_idempotent_for_the_holder() {
    let (_store, storage, clock) = setup();
    let a: RunnerAddress = "a:1".parse().unwrap();
    let first = storage.acquire(&a, &shards(&["g:1", "g:2"])).await.unwrap();
    assert_eq!(names(&first), ["g:1", "g:2"]);
    clock.advance(Duration::from_secs(10));
    let again = storage.acquire(&a, &shards(&["g:1", "g:2"])).await.unwrap();
    let tokens = |ls: &[berth_runner_storage::ShardLease]| {
        ls.iter()
            .map(|l| (l.shard.to_string(), l.token))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        tokens(&first),
        tokens(&again),
        "the holder keeps its tokens"
    );
    assert!(
        again.iter().all(|l| l.expires_at > first[0].expires_at),
        "and is extended"
    );
    assert!(again.iter().all(|l| l.owner == a));
    assert!(storage.acquire(&a, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn refresh_returns_only_what_is_still_held() {
    let (_store, storage, clock) = setup();
    let (a, b): (RunnerAddress, RunnerAddress) = ("a:1".parse().unwrap(), "b:1".parse().unwrap());
    storage
        .acquire(&a, &shards(&["g:1", "g:2", "g:3"]))
        .await
        .unwrap();
    storage.release(&a, &"g:2".parse().unwrap()).await.unwrap();
    storage.acquire(&b, &shards(&["g:2"])).await.unwrap();
    let kept = storage
        .refresh(&a, &shards(&["g:1", "g:2", "g:3", "g:4"]))
        .await
        .unwrap();
    assert_eq!(names(&kept), ["g:1", "g:3"]);
    clock.advance(TTL);
    let lapsed = storage.refresh(&a, &shards(&["g:1", "g:3"])).await.unwrap();
    assert!(
        lapsed.is_empty(),
        "a lapsed lease is not refreshed: {lapsed:?}"
    );
}

#[tokio::test]
async fn release_and_release_all() {
    let (_store, storage, _clock) = setup();
    let (a, b): (RunnerAddress, RunnerAddress) = ("a:1".parse().unwrap(), "b:1".parse().unwrap());
    storage
        .acquire(&a, &shards(&["g:1", "g:2", "g:3"]))
        .await
        .unwrap();
    storage.acquire(&b, &shards(&["g:4"])).await.unwrap();
    storage.release(&b, &"g:1".parse().unwrap()).await.unwrap();
    assert_eq!(
        names(&storage.held_by(&a).await.unwrap()),
        ["g:1", "g:2", "g:3"],
        "only the holder releases"
    );
    storage.release(&a, &"g:1".parse().unwrap()).await.unwrap();
    assert!(storage
        .lease(&"g:1".parse().unwrap())
        .await
        .unwrap()
        .is_none());
    storage.release_all(&a).await.unwrap();
    assert!(storage.held_by(&a).await.unwrap().is_empty());
    assert_eq!(names(&storage.held_by(&b).await.unwrap()), ["g:4"]);
    let retaken = storage.acquire(&b, &shards(&["g:1"])).await.unwrap();
    assert_eq!(
        retaken[0].token, 2,
        "a new grant after release gets a new token"
    );
}

/// Five runners race for the same 300 shards many times over; each shard has one holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_runners_are_exclusive() {
    let (_store, storage, clock) = setup();
    let all = ShardId::all("default", 300).unwrap();
    let mut last_token: BTreeMap<ShardId, u64> = BTreeMap::new();
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..5 {
            let storage = storage.clone();
            let mut mine = all.clone();
            mine.rotate_left(i * 60);
            tasks.push(tokio::spawn(async move {
                let me: RunnerAddress = format!("r{i}:1").parse().unwrap();
                storage.acquire(&me, &mine).await.unwrap()
            }));
        }
        let mut holder: BTreeMap<ShardId, (RunnerAddress, u64)> = BTreeMap::new();
        for t in tasks {
            for l in t.await.unwrap() {
                let prev = holder.insert(l.shard.clone(), (l.owner.clone(), l.token));
                assert!(prev.is_none(), "round {round}: {} granted twice", l.shard);
            }
        }
        assert_eq!(holder.len(), 300, "every shard has one holder");
        for (shard, (_, token)) in &holder {
            let before = last_token.insert(shard.clone(), *token).unwrap_or(0);
            assert!(*token > before, "tokens increase across rounds");
        }
        clock.advance(TTL);
    }
}

#[tokio::test]
async fn takeover_after_expiry_with_a_greater_token() {
    let (store, storage, clock) = setup();
    let (a, b): (RunnerAddress, RunnerAddress) = ("a:1".parse().unwrap(), "b:1".parse().unwrap());
    let shard: ShardId = "g:9".parse().unwrap();
    let held = storage.acquire(&a, [&shard]).await.unwrap().remove(0);
    clock.advance(TTL - Duration::from_millis(1));
    assert!(
        storage.acquire(&b, [&shard]).await.unwrap().is_empty(),
        "not before expiry"
    );
    clock.advance(Duration::from_millis(1));
    let taken = storage.acquire(&b, [&shard]).await.unwrap().remove(0);
    assert_eq!(taken.owner, b);
    assert!(taken.token > held.token);
    assert!(storage.refresh(&a, [&shard]).await.unwrap().is_empty());

    // The old holder's fenced write is refused, the new one's applies.
    let write = |lease: &berth_runner_storage::ShardLease| {
        let mut batch = Batch::new();
        batch
            .put(
                "entities",
                "e-1",
                serde_json::json!({"by": lease.owner.to_string()}),
            )
            .when(lease.fence());
        batch
    };
    let stale = store.commit(write(&held)).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::StaleFence);
    store.commit(write(&taken)).await.unwrap();
    let rec = store
        .records()
        .get("entities", "e-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.value["by"], "b:1");
}

#[tokio::test]
async fn malformed_lease_names_from_storage_are_corrupt_not_panics() {
    let (store, storage, _clock) = setup();
    store
        .leases()
        .acquire("a:1", &["not-a-shard".to_string()], TTL)
        .await
        .unwrap();
    let err = storage.held_by(&"a:1".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}
