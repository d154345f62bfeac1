//! Keeper behaviours written once, run on every backend: on memory in paused Tokio time at
//! production timing, on SQLite in real time at a fast timing.

use super::{check_beliefs, FaultSwitch, Faulty, Recorder};
use berth_core::Store;
use berth_runner_storage::{
    assignment, HeldShards, KeeperConfig, KeeperState, LossReason, Runner, RunnerAddress,
    RunnerStorage, ShardEvent, ShardId, ShardKeeper,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

/// Lease TTL and keeper timing for one run of the cases.
pub struct Scale {
    pub ttl: Duration,
    pub config: KeeperConfig,
    /// Allowance for scheduling delays in real time (zero in paused time).
    pub slack: Duration,
}

impl Scale {
    /// The defaults: TTL 35 s, rounds every 10 s (for paused time).
    pub fn production() -> Self {
        Scale {
            ttl: Duration::from_secs(35),
            config: KeeperConfig::default(),
            slack: Duration::ZERO,
        }
    }

    /// TTL 2 s, rounds every 400 ms (for real time).
    pub fn fast() -> Self {
        Scale {
            ttl: Duration::from_secs(2),
            config: KeeperConfig::default()
                .with_refresh_interval(Duration::from_millis(400))
                .with_safety_margin(Duration::from_millis(200))
                .with_retry_backoff(Duration::from_millis(100)),
            slack: Duration::from_secs(1),
        }
    }

    pub fn interval(&self) -> Duration {
        self.config.refresh_interval
    }

    /// Bound on any single wait: a broken keeper fails the test instead of hanging it.
    pub fn limit(&self) -> Duration {
        self.ttl * 30
    }

    pub fn storage(&self, store: &Store) -> RunnerStorage {
        RunnerStorage::from_store(store).with_ttl(self.ttl)
    }

    pub fn faulty(&self, store: &Store) -> (RunnerStorage, FaultSwitch) {
        let (leases, switch) = Faulty::wrap(store.leases().clone());
        (RunnerStorage::new(leases).with_ttl(self.ttl), switch)
    }

    pub fn spawn(&self, storage: RunnerStorage, addr: &str) -> ShardKeeper {
        ShardKeeper::spawn(storage, runner(addr), self.config.clone()).unwrap()
    }

    pub async fn wait_for(
        &self,
        rx: &mut watch::Receiver<HeldShards>,
        what: &str,
        f: impl FnMut(&HeldShards) -> bool,
    ) {
        timeout(self.limit(), rx.wait_for(f))
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("keeper alive");
    }
}

pub fn runner(addr: &str) -> Runner {
    Runner::new(addr.parse().unwrap())
}

pub async fn store_tokens(store: &Store, owner: &str) -> BTreeMap<String, u64> {
    store
        .leases()
        .held_by(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.shard, l.token))
        .collect()
}

/// Gained events only, and how many.
fn only_gains(events: &mut tokio::sync::broadcast::Receiver<ShardEvent>) -> usize {
    let mut gained = 0;
    while let Ok(e) = events.try_recv() {
        assert!(matches!(e, ShardEvent::Gained { .. }), "unexpected {e:?}");
        gained += 1;
    }
    gained
}

/// Refreshes keep the same grants alive over many TTLs; shutdown releases and unregisters.
pub async fn keeps_leases_alive(store: Store, s: &Scale) {
    let mut keeper = s.spawn(s.storage(&store), "a:1");
    let mut events = keeper.events();
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    assert_eq!(held.borrow().state(), KeeperState::Running);
    assert!(held.borrow().machine_id().is_some());
    let tokens = store_tokens(&store, "a:1").await;
    assert_eq!(tokens.len(), 300);
    let rounds = held.borrow().rounds();

    let span = s.ttl * 2;
    tokio::time::sleep(span).await;
    let now = held.borrow().clone();
    let expected = (span.as_millis() / s.interval().as_millis()) as u64;
    assert!(
        now.rounds() >= rounds + expected / 2,
        "rounds {rounds} → {} in {span:?}",
        now.rounds()
    );
    assert_eq!(now.len(), 300);
    assert!(now
        .iter()
        .all(|(sh, h)| now.is_held(sh) && Some(&h.token) == tokens.get(&sh.to_string())));
    assert_eq!(
        store_tokens(&store, "a:1").await,
        tokens,
        "the same grants, never lapsed"
    );
    assert_eq!(only_gains(&mut events), 300);

    keeper.shutdown().await.unwrap();
    assert!(
        store.leases().held_by("a:1").await.unwrap().is_empty(),
        "released"
    );
    assert!(
        store.leases().runners().await.unwrap().is_empty(),
        "unregistered"
    );
    assert_eq!(held.borrow().state(), KeeperState::Stopped);
    assert!(held.borrow().is_empty());
}

/// Storage that never answers: the keeper lets go of every shard while the store still has
/// their leases live, acquires nothing while it hangs, and starts over once it answers.
pub async fn hanging_storage_is_given_up_before_the_ttl(store: Store, s: &Scale) {
    let (storage, switch) = s.faulty(&store);
    let mut keeper = s.spawn(storage, "a:1");
    let mut events = keeper.events();
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    let first_tokens = store_tokens(&store, "a:1").await;
    let rounds = held.borrow().rounds();
    s.wait_for(&mut held, "two more rounds", |h| h.rounds() >= rounds + 2)
        .await;
    switch.hang();
    let hung_at = Instant::now();
    // Whatever refresh was the last to get through, the store's leases end no earlier.
    let expiry = store.leases().held_by("a:1").await.unwrap();
    let earliest_expiry = expiry.iter().map(|l| l.expires_at).min().unwrap();
    assert_eq!(expiry.len(), 300);

    s.wait_for(&mut held, "everything lost", |h| h.is_empty())
        .await;
    let store_now = store.clock().now();
    println!(
        "hang: gave up {:?} after the hang began; store leases had {:?} left (ttl {:?})",
        hung_at.elapsed(),
        earliest_expiry.since(store_now),
        s.ttl
    );
    assert!(
        store_now < earliest_expiry,
        "let go at {store_now}, after the leases could lapse at {earliest_expiry}"
    );
    // The loss is published before the events are sent: wait for all 300 of them.
    let mut lost = 0;
    while lost < 300 {
        let e = timeout(s.limit(), events.recv()).await.unwrap().unwrap();
        if let ShardEvent::Lost { reason, .. } = e {
            assert_eq!(reason, LossReason::StorageFailure);
            lost += 1;
        }
    }
    // Losing everything is published first; the keeper then turns to probing.
    s.wait_for(&mut held, "probing", |h| h.state() == KeeperState::Probing)
        .await;

    // Nothing is acquired while storage hangs.
    tokio::time::sleep(s.ttl).await;
    assert!(held.borrow().is_empty());

    switch.heal();
    s.wait_for(&mut held, "300 shards again", |h| {
        h.len() == 300 && h.state() == KeeperState::Running
    })
    .await;
    let again = store_tokens(&store, "a:1").await;
    assert!(
        again.iter().all(|(sh, t)| *t > first_tokens[sh]),
        "released everything and started over with new grants"
    );
    keeper.shutdown().await.unwrap();
}

/// A failure shorter than the leases allow costs nothing: same grants, no loss.
pub async fn a_short_failure_keeps_the_shards(store: Store, s: &Scale) {
    let (storage, switch) = s.faulty(&store);
    let mut keeper = s.spawn(storage, "a:1");
    let mut events = keeper.events();
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    let tokens = store_tokens(&store, "a:1").await;
    switch.fail();
    s.wait_for(&mut held, "degraded", |h| {
        h.state() == KeeperState::Degraded
    })
    .await;
    tokio::time::sleep(s.interval() / 2).await;
    switch.heal();
    s.wait_for(&mut held, "running", |h| h.state() == KeeperState::Running)
        .await;
    tokio::time::sleep(s.ttl * 3 / 2).await;
    assert_eq!(held.borrow().len(), 300);
    assert_eq!(store_tokens(&store, "a:1").await, tokens);
    assert_eq!(only_gains(&mut events), 300);
    keeper.shutdown().await.unwrap();
}

/// A joiner gets exactly its rendezvous share within 1.5 rounds; a graceful leaver's shards
/// go back within one round, without waiting for expiry; beliefs never overlap.
pub async fn shards_move_when_runners_join_and_leave(store: Store, s: &Scale) {
    let storage = s.storage(&store);
    let origin = Instant::now();
    let mut a = s.spawn(storage.clone(), "a:1");
    let rec_a = tokio::spawn(Recorder::new("a:1", origin).drain(a.events()));
    let mut held_a = a.held();
    s.wait_for(&mut held_a, "a holds all", |h| h.len() == 300)
        .await;

    let mut b = s.spawn(storage.clone(), "b:1");
    let rec_b = tokio::spawn(Recorder::new("b:1", origin).drain(b.events()));
    let mut held_b = b.held();
    s.wait_for(&mut held_b, "b registered", |h| h.machine_id().is_some())
        .await;
    let joined = Instant::now();
    let healthy = assignment::healthy(&storage.runners().await.unwrap());
    let b_addr: RunnerAddress = "b:1".parse().unwrap();
    let want_b = assignment::shards_for(&b_addr, &healthy, 300).unwrap();
    assert!(!want_b.is_empty());
    s.wait_for(&mut held_b, "b holds its share", |h| {
        h.len() == want_b.len()
    })
    .await;
    s.wait_for(&mut held_a, "a let go of it", |h| {
        h.len() == 300 - want_b.len()
    })
    .await;
    let handover = joined.elapsed();
    println!(
        "handover of {} shards to a joiner took {handover:?}",
        want_b.len()
    );
    // The owner releases at its next round; the joiner retries every quarter interval.
    assert!(handover <= s.interval() * 3 / 2 + s.slack, "{handover:?}");
    let b_set: BTreeSet<ShardId> = held_b.borrow().iter().map(|(sh, _)| sh.clone()).collect();
    assert_eq!(b_set, want_b);

    let left = Instant::now();
    b.shutdown().await.unwrap();
    s.wait_for(&mut held_a, "a holds all again", |h| h.len() == 300)
        .await;
    println!("taking back a leaver's shards took {:?}", left.elapsed());
    assert!(
        left.elapsed() <= s.interval() + s.slack,
        "{:?}",
        left.elapsed()
    );
    a.shutdown().await.unwrap();

    let mut beliefs = rec_a.await.unwrap().done;
    let rb = rec_b.await.unwrap();
    assert_eq!(rb.open_beliefs(), 0);
    assert!(rb.lost.iter().all(|(_, r, _)| *r == LossReason::Shutdown));
    beliefs.extend(rb.done);
    check_beliefs(&beliefs).unwrap();
}

/// A runner dropped from the registry registers again and keeps its shards meanwhile.
pub async fn a_dropped_runner_registers_again(store: Store, s: &Scale) {
    let storage = s.storage(&store);
    let keeper = s.spawn(storage.clone(), "a:1");
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    let id = held.borrow().machine_id().unwrap();
    storage.unregister(&"a:1".parse().unwrap()).await.unwrap();
    s.wait_for(&mut held, "a new machine id", |h| {
        h.machine_id() != Some(id)
    })
    .await;
    assert_eq!(storage.runners().await.unwrap().len(), 1);
    assert_eq!(held.borrow().len(), 300, "shards kept meanwhile");
    keeper.shutdown().await.unwrap();
}

/// A runner marked unhealthy is assigned nothing and releases what it holds.
pub async fn an_unhealthy_runner_releases_its_shards(store: Store, s: &Scale) {
    let storage = s.storage(&store);
    let mut keeper = s.spawn(storage.clone(), "a:1");
    let mut events = keeper.events();
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    let address: RunnerAddress = "a:1".parse().unwrap();
    storage.set_runner_health(&address, false).await.unwrap();
    s.wait_for(&mut held, "nothing", |h| h.is_empty()).await;
    // Shards leave the held set before their release is sent; the round ends after it.
    let round = held.borrow().rounds();
    s.wait_for(&mut held, "the round's end", |h| h.rounds() > round)
        .await;
    assert!(
        storage.held_by(&address).await.unwrap().is_empty(),
        "released in storage"
    );
    let mut rebalanced = 0;
    while let Ok(e) = events.try_recv() {
        if let ShardEvent::Lost { reason, .. } = e {
            assert_eq!(reason, LossReason::Rebalanced);
            rebalanced += 1;
        }
    }
    assert_eq!(rebalanced, 300);
    keeper.shutdown().await.unwrap();
}
