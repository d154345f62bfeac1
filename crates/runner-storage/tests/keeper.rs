//! The shard keeper on the memory backend, in paused Tokio time: the store's clock reads the
//! same virtual time as the keepers' timers, so minutes pass in milliseconds.

mod support;

use berth_core::{LeaseStore, OpenOptions, Store};
use berth_runner_storage::{
    HeldShards, KeeperConfig, KeeperState, LossReason, Runner, RunnerAddress, RunnerStorage,
    ShardEvent, ShardId, ShardKeeper,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use support::{check_beliefs, FaultSwitch, Faulty, Recorder, TokioClock};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};

const TTL: Duration = Duration::from_secs(35);
const INTERVAL: Duration = Duration::from_secs(10);
/// Bound on every wait, in virtual time (a stuck test fails in milliseconds of real time).
const LIMIT: Duration = Duration::from_secs(3600);

fn open() -> Store {
    berth_state_memory::open(OpenOptions::default().with_clock(TokioClock::new()))
}

fn runner(addr: &str) -> Runner {
    Runner::new(addr.parse().unwrap())
}

fn config() -> KeeperConfig {
    KeeperConfig::default()
}

async fn wait_for(
    rx: &mut watch::Receiver<HeldShards>,
    what: &str,
    f: impl FnMut(&HeldShards) -> bool,
) {
    timeout(LIMIT, rx.wait_for(f))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("keeper alive");
}

fn faulty(store: &Store) -> (RunnerStorage, FaultSwitch) {
    let (leases, switch) = Faulty::wrap(store.leases().clone());
    (RunnerStorage::new(leases).with_ttl(TTL), switch)
}

async fn store_tokens(store: &Store, owner: &str) -> BTreeMap<String, u64> {
    store
        .leases()
        .held_by(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.shard, l.token))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_keeper_keeps_its_leases_alive() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let mut keeper = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap();
    let mut events = keeper.events();
    let mut held = keeper.held();
    wait_for(&mut held, "300 shards", |h| h.len() == 300).await;
    assert_eq!(held.borrow().state(), KeeperState::Running);
    assert!(held.borrow().machine_id().is_some());
    let tokens = store_tokens(&store, "a:1").await;
    assert_eq!(tokens.len(), 300);
    let rounds = held.borrow().rounds();

    // Ten minutes: 60 rounds, each refreshing leases that would lapse after 35 s.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let now = held.borrow().clone();
    assert!(
        now.rounds() >= rounds + 59,
        "rounds {} → {}",
        rounds,
        now.rounds()
    );
    assert_eq!(now.len(), 300);
    assert!(now
        .iter()
        .all(|(s, h)| now.is_held(s) && Some(&h.token) == tokens.get(&s.to_string())));
    assert_eq!(
        store_tokens(&store, "a:1").await,
        tokens,
        "the same grants, never lapsed"
    );
    let mut gained = 0;
    while let Ok(e) = events.try_recv() {
        assert!(matches!(e, ShardEvent::Gained { .. }), "unexpected {e:?}");
        gained += 1;
    }
    assert_eq!(gained, 300);

    keeper.shutdown().await.unwrap();
    assert!(
        store.leases().held_by("a:1").await.unwrap().is_empty(),
        "released on shutdown"
    );
    assert!(
        store.leases().runners().await.unwrap().is_empty(),
        "unregistered on shutdown"
    );
    assert_eq!(held.borrow().state(), KeeperState::Stopped);
    assert!(held.borrow().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_keeper_whose_storage_hangs_gives_up_before_the_ttl_and_recovers() {
    let store = open();
    let (storage, switch) = faulty(&store);
    let mut keeper = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap();
    let mut events = keeper.events();
    let mut held = keeper.held();
    wait_for(&mut held, "300 shards", |h| h.len() == 300).await;
    let first_tokens = store_tokens(&store, "a:1").await;
    // Let a round or two pass, then hang right after a refresh (between rounds).
    let rounds = held.borrow().rounds();
    wait_for(&mut held, "two more rounds", |h| h.rounds() >= rounds + 2).await;
    let last_refresh_start = Instant::now();
    let store_expiry = store.leases().held_by("a:1").await.unwrap()[0].expires_at;
    switch.hang();
    let hung_at = Instant::now();

    wait_for(&mut held, "everything lost", |h| h.is_empty()).await;
    let gave_up = Instant::now();
    println!(
        "hang: gave up {:?} after the last good refresh (ttl {TTL:?})",
        gave_up - last_refresh_start
    );
    // The keeper's last successful refresh started at or before `last_refresh_start`.
    assert!(
        gave_up < last_refresh_start + TTL,
        "gave up {:?} after the hang, after the leases could lapse",
        gave_up - hung_at
    );
    // And in the store, every lease is still live when the keeper lets go.
    let clock = store.clock().now();
    assert!(
        clock < store_expiry,
        "store time {clock} vs expiry {store_expiry}"
    );
    let mut lost = 0;
    while let Ok(e) = events.try_recv() {
        if let ShardEvent::Lost { reason, at, .. } = e {
            assert_eq!(reason, LossReason::StorageFailure);
            assert!(at < last_refresh_start + TTL);
            lost += 1;
        }
    }
    assert_eq!(lost, 300);
    assert!(
        matches!(held.borrow().state(), KeeperState::Probing),
        "{:?}",
        held.borrow().state()
    );

    // It stops acquiring: minutes of hanging storage, nothing comes back.
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(held.borrow().is_empty());

    switch.heal();
    wait_for(&mut held, "300 shards again", |h| {
        h.len() == 300 && h.state() == KeeperState::Running
    })
    .await;
    let again = store_tokens(&store, "a:1").await;
    assert!(
        again.iter().all(|(s, t)| *t > first_tokens[s]),
        "released everything and started over with new grants"
    );
    keeper.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_short_storage_failure_does_not_cost_the_shards() {
    let store = open();
    let (storage, switch) = faulty(&store);
    let mut keeper = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap();
    let mut events = keeper.events();
    let mut held = keeper.held();
    wait_for(&mut held, "300 shards", |h| h.len() == 300).await;
    let tokens = store_tokens(&store, "a:1").await;
    switch.fail();
    wait_for(&mut held, "degraded", |h| {
        h.state() == KeeperState::Degraded
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    switch.heal();
    wait_for(&mut held, "running", |h| h.state() == KeeperState::Running).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(held.borrow().len(), 300);
    assert_eq!(store_tokens(&store, "a:1").await, tokens);
    while let Ok(e) = events.try_recv() {
        assert!(matches!(e, ShardEvent::Gained { .. }), "unexpected {e:?}");
    }
    keeper.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_keeper_registers_again_after_being_dropped() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let keeper = ShardKeeper::spawn(storage.clone(), runner("a:1"), config()).unwrap();
    let mut held = keeper.held();
    wait_for(&mut held, "300 shards", |h| h.len() == 300).await;
    let id = held.borrow().machine_id().unwrap();
    storage.unregister(&"a:1".parse().unwrap()).await.unwrap();
    timeout(LIMIT, async {
        while storage.runners().await.unwrap().is_empty() {
            held.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    let again = held.borrow().machine_id().unwrap();
    assert_ne!(again, id, "a dropped runner gets a new machine id");
    assert_eq!(held.borrow().len(), 300, "and keeps its shards meanwhile");
    keeper.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn keepers_hand_shards_over_when_runners_join_and_leave() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let origin = Instant::now();
    let mut a = ShardKeeper::spawn(storage.clone(), runner("a:1"), config()).unwrap();
    let rec_a = tokio::spawn(Recorder::new("a:1", origin).drain(a.events()));
    let mut held_a = a.held();
    wait_for(&mut held_a, "a holds all", |h| h.len() == 300).await;

    let mut b = ShardKeeper::spawn(storage.clone(), runner("b:1"), config()).unwrap();
    let rec_b = tokio::spawn(Recorder::new("b:1", origin).drain(b.events()));
    let mut held_b = b.held();
    wait_for(&mut held_b, "b registered", |h| h.machine_id().is_some()).await;
    let regs = storage.runners().await.unwrap();
    let healthy = berth_runner_storage::assignment::healthy(&regs);
    let want_b =
        berth_runner_storage::assignment::shards_for(&"b:1".parse().unwrap(), &healthy, 300)
            .unwrap();
    let joined = Instant::now();
    wait_for(&mut held_b, "b holds its share", |h| {
        h.len() == want_b.len()
    })
    .await;
    wait_for(&mut held_a, "a let go of it", |h| {
        h.len() == 300 - want_b.len()
    })
    .await;
    let handover = Instant::now() - joined;
    println!(
        "handover to a joiner took {handover:?} of virtual time, {} shards",
        want_b.len()
    );
    assert!(
        handover <= 2 * INTERVAL + Duration::from_secs(1),
        "{handover:?}"
    );
    let b_set: BTreeSet<ShardId> = held_b.borrow().iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(b_set, want_b);

    // b leaves gracefully: a takes everything back without waiting for expiry.
    let left = Instant::now();
    b.shutdown().await.unwrap();
    wait_for(&mut held_a, "a holds all again", |h| h.len() == 300).await;
    assert!(Instant::now() - left <= INTERVAL + Duration::from_secs(1));
    a.shutdown().await.unwrap();

    let mut beliefs = rec_a.await.unwrap().done;
    let rb = rec_b.await.unwrap();
    assert_eq!(rb.open_beliefs(), 0);
    assert!(!want_b.is_empty());
    assert!(rb.lost.iter().all(|(_, r, _)| *r == LossReason::Shutdown));
    beliefs.extend(rb.done);
    check_beliefs(&beliefs).unwrap();
}

/// Five keepers over one store for an hour of virtual time, while runners leave, come back,
/// turn unhealthy, and one's storage hangs; every belief is recorded and checked.
#[tokio::test(start_paused = true)]
async fn five_keepers_never_overlap() {
    let store = open();
    let origin = Instant::now();
    let names: Vec<String> = (1..=5).map(|i| format!("10.0.0.{i}:34431")).collect();
    let mut switches = Vec::new();
    let mut keepers: Vec<Option<ShardKeeper>> = Vec::new();
    let mut recorders = Vec::new();
    for name in &names {
        let (storage, switch) = faulty(&store);
        let mut k = ShardKeeper::spawn(storage, runner(name), config()).unwrap();
        recorders.push(tokio::spawn(Recorder::new(name, origin).drain(k.events())));
        keepers.push(Some(k));
        switches.push(switch);
    }
    let raw: Arc<dyn LeaseStore> = store.leases().clone();
    let all_held = |keepers: &[Option<ShardKeeper>]| {
        keepers
            .iter()
            .flatten()
            .map(|k| k.held().borrow().len())
            .sum::<usize>()
    };
    let settle = || tokio::time::sleep(Duration::from_secs(120));
    settle().await;
    assert_eq!(all_held(&keepers), 300);

    // 1. Runner 2 hangs (still registered and healthy): it must drop its shards itself.
    switches[1].hang();
    settle().await;
    assert_eq!(keepers[1].as_ref().unwrap().held().borrow().len(), 0);
    // 2. Someone marks it unhealthy; the others take its shards after the leases lapse.
    raw.set_health(&names[1], false).await.unwrap();
    settle().await;
    assert_eq!(all_held(&keepers), 300);
    // 3. Its storage comes back; it re-registers healthy and takes its share back.
    switches[1].heal();
    settle().await;
    assert_eq!(all_held(&keepers), 300);
    assert!(keepers[1].as_ref().unwrap().held().borrow().len() > 20);
    // 4. Runner 4 leaves gracefully; runner 5 turns unhealthy; runner 4 comes back.
    let k4 = keepers[3].take().unwrap();
    k4.shutdown().await.unwrap();
    raw.set_health(&names[4], false).await.unwrap();
    settle().await;
    assert_eq!(all_held(&keepers), 300);
    assert_eq!(keepers[4].as_ref().unwrap().held().borrow().len(), 0);
    let (storage, _switch) = faulty(&store);
    let mut k4 = ShardKeeper::spawn(storage, runner(&names[3]), config()).unwrap();
    recorders.push(tokio::spawn(
        Recorder::new(&names[3], origin).drain(k4.events()),
    ));
    keepers[3] = Some(k4);
    raw.set_health(&names[4], true).await.unwrap();
    settle().await;
    assert_eq!(all_held(&keepers), 300);
    // 5. Runner 3 hangs and stays hung while everything else changes around it.
    switches[2].hang();
    raw.set_health(&names[2], false).await.unwrap();
    settle().await;
    assert_eq!(all_held(&keepers), 300);
    switches[2].heal();
    settle().await;

    for k in keepers.into_iter().flatten() {
        k.shutdown().await.unwrap();
    }
    let mut beliefs = Vec::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for r in recorders {
        let r = r.await.unwrap();
        assert_eq!(r.open_beliefs(), 0);
        for (_, reason, _) in &r.lost {
            *by_reason.entry(format!("{reason:?}")).or_default() += 1;
        }
        beliefs.extend(r.done);
    }
    let checked = check_beliefs(&beliefs).unwrap();
    println!("five keepers: {checked} beliefs checked, losses by reason {by_reason:?}");
    assert!(by_reason.get("StorageFailure").copied().unwrap_or(0) > 0);
    assert!(by_reason.get("Rebalanced").copied().unwrap_or(0) > 0);
    assert!(checked > 600);
}

#[tokio::test(start_paused = true)]
async fn the_checker_catches_an_overlap() {
    // The checker must be able to fail, or the tests above prove nothing.
    use support::Belief;
    let b = |runner: &str, token, from, until| Belief {
        runner: runner.into(),
        shard: "g:1".into(),
        token,
        from,
        until,
    };
    assert!(check_beliefs(&[b("a", 1, 0.0, 10.0), b("b", 2, 10.0, 20.0)]).is_ok());
    assert!(check_beliefs(&[b("a", 1, 0.0, 10.0), b("b", 2, 9.9, 20.0)]).is_err());
    assert!(check_beliefs(&[b("a", 2, 0.0, 10.0), b("b", 2, 11.0, 20.0)]).is_err());
    assert!(check_beliefs(&[b("a", 3, 0.0, 10.0), b("b", 2, 11.0, 20.0)]).is_err());
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_runner_releases_its_shards() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let mut keeper = ShardKeeper::spawn(storage.clone(), runner("a:1"), config()).unwrap();
    let mut events = keeper.events();
    let mut held = keeper.held();
    wait_for(&mut held, "300 shards", |h| h.len() == 300).await;
    let address: RunnerAddress = "a:1".parse().unwrap();
    storage.set_runner_health(&address, false).await.unwrap();
    wait_for(&mut held, "nothing", |h| h.is_empty()).await;
    assert!(
        store.leases().held_by("a:1").await.unwrap().is_empty(),
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

#[tokio::test(start_paused = true)]
async fn configs_that_cannot_keep_leases_alive_are_rejected() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(Duration::from_secs(20));
    let storage = storage.with_ttl(Duration::from_secs(15));
    let err = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap_err();
    assert_eq!(err.kind(), berth_core::ErrorKind::InvalidInput);
    assert_eq!(config().call_timeout(TTL), INTERVAL);
    assert_eq!(
        config().call_timeout(Duration::from_secs(24)),
        Duration::from_secs(8)
    );
    for bad in [
        config().with_refresh_interval(Duration::ZERO),
        config().with_shards_per_group(0),
        config().with_safety_margin(Duration::ZERO),
        config().with_event_capacity(0),
    ] {
        assert!(bad.validate(TTL).is_err(), "{bad:?}");
    }
    let fast = config()
        .with_refresh_interval(Duration::from_secs(5))
        .with_safety_margin(Duration::from_millis(500));
    assert!(fast.validate(Duration::from_secs(20)).is_ok());
}
