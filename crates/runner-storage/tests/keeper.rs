//! The shard keeper on the memory backend, in paused Tokio time: the store's clock reads the
//! same virtual time as the keepers' timers, so minutes pass in milliseconds.

mod support;

use berth_core::{LeaseStore, OpenOptions, Store};
use berth_runner_storage::{KeeperConfig, RunnerStorage, ShardKeeper};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::cases::{self, runner, Scale};
use support::{check_beliefs, Recorder, TokioClock};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(35);

fn open() -> Store {
    berth_state_memory::open(OpenOptions::default().with_clock(TokioClock::new()))
}

fn config() -> KeeperConfig {
    KeeperConfig::default()
}

macro_rules! memory_cases {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(start_paused = true)]
        async fn $name() {
            cases::$name(open(), &Scale::production()).await;
        }
    )*};
}

memory_cases!(
    keeps_leases_alive,
    hanging_storage_is_given_up_before_the_ttl,
    a_short_failure_keeps_the_shards,
    shards_move_when_runners_join_and_leave,
    a_dropped_runner_registers_again,
    an_unhealthy_runner_releases_its_shards,
);

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
        let (storage, switch) = Scale::production().faulty(&store);
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
    let (storage, _switch) = Scale::production().faulty(&store);
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
async fn configs_that_cannot_keep_leases_alive_are_rejected() {
    let store = open();
    let storage = RunnerStorage::from_store(&store).with_ttl(Duration::from_secs(20));
    let storage = storage.with_ttl(Duration::from_secs(15));
    let err = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap_err();
    assert_eq!(err.kind(), berth_core::ErrorKind::InvalidInput);
    assert_eq!(config().call_timeout(TTL), Duration::from_secs(10));
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

/// A keeper restarted at the same address neither adopts nor releases the leases an earlier
/// process left there (it may be frozen, still believing in them): it takes those shards only
/// after they lapse, with new tokens.
#[tokio::test(start_paused = true)]
async fn a_restarted_keeper_waits_out_its_predecessors_leases() {
    let store = open();
    let s = Scale::production();
    let predecessor: Vec<String> = (1..=10).map(|n| format!("default:{n}")).collect();
    let old = store
        .leases()
        .acquire("a:1", &predecessor, TTL)
        .await
        .unwrap();
    let lapse = Instant::now() + TTL;

    let keeper = s.spawn(s.storage(&store), "a:1");
    let mut held = keeper.held();
    s.wait_for(&mut held, "the other 290", |h| h.len() == 290)
        .await;
    assert!(predecessor
        .iter()
        .all(|p| !held.borrow().is_held(&p.parse().unwrap())));
    // Shutting down now must leave the predecessor's leases alone.
    keeper.shutdown().await.unwrap();
    let left: Vec<String> = store
        .leases()
        .held_by("a:1")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.shard)
        .collect();
    assert_eq!(
        left.len(),
        10,
        "the predecessor's leases were not released: {left:?}"
    );

    let keeper = s.spawn(s.storage(&store), "a:1");
    let mut held = keeper.held();
    s.wait_for(&mut held, "all 300", |h| h.len() == 300).await;
    assert!(Instant::now() >= lapse, "taken only after they lapsed");
    for l in &old {
        let token = held.borrow().token(&l.shard.parse().unwrap()).unwrap();
        assert!(token > l.token, "a new grant, not the predecessor's");
    }
    keeper.shutdown().await.unwrap();
}

/// Each storage call is cut off at `min(refresh_interval, ttl / 3)`: with a TTL of 24 s that is
/// 8 s, so a refresh that hangs at the next round (10 s later) fails 18 s after the hang.
#[tokio::test(start_paused = true)]
async fn each_storage_call_is_bounded_by_the_call_timeout() {
    use berth_runner_storage::KeeperState;
    let store = open();
    let ttl = Duration::from_secs(24);
    let (leases, switch) = support::Faulty::wrap(store.leases().clone());
    let storage = RunnerStorage::new(leases).with_ttl(ttl);
    assert_eq!(config().call_timeout(ttl), Duration::from_secs(8));
    let keeper = ShardKeeper::spawn(storage, runner("a:1"), config()).unwrap();
    let mut held = keeper.held();
    let s = Scale::production();
    s.wait_for(&mut held, "300 shards", |h| {
        h.len() == 300 && h.rounds() >= 2
    })
    .await;
    switch.hang();
    let hung = Instant::now();
    s.wait_for(&mut held, "degraded", |h| {
        h.state() == KeeperState::Degraded
    })
    .await;
    assert_eq!(hung.elapsed(), Duration::from_secs(18));
    // And the shards are let go a margin before the TTL from the last good refresh.
    s.wait_for(&mut held, "nothing", |h| h.is_empty()).await;
    assert_eq!(hung.elapsed(), ttl - Duration::from_secs(1));
    switch.heal();
    keeper.shutdown().await.unwrap();
}

/// Shutting down while storage hangs still ends, within two call timeouts, with the error.
#[tokio::test(start_paused = true)]
async fn shutdown_with_hanging_storage_ends_with_an_error() {
    let store = open();
    let s = Scale::production();
    let (storage, switch) = s.faulty(&store);
    let keeper = s.spawn(storage, "a:1");
    let mut held = keeper.held();
    s.wait_for(&mut held, "300 shards", |h| h.len() == 300)
        .await;
    switch.hang();
    let asked = Instant::now();
    let err = keeper.shutdown().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        asked.elapsed() <= Duration::from_secs(20),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        held.borrow().is_empty(),
        "nothing is believed after shutdown"
    );
}
