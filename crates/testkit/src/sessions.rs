//! Sessions: one keepalive for everything an owner holds, expiry and close free it all at
//! once, tokens never go back, and bad input is a typed error with nothing written.

use super::{fresh, Backend, T0};
use berth_core::{
    Batch, Clock, DeterministicIds, ErrorKind, Lease, OpenOptions, Precondition, SessionId, Store,
    Timestamp,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(35);
const A: &str = "10.0.0.1:34431";
const B: &str = "10.0.0.2:34431";

fn shards(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("g:{i}")).collect()
}

fn names(leases: &[Lease]) -> Vec<String> {
    let mut v: Vec<String> = leases.iter().map(|l| l.shard.clone()).collect();
    v.sort();
    v
}

/// Commits one record fenced with `lease`; returns the error kind if it was rejected.
async fn fenced_write(store: &Store, lease: &Lease, key: &str) -> Option<ErrorKind> {
    let mut batch = Batch::new();
    batch
        .put(
            "ledger",
            key,
            json!({"owner": lease.owner, "token": lease.token}),
        )
        .when(Precondition::Fence {
            shard: lease.shard.clone(),
            token: lease.token,
        });
    store.commit(batch).await.err().map(|e| e.kind())
}

pub async fn keepalive_extends_every_attached_lease(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    assert_eq!(
        (a.owner.as_str(), a.ttl, a.expires_at),
        (A, TTL, T0.plus(TTL))
    );
    let held = s.acquire(a.id, &shards(3)).await.unwrap();
    assert_eq!(names(&held), shards(3));
    assert!(held
        .iter()
        .all(|l| l.owner == A && l.expires_at == T0.plus(TTL)));
    for _ in 0..3 {
        clock.advance(Duration::from_secs(30));
        let kept = s.keepalive(a.id).await.unwrap();
        assert_eq!(kept.expires_at, clock.now().plus(TTL));
    }
    clock.advance(Duration::from_secs(30));
    // 120 s after the grant, every lease is still held with its first token.
    for l in &held {
        let now = store.leases().lease(&l.shard).await.unwrap().expect("held");
        assert_eq!((now.owner.as_str(), now.token), (A, l.token));
        assert_eq!(now.expires_at, clock.now().plus(Duration::from_secs(5)));
        assert_eq!(fenced_write(&store, l, &l.shard).await, None);
    }
    assert_eq!(names(&s.held(a.id).await.unwrap()), shards(3));
    assert!(store
        .leases()
        .acquire(B, &shards(3), TTL)
        .await
        .unwrap()
        .is_empty());
    let b = s.open(B, TTL).await.unwrap();
    assert!(s.acquire(b.id, &shards(3)).await.unwrap().is_empty());
    // Acquiring again in the same session keeps the tokens.
    let again = s.acquire(a.id, &shards(2)).await.unwrap();
    assert_eq!(
        again.iter().map(|l| l.token).collect::<Vec<_>>(),
        held[..2].iter().map(|l| l.token).collect::<Vec<_>>()
    );
}

pub async fn expiry_frees_everything_at_once(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    let held = s.acquire(a.id, &shards(4)).await.unwrap();
    clock.advance(TTL - Duration::from_millis(1));
    let b = s.open(B, Duration::from_secs(300)).await.unwrap();
    assert!(
        s.acquire(b.id, &shards(4)).await.unwrap().is_empty(),
        "held 1 ms before expiry"
    );
    clock.advance(Duration::from_millis(1));
    for l in &held {
        assert!(
            store.leases().lease(&l.shard).await.unwrap().is_none(),
            "{} lapsed with its session",
            l.shard
        );
    }
    assert!(s.held(a.id).await.unwrap().is_empty());
    assert_eq!(
        fenced_write(&store, &held[0], "early").await,
        Some(ErrorKind::StaleFence),
        "an expired session fences nothing"
    );
    let taken = s.acquire(b.id, &shards(4)).await.unwrap();
    assert_eq!(names(&taken), shards(4), "everything free at once");
    for (old, new) in held.iter().zip(&taken) {
        assert!(new.token > old.token);
        assert_eq!(
            fenced_write(&store, old, "late").await,
            Some(ErrorKind::StaleFence)
        );
    }
    assert!(store
        .records()
        .get("ledger", "late")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        s.keepalive(a.id).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    assert_eq!(
        s.acquire(a.id, &shards(1)).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    let live: Vec<SessionId> = s.live().await.unwrap().iter().map(|x| x.id).collect();
    assert_eq!(live, vec![b.id], "only the live session is listed");
}

pub async fn close_releases_everything(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    let held = s.acquire(a.id, &shards(5)).await.unwrap();
    store
        .leases()
        .acquire(A, &["own:1".to_owned()], TTL)
        .await
        .unwrap();
    s.close(a.id).await.unwrap();
    for l in &held {
        assert!(store.leases().lease(&l.shard).await.unwrap().is_none());
        assert_eq!(
            fenced_write(&store, l, "after-close").await,
            Some(ErrorKind::StaleFence)
        );
    }
    assert!(
        store.leases().lease("own:1").await.unwrap().is_some(),
        "a lease outside the session stays"
    );
    assert_eq!(
        s.keepalive(a.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(s.close(a.id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(s.live().await.unwrap().is_empty());
    let b = s.open(B, TTL).await.unwrap();
    let taken = s.acquire(b.id, &shards(5)).await.unwrap();
    assert_eq!(names(&taken), shards(5));
    assert!(taken.iter().zip(&held).all(|(n, o)| n.token > o.token));
    // Releasing part of a session leaves the rest.
    s.release(b.id, &shards(2)).await.unwrap();
    assert_eq!(
        names(&s.held(b.id).await.unwrap()),
        vec!["g:3", "g:4", "g:5"]
    );
    assert!(store.leases().lease("g:1").await.unwrap().is_none());
}

pub async fn reestablish_gives_new_tokens(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    let first = s.acquire(a.id, &shards(2)).await.unwrap();
    clock.advance(TTL + Duration::from_secs(5)); // a pause longer than the TTL
    assert_eq!(
        s.keepalive(a.id).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    let b = s.open(B, TTL).await.unwrap();
    let stolen = s.acquire(b.id, &["g:2".to_owned()]).await.unwrap();
    assert_eq!(stolen.len(), 1);
    // A comes back: what nobody took is its again, with a new token; what B took is not.
    let a2 = s.open(A, TTL).await.unwrap();
    assert_ne!(a2.id, a.id);
    let back = s.acquire(a2.id, &shards(2)).await.unwrap();
    assert_eq!(names(&back), vec!["g:1"]);
    assert!(back[0].token > first[0].token);
    assert_eq!(
        fenced_write(&store, &first[0], "old").await,
        Some(ErrorKind::StaleFence)
    );
    assert_eq!(fenced_write(&store, &back[0], "new").await, None);
    assert_eq!(
        fenced_write(&store, &first[1], "lost").await,
        Some(ErrorKind::StaleFence)
    );
}

pub async fn tokens_never_reset(backend: &dyn Backend) {
    let (location, store, clock) = fresh(backend).await;
    let persistent = store.capabilities().persistent;
    let shard = vec!["g:1".to_owned()];
    let mut last = 0;
    let mut next = |token: u64, what: &str| {
        assert!(token > last, "{what}: token {token} after {last}");
        last = token;
    };
    for round in 0..3 {
        let s = store.sessions();
        let a = s.open(A, TTL).await.unwrap();
        next(
            s.acquire(a.id, &shard).await.unwrap()[0].token,
            "session grant",
        );
        match round {
            0 => s.close(a.id).await.unwrap(),
            1 => s.release(a.id, &shard).await.unwrap(),
            _ => clock.advance(TTL),
        }
        next(
            store.leases().acquire(B, &shard, TTL).await.unwrap()[0].token,
            "owner grant",
        );
        store.leases().release(B, "g:1").await.unwrap();
    }
    drop(store);
    let options = OpenOptions::default()
        .with_clock(Arc::new(clock.clone()))
        .with_ids(Arc::new(DeterministicIds::new(43)));
    let store = location.open(options).await.expect("reopen");
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    let token = s.acquire(a.id, &shard).await.unwrap()[0].token;
    if persistent {
        next(token, "after reopen");
    }
}

pub async fn sessions_survive_reopen(backend: &dyn Backend) {
    let (location, store, clock) = fresh(backend).await;
    if !store.capabilities().persistent {
        return;
    }
    let a = store.sessions().open(A, TTL).await.unwrap();
    let held = store.sessions().acquire(a.id, &shards(3)).await.unwrap();
    drop(store);
    let options = OpenOptions::default()
        .with_clock(Arc::new(clock.clone()))
        .with_ids(Arc::new(DeterministicIds::new(44)));
    let store = location.open(options).await.expect("reopen");
    let s = store.sessions();
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        s.keepalive(a.id).await.unwrap().expires_at,
        clock.now().plus(TTL)
    );
    assert_eq!(s.held(a.id).await.unwrap(), {
        let mut h = held.clone();
        h.iter_mut()
            .for_each(|l| l.expires_at = clock.now().plus(TTL));
        h
    });
    assert_eq!(fenced_write(&store, &held[0], "k").await, None);
    clock.advance(TTL);
    assert_eq!(
        fenced_write(&store, &held[0], "k2").await,
        Some(ErrorKind::StaleFence)
    );
    assert_eq!(
        s.keepalive(a.id).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
}

pub async fn owner_leases_and_session_leases_exclude_each_other(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let s = store.sessions();
    let a = s.open(A, TTL).await.unwrap();
    s.acquire(a.id, &shards(1)).await.unwrap();
    // The same owner name without the session is someone else.
    assert!(store
        .leases()
        .acquire(A, &shards(2), TTL)
        .await
        .unwrap()
        .iter()
        .all(|l| l.shard == "g:2"));
    assert!(store
        .leases()
        .refresh(A, &shards(1), TTL)
        .await
        .unwrap()
        .is_empty());
    store.leases().release(A, "g:1").await.unwrap();
    assert_eq!(
        names(&s.held(a.id).await.unwrap()),
        vec!["g:1"],
        "an owner release does not touch the session's lease"
    );
    assert!(
        s.acquire(a.id, &["g:2".to_owned()])
            .await
            .unwrap()
            .is_empty(),
        "g:2 is A's own lease, not the session's"
    );
    clock.advance(TTL);
    // Both lapsed: each side may take the other's.
    let b = s.open(B, TTL).await.unwrap();
    assert_eq!(
        names(&s.acquire(b.id, &shards(2)).await.unwrap()),
        shards(2)
    );
}

pub async fn concurrent_session_acquire_single_winner(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let all = shards(40);
    let mut handles = Vec::new();
    for r in 0..4 {
        let store = store.clone();
        let all = all.clone();
        handles.push(tokio::spawn(async move {
            let s = store
                .sessions()
                .open(&format!("10.0.0.{r}:1"), TTL)
                .await
                .unwrap();
            store.sessions().acquire(s.id, &all).await.unwrap()
        }));
    }
    let mut granted = Vec::new();
    for h in handles {
        granted.extend(h.await.unwrap());
    }
    assert_eq!(
        names(&granted),
        {
            let mut a = all.clone();
            a.sort();
            a
        },
        "every shard granted exactly once"
    );
}

pub async fn bad_ttl_and_clock_edges_are_typed(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let s = store.sessions();
    for ttl in [Duration::ZERO, Duration::from_micros(10), Duration::MAX] {
        assert_eq!(
            s.open(A, ttl).await.unwrap_err().kind(),
            ErrorKind::InvalidInput,
            "{ttl:?}"
        );
    }
    assert!(
        s.live().await.unwrap().is_empty(),
        "nothing opened by a rejected call"
    );
    let a = s.open(A, TTL).await.unwrap();
    s.acquire(a.id, &shards(1)).await.unwrap();
    // The clock at the edge of what a timestamp can hold: no grant may expire at once.
    clock.set(Timestamp::from_millis(i64::MAX - 10_000));
    assert_eq!(
        s.open(B, Duration::from_secs(30)).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        store
            .leases()
            .acquire(B, &shards(2), Duration::from_secs(30))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert!(
        store.leases().lease("g:2").await.unwrap().is_none(),
        "nothing granted by a rejected call"
    );
    let short = store
        .leases()
        .acquire(B, &shards(2), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(short.len(), 2, "a grant that fits is fine");
    assert!(
        store
            .leases()
            .acquire(A, &shards(2), Duration::from_secs(5))
            .await
            .unwrap()
            .is_empty(),
        "and granted once"
    );
    clock.set(Timestamp::from_millis(i64::MAX));
    assert_eq!(
        store
            .leases()
            .acquire(A, &shards(2), Duration::from_secs(30))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        store
            .leases()
            .refresh(B, &shards(2), Duration::from_secs(30))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

pub async fn unknown_sessions_and_bad_names_are_typed(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let s = store.sessions();
    let ghost = SessionId(Uuid::from_u128(0xdead));
    assert_eq!(
        s.keepalive(ghost).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        s.acquire(ghost, &shards(1)).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        s.close(ghost).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(s.held(ghost).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(
        s.release(ghost, &shards(1)).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(store.leases().lease("g:1").await.unwrap().is_none());
    assert_eq!(
        s.open("", TTL).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        s.open("a\0b", TTL).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let a = s.open(A, TTL).await.unwrap();
    assert_eq!(
        s.acquire(a.id, &["ok".to_owned(), String::new()])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert!(
        store.leases().lease("ok").await.unwrap().is_none(),
        "nothing acquired by a rejected call"
    );
    assert!(s.acquire(a.id, &[]).await.unwrap().is_empty());
}
