//! Runner registry and shard leases with fencing tokens.

use super::{fresh, Backend, T0};
use berth_core::{Batch, Error, ErrorKind, MachineId, Precondition};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(35);
const A: &str = "10.0.0.1:34431";
const B: &str = "10.0.0.2:34431";

fn shards(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn names(leases: &[berth_core::Lease]) -> Vec<String> {
    let mut v: Vec<String> = leases.iter().map(|l| l.shard.clone()).collect();
    v.sort();
    v
}

pub async fn register_keeps_machine_id(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    let a1 = l.register(A, "runner-a-v1", true).await.unwrap();
    let b1 = l.register(B, "runner-b", false).await.unwrap();
    assert_ne!(a1, b1);
    let a2 = l.register(A, "runner-a-v2", false).await.unwrap();
    assert_eq!(a1, a2, "the same address keeps its machine id");
    let runners = l.runners().await.unwrap();
    assert_eq!(runners.len(), 2);
    assert_eq!(runners[0].address, A);
    assert_eq!(
        runners[0].runner, "runner-a-v2",
        "re-registering updates the runner"
    );
    assert!(!runners[0].healthy);
    assert_eq!(
        (runners[1].address.as_str(), runners[1].machine_id),
        (B, b1)
    );
}

pub async fn unregister_then_register_gets_new_id(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    let mut seen: HashSet<MachineId> = HashSet::new();
    for _ in 0..3 {
        let id = l.register(A, "r", true).await.unwrap();
        assert!(seen.insert(id), "machine id {id:?} was reused");
        l.unregister(A).await.unwrap();
        assert!(l.runners().await.unwrap().is_empty());
    }
    l.unregister("never:1").await.unwrap();
}

pub async fn health_changes(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    l.register(A, "r", true).await.unwrap();
    l.set_health(A, false).await.unwrap();
    assert!(!l.runners().await.unwrap()[0].healthy);
    l.set_health(A, true).await.unwrap();
    assert!(l.runners().await.unwrap()[0].healthy);
    assert_eq!(
        l.set_health(B, true).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

pub async fn acquire_is_exclusive_and_partial(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    let got = l.acquire(A, &shards(&["g:1", "g:2"]), TTL).await.unwrap();
    assert_eq!(names(&got), vec!["g:1", "g:2"]);
    assert!(got
        .iter()
        .all(|x| x.owner == A && x.expires_at == T0.plus(TTL)));
    let got_b = l.acquire(B, &shards(&["g:2", "g:3"]), TTL).await.unwrap();
    assert_eq!(names(&got_b), vec!["g:3"], "only the free shard is granted");
    // Acquiring what one already holds returns it again with the same token.
    let again = l.acquire(A, &shards(&["g:1", "g:3"]), TTL).await.unwrap();
    assert_eq!(names(&again), vec!["g:1"]);
    assert_eq!(
        again[0].token,
        got.iter().find(|x| x.shard == "g:1").unwrap().token
    );
    assert_eq!(l.lease("g:2").await.unwrap().unwrap().owner, A);
    assert!(l.lease("g:9").await.unwrap().is_none());
    assert_eq!(names(&l.held_by(A).await.unwrap()), vec!["g:1", "g:2"]);
    assert_eq!(names(&l.held_by(B).await.unwrap()), vec!["g:3"]);
    assert!(l.acquire(A, &[], TTL).await.unwrap().is_empty());
    let twice = l.acquire(A, &shards(&["g:5", "g:5"]), TTL).await.unwrap();
    assert_eq!(
        names(&twice),
        vec!["g:5"],
        "a shard named twice is granted once"
    );
    let twice = l.refresh(A, &shards(&["g:5", "g:5"]), TTL).await.unwrap();
    assert_eq!(names(&twice), vec!["g:5"], "and refreshed once");
}

pub async fn takeover_after_expiry(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let l = store.leases();
    let a = l.acquire(A, &shards(&["g:1"]), TTL).await.unwrap();
    clock.advance(TTL - Duration::from_millis(1));
    assert!(
        l.acquire(B, &shards(&["g:1"]), TTL)
            .await
            .unwrap()
            .is_empty(),
        "still held 1 ms before expiry"
    );
    clock.advance(Duration::from_millis(1));
    assert!(
        l.lease("g:1").await.unwrap().is_none(),
        "lapsed exactly at expires_at"
    );
    let b = l.acquire(B, &shards(&["g:1"]), TTL).await.unwrap();
    assert_eq!(b.len(), 1);
    assert!(b[0].token > a[0].token);
    assert!(
        l.refresh(A, &shards(&["g:1"]), TTL)
            .await
            .unwrap()
            .is_empty(),
        "A lost it"
    );
    assert!(l.held_by(A).await.unwrap().is_empty());
}

pub async fn refresh_returns_only_held(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let l = store.leases();
    let got = l.acquire(A, &shards(&["g:1", "g:2"]), TTL).await.unwrap();
    l.acquire(B, &shards(&["g:3"]), TTL).await.unwrap();
    clock.advance(Duration::from_secs(20));
    let refreshed = l
        .refresh(A, &shards(&["g:1", "g:2", "g:3", "g:4"]), TTL)
        .await
        .unwrap();
    assert_eq!(names(&refreshed), vec!["g:1", "g:2"]);
    let now = T0.plus(Duration::from_secs(20));
    assert!(
        refreshed.iter().all(|x| x.expires_at == now.plus(TTL)),
        "refresh extends from now"
    );
    for r in &refreshed {
        let before = got.iter().find(|g| g.shard == r.shard).unwrap();
        assert_eq!(r.token, before.token, "refresh keeps the token");
    }
    // 30 s after the refresh (50 s after acquire) A still holds; B's unrefreshed lease is gone.
    clock.advance(Duration::from_secs(30));
    assert_eq!(names(&l.held_by(A).await.unwrap()), vec!["g:1", "g:2"]);
    assert!(
        l.refresh(B, &shards(&["g:3"]), TTL)
            .await
            .unwrap()
            .is_empty(),
        "a lapsed lease is not refreshed"
    );
    assert!(l.refresh(A, &[], TTL).await.unwrap().is_empty());
}

pub async fn release_and_release_all(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    l.acquire(A, &shards(&["g:1", "g:2", "g:3"]), TTL)
        .await
        .unwrap();
    l.acquire(B, &shards(&["h:1"]), TTL).await.unwrap();
    l.release(B, "g:1").await.unwrap();
    assert_eq!(
        l.lease("g:1").await.unwrap().unwrap().owner,
        A,
        "only the holder releases"
    );
    l.release(A, "g:1").await.unwrap();
    assert!(l.lease("g:1").await.unwrap().is_none());
    assert_eq!(
        names(&l.acquire(B, &shards(&["g:1"]), TTL).await.unwrap()),
        vec!["g:1"]
    );
    l.release_all(A).await.unwrap();
    assert!(l.held_by(A).await.unwrap().is_empty());
    assert_eq!(names(&l.held_by(B).await.unwrap()), vec!["g:1", "h:1"]);
    assert_eq!(
        names(&l.acquire(B, &shards(&["g:2", "g:3"]), TTL).await.unwrap()),
        vec!["g:2", "g:3"]
    );
    l.release(A, "never").await.unwrap();
}

pub async fn tokens_strictly_increase(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let l = store.leases();
    let mut last = 0;
    for round in 0..6 {
        let owner = if round % 2 == 0 { A } else { B };
        let got = l.acquire(owner, &shards(&["g:1"]), TTL).await.unwrap();
        assert_eq!(got.len(), 1, "round {round}");
        assert!(got[0].token > last, "token {} after {last}", got[0].token);
        last = got[0].token;
        match round % 3 {
            0 => l.release(owner, "g:1").await.unwrap(),
            1 => l.release_all(owner).await.unwrap(),
            _ => clock.advance(TTL),
        }
    }
    // An unrelated shard's grants do not disturb this one's order.
    l.acquire(A, &shards(&["g:2"]), TTL).await.unwrap();
    let next = l.acquire(A, &shards(&["g:1"]), TTL).await.unwrap();
    assert!(next[0].token > last);
}

pub async fn fenced_batch_rejected_after_takeover(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let l = store.leases();
    let a = l
        .acquire(A, &shards(&["g:1"]), TTL)
        .await
        .unwrap()
        .remove(0);
    clock.advance(TTL);
    let b = l
        .acquire(B, &shards(&["g:1"]), TTL)
        .await
        .unwrap()
        .remove(0);
    let mut batch = Batch::new();
    batch.put("entities", "e1", json!("from A"));
    batch
        .put("entities", "e2", json!("from A"))
        .when(Precondition::Fence {
            shard: "g:1".into(),
            token: a.token,
        });
    let err = store.commit(batch).await.expect_err("A's token is stale");
    assert_eq!(err.kind(), ErrorKind::StaleFence);
    assert_eq!(err.op_index(), Some(1));
    assert!(
        matches!(err, Error::StaleFence { ref shard, token, .. } if shard == "g:1" && token == a.token)
    );
    assert!(store
        .records()
        .get("entities", "e1")
        .await
        .unwrap()
        .is_none());
    // B's token works; after B releases, B's token fails too.
    let mut batch = Batch::new();
    batch
        .put("entities", "e1", json!("from B"))
        .when(Precondition::Fence {
            shard: "g:1".into(),
            token: b.token,
        });
    store.commit(batch).await.unwrap();
    l.release(B, "g:1").await.unwrap();
    let mut batch = Batch::new();
    batch
        .put("entities", "e1", json!("late B"))
        .when(Precondition::Fence {
            shard: "g:1".into(),
            token: b.token,
        });
    assert_eq!(
        store.commit(batch).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
    assert_eq!(
        store
            .records()
            .get("entities", "e1")
            .await
            .unwrap()
            .unwrap()
            .value,
        json!("from B")
    );
}

pub async fn fenced_batch_accepted_while_held(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let l = store.leases();
    let a = l
        .acquire(A, &shards(&["g:1"]), TTL)
        .await
        .unwrap()
        .remove(0);
    clock.advance(Duration::from_secs(30));
    l.refresh(A, &shards(&["g:1"]), TTL).await.unwrap();
    clock.advance(Duration::from_secs(30));
    let mut batch = Batch::new();
    batch.check(
        "fence",
        "g:1",
        Precondition::Fence {
            shard: "g:1".into(),
            token: a.token,
        },
    );
    batch.put("entities", "e1", json!(1));
    store
        .commit(batch)
        .await
        .expect("the refreshed lease is still held");
    let mut batch = Batch::new();
    batch
        .put("entities", "e1", json!(2))
        .when(Precondition::Fence {
            shard: "never-leased".into(),
            token: 1,
        });
    assert_eq!(
        store.commit(batch).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
}

pub async fn concurrent_acquire_single_winner(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let all: Vec<String> = (1..=50).map(|i| format!("g:{i}")).collect();
    let mut handles = Vec::new();
    for r in 0..4 {
        let store = store.clone();
        let all = all.clone();
        handles.push(tokio::spawn(async move {
            let owner = format!("10.0.0.{r}:1");
            store.leases().acquire(&owner, &all, TTL).await.unwrap()
        }));
    }
    let mut granted = Vec::new();
    for h in handles {
        granted.extend(h.await.unwrap());
    }
    let mut shards_granted: Vec<String> = granted.iter().map(|l| l.shard.clone()).collect();
    shards_granted.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(shards_granted, expected, "every shard granted exactly once");
}

pub async fn invalid_lease_names_rejected(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let l = store.leases();
    assert_eq!(
        l.register("", "r", true).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        l.acquire(A, &shards(&["ok", ""]), TTL)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        l.acquire("a\0b", &shards(&["ok"]), TTL)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert!(
        l.lease("ok").await.unwrap().is_none(),
        "nothing acquired by a rejected call"
    );
}
