//! Leases judged by the server's clock (the default): skewed client clocks don't matter.

mod common;

use berth_core::{
    Batch, Clock, ErrorKind, ManualClock, OpenOptions, Precondition, Store, SystemClock, Timestamp,
};
use berth_state_mongo::LeaseClock;
use common::TestDb;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const A: &str = "10.0.0.1:34431";
const B: &str = "10.0.0.2:34431";

fn skewed(by_minutes: i64) -> OpenOptions {
    let now = SystemClock.now().millis() + by_minutes * 60_000;
    OpenOptions::default().with_clock(Arc::new(ManualClock::new(Timestamp::from_millis(now))))
}

async fn two_clients(db: &TestDb) -> (Store, Store) {
    let a = db.open(LeaseClock::Server, skewed(-10)).await.unwrap();
    let b = db.open(LeaseClock::Server, skewed(10)).await.unwrap();
    (a, b)
}

#[tokio::test]
async fn clients_with_skewed_clocks_exclude_each_other() {
    let db = TestDb::new("skew");
    let (a, b) = two_clients(&db).await;
    let shards: Vec<String> = vec!["g:1".into(), "g:2".into()];
    let ttl = Duration::from_secs(30);
    let got = a.leases().acquire(A, &shards, ttl).await.unwrap();
    assert_eq!(got.len(), 2);
    // B's clock runs 20 minutes ahead of A's: by it A's lease lapsed long ago, yet the server
    // says it is held.
    assert!(b
        .leases()
        .acquire(B, &shards, ttl)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(b.leases().lease("g:1").await.unwrap().unwrap().owner, A);
    assert!(b
        .leases()
        .refresh(B, &shards, ttl)
        .await
        .unwrap()
        .is_empty());
    // Expiry is reported in server time (same host here), not in either client's.
    let server_now = SystemClock.now();
    let expires = got[0].expires_at;
    assert!(expires > server_now && expires <= server_now.plus(ttl + Duration::from_secs(5)));
    // B holds its own shard; A (20 minutes behind) cannot take it either.
    let h = b.leases().acquire(B, &["h:1".into()], ttl).await.unwrap();
    assert_eq!(h.len(), 1);
    assert!(a
        .leases()
        .acquire(A, &["h:1".into()], ttl)
        .await
        .unwrap()
        .is_empty());
    // A fence of A's token holds for A's batches and fails for a stale one.
    let mut batch = Batch::new();
    batch.put("e", "1", json!(1)).when(Precondition::Fence {
        shard: "g:1".into(),
        token: got[0].token,
    });
    batch.put("e", "2", json!(2));
    a.commit(batch).await.unwrap();
    let mut batch = Batch::new();
    batch.put("e", "1", json!(3)).when(Precondition::Fence {
        shard: "g:1".into(),
        token: got[0].token + 1,
    });
    assert_eq!(
        b.commit(batch).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
}

#[tokio::test]
async fn a_lease_lapses_by_the_server_clock() {
    let db = TestDb::new("ttl");
    let (a, b) = two_clients(&db).await;
    let shard: Vec<String> = vec!["g:1".into()];
    let short = Duration::from_millis(1000);
    let first = a
        .leases()
        .acquire(A, &shard, short)
        .await
        .unwrap()
        .remove(0);
    let started = Instant::now();
    assert!(b
        .leases()
        .acquire(B, &shard, Duration::from_secs(30))
        .await
        .unwrap()
        .is_empty());
    // Poll (bounded) until the server lets B take it.
    let second = loop {
        let got = b
            .leases()
            .acquire(B, &shard, Duration::from_secs(30))
            .await
            .unwrap();
        if let Some(lease) = got.into_iter().next() {
            break lease;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the 1 s lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(second.token > first.token);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "taken over before its TTL"
    );
    assert!(
        a.leases()
            .refresh(A, &shard, short)
            .await
            .unwrap()
            .is_empty(),
        "A lost it"
    );
    assert!(a.leases().held_by(A).await.unwrap().is_empty());
    let mut batch = Batch::new();
    batch.check(
        "f",
        "x",
        Precondition::Fence {
            shard: "g:1".into(),
            token: first.token,
        },
    );
    batch.put("e", "1", json!("late A"));
    assert_eq!(
        a.commit(batch).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
    // Release keeps the document, so the next grant's token is still higher.
    b.leases().release(B, "g:1").await.unwrap();
    let third = a
        .leases()
        .acquire(A, &shard, short)
        .await
        .unwrap()
        .remove(0);
    assert!(third.token > second.token);
}

#[tokio::test]
async fn sessions_live_and_lapse_by_the_server_clock() {
    let db = TestDb::new("skew-sessions");
    let (a, b) = two_clients(&db).await;
    let shards: Vec<String> = vec!["g:1".into(), "g:2".into()];
    let ttl = Duration::from_millis(1_500);
    let sa = a.sessions().open(A, ttl).await.unwrap();
    let held = a.sessions().acquire(sa.id, &shards).await.unwrap();
    assert_eq!(held.len(), 2);
    // B's clock is 20 minutes ahead, yet the server says A's session lives.
    let sb = b.sessions().open(B, Duration::from_secs(60)).await.unwrap();
    assert!(b
        .sessions()
        .acquire(sb.id, &shards)
        .await
        .unwrap()
        .is_empty());
    let kept = a.sessions().keepalive(sa.id).await.unwrap();
    assert!(kept.expires_at >= sa.expires_at);
    // Await the lapse as the server judges it (bounded), then B takes both with new tokens.
    let start = Instant::now();
    let taken = loop {
        let got = b.sessions().acquire(sb.id, &shards).await.unwrap();
        if got.len() == 2 {
            break got;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "A's session never lapsed"
        );
        tokio::task::yield_now().await;
    };
    assert!(taken.iter().zip(&held).all(|(n, o)| n.token > o.token));
    assert_eq!(
        a.sessions().keepalive(sa.id).await.unwrap_err().kind(),
        ErrorKind::SessionExpired
    );
    let mut batch = Batch::new();
    batch.put("c", "k", json!(1)).when(Precondition::Fence {
        shard: "g:1".into(),
        token: held[0].token,
    });
    assert_eq!(
        a.commit(batch).await.unwrap_err().kind(),
        ErrorKind::StaleFence
    );
}
