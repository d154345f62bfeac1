//! The ownership checker: eight OS processes run shard keepers over one store (an SQLite file;
//! the MongoDB test server) and append fenced ledger entries (`shard`, `owner`, `token`) for
//! the shards they hold, while this test freezes them with SIGSTOP for longer than the TTL and
//! SIGKILLs them at random. Afterwards an independent check of the store's ledger finds:
//!
//! - no entry accepted from an owner after a newer owner of that shard wrote (per shard,
//!   tokens in commit-time order never go down), and
//! - no token used by two owners (a shard is never held by two owners at once).
//!
//! The self-test runs the same chaos with fencing switched off (writers still believe in
//! their stale snapshot after a freeze, as a naive runner does) and requires the checker to
//! find violations, so the checker can fail. About 12 s per backend; set
//! `BERTH_LEDGER_SECS` for longer runs and `BERTH_LEDGER_SEED` to replay one.

mod support;

use berth_core::{Batch, OpenOptions, Precondition, Record, Scan, Store};
use berth_runner_storage::{KeeperConfig, Runner, RunnerStorage, ShardKeeper};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;
use support::chaos::{signal, Children, Rng};
use tokio::time::Instant;

const CHILD_ENV: &str = "BERTH_LEDGER_CHILD";
const PROCESSES: usize = 8;
const SHARDS: u32 = 24;
const TTL: Duration = Duration::from_millis(1500);
/// A child that outlives a crashed parent ends itself.
const CHILD_LIFETIME: Duration = Duration::from_secs(120);
const LEDGER: &str = "ledger";

fn chaos_time() -> Duration {
    let secs = std::env::var("BERTH_LEDGER_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    Duration::from_secs(secs)
}

fn config() -> KeeperConfig {
    KeeperConfig::default()
        .with_shards_per_group(SHARDS)
        .with_refresh_interval(Duration::from_millis(300))
        .with_safety_margin(Duration::from_millis(300))
        .with_retry_backoff(Duration::from_millis(50))
}

/// Opens the store a spec names: `sqlite:PATH` or `mongodb:DATABASE` (on the test server).
async fn open(target: &str) -> Store {
    if let Some(path) = target.strip_prefix("sqlite:") {
        return berth_state_sqlite::open(Path::new(path), OpenOptions::default())
            .await
            .unwrap();
    }
    let database = target.strip_prefix("mongodb:").unwrap();
    let uri = std::env::var("BERTH_TEST_MONGODB_URI")
        .expect("BERTH_TEST_MONGODB_URI is not set: run ./scripts/test.sh, which starts a server");
    let config = berth_state_mongo::MongoConfig::new(uri)
        .database(database)
        .auto_migrate(true)
        .op_timeout(Duration::from_secs(5));
    berth_state_mongo::open(config, OpenOptions::default())
        .await
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs this test's children when asked to, else the chaos over `target(dir)` and the check.
fn checked_run(test: &'static str, target: impl FnOnce(&Path) -> String, fencing: bool) -> Found {
    let rt = runtime();
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        rt.block_on(child(&spec));
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().unwrap();
    let target = target(dir.path());
    // Bounded whatever the machine's load: a stuck run fails instead of hanging CI.
    let limit = chaos_time() + Duration::from_secs(90);
    rt.block_on(async {
        tokio::time::timeout(limit, run(test, &target, fencing, dir.path()))
            .await
            .unwrap_or_else(|_| panic!("{test} did not finish within {limit:?}"))
    })
}

fn sqlite_file(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("ledger.db").display())
}

#[test]
fn fenced_writers_on_sqlite_never_write_after_a_takeover() {
    let test = "fenced_writers_on_sqlite_never_write_after_a_takeover";
    let found = checked_run(test, sqlite_file, true);
    assert_eq!(
        found.violations,
        Vec::<String>::new(),
        "fenced writes slipped through"
    );
}

#[test]
fn fenced_writers_on_mongodb_never_write_after_a_takeover() {
    let test = "fenced_writers_on_mongodb_never_write_after_a_takeover";
    let database = |_: &Path| format!("mongodb:berth_ledger_{}", support::chaos::wall_micros());
    let found = checked_run(test, database, true);
    assert_eq!(
        found.violations,
        Vec::<String>::new(),
        "fenced writes slipped through"
    );
}

#[test]
fn the_checker_finds_violations_when_fencing_is_off() {
    let found = checked_run(
        "the_checker_finds_violations_when_fencing_is_off",
        sqlite_file,
        false,
    );
    assert!(
        !found.violations.is_empty(),
        "without fences a thawed writer must be caught writing after a takeover"
    );
}

// ---- child ----------------------------------------------------------------------------

/// Keeps shards and appends ledger entries for those it holds: with fencing, only for shards
/// it still believes in, each under its lease's fence; without, from a snapshot it keeps
/// using for a while (a naive runner).
async fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (target, addr, name, fencing) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap() == "on",
    );
    let store = open(target).await;
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let keeper = ShardKeeper::spawn(storage, Runner::new(addr.parse().unwrap()), config()).unwrap();
    let held = keeper.held();
    let end = Instant::now() + CHILD_LIFETIME;
    let mut seq: u64 = 0;
    let mut snapshot: Vec<(String, u64)> = Vec::new();
    let mut taken_at = Instant::now();
    while Instant::now() < end {
        let now = Instant::now();
        if fencing || now >= taken_at + Duration::from_millis(300) || snapshot.is_empty() {
            snapshot = held
                .borrow()
                .iter()
                .filter(|(_, h)| !fencing || h.is_valid_at(now))
                .map(|(s, h)| (s.to_string(), h.token))
                .collect();
            taken_at = now;
        }
        for (shard, token) in snapshot
            .iter()
            .cycle()
            .skip(seq as usize % snapshot.len().max(1))
            .take(2)
        {
            seq += 1;
            let mut batch = Batch::new();
            let entry = json!({"shard": shard, "owner": name, "token": token, "seq": seq});
            let op = batch.put(LEDGER, &format!("{shard}/{name}/{seq:08}"), entry);
            if fencing {
                op.when(Precondition::Fence {
                    shard: shard.clone(),
                    token: *token,
                });
            }
            // A stale fence is the expected answer after a takeover; keep going.
            let _ = store.commit(batch).await;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

// ---- parent ---------------------------------------------------------------------------

struct Found {
    violations: Vec<String>,
}

async fn run(test: &'static str, target: &str, fencing: bool, dir: &Path) -> Found {
    let mut rng = Rng::seeded("BERTH_LEDGER_SEED");
    let mut children = Children::new(test, CHILD_ENV, PROCESSES, dir.to_owned());
    let fence = if fencing { "on" } else { "off" };
    let start = |children: &mut Children, i: usize| {
        children.start(i, |name, _| {
            format!("{target}|127.0.0.1:{}|{name}|{fence}", 7101 + i)
        })
    };
    // The store (schema) exists before the children race to create it.
    drop(open(target).await);
    for i in 0..PROCESSES {
        start(&mut children, i);
    }
    let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
    let began = std::time::Instant::now();
    let mut n = 0u64;
    while began.elapsed() < chaos_time() {
        tokio::time::sleep(rng.millis(200, 600)).await;
        let i = rng.below(PROCESSES as u64) as usize;
        // Whatever the seed: a freeze longer than the TTL, a kill, then one at random.
        let roll = match n % 3 {
            0 => 0,
            1 => 2,
            _ => rng.below(4),
        };
        n += 1;
        let action = match roll {
            0 | 1 => {
                if let Some(c) = children.pid(i) {
                    signal(c, "-STOP");
                    tokio::time::sleep(TTL + rng.millis(300, 1500)).await;
                    signal(c, "-CONT");
                }
                "SIGSTOP past the TTL, then SIGCONT"
            }
            2 => {
                children.kill(i);
                start(&mut children, i);
                "SIGKILL and restart"
            }
            _ => "nothing",
        };
        *actions.entry(action).or_default() += 1;
    }
    // Let the last thawed writers have their say, then stop everyone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..PROCESSES {
        children.kill(i);
    }
    let store = open(target).await;
    let ledger = read_all(&store).await;
    let violations = check(&ledger);
    let owners: HashSet<&str> = ledger.iter().map(|e| e.owner.as_str()).collect();
    println!(
        "{target} fencing {fence}: {} entries by {} owners, actions {actions:?}, {} violations",
        ledger.len(),
        owners.len(),
        violations.len()
    );
    for v in violations.iter().take(5) {
        println!("  {v}");
    }
    // On a loaded machine some processes may not get a write in; the check needs writers.
    assert!(
        owners.len() >= 2,
        "at least two processes wrote: {owners:?}"
    );
    Found { violations }
}

/// One ledger entry as stored.
struct Entry {
    shard: String,
    owner: String,
    token: u64,
    at: i64,
    key: String,
}

async fn read_all(store: &Store) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page: Vec<Record> = store
            .records()
            .scan(
                LEDGER,
                &Scan {
                    start_after: after.clone(),
                    limit: Some(1000),
                    ..Scan::all()
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for r in &page {
            out.push(Entry {
                shard: r.value["shard"].as_str().unwrap().to_owned(),
                owner: r.value["owner"].as_str().unwrap().to_owned(),
                token: r.value["token"].as_u64().unwrap(),
                at: r.created_at.millis(),
                key: r.key.clone(),
            });
        }
    }
    out
}

/// The independent check, from the ledger alone.
fn check(ledger: &[Entry]) -> Vec<String> {
    let mut violations = Vec::new();
    // A token is one grant: one owner.
    let mut owner_of: HashMap<(&str, u64), &str> = HashMap::new();
    for e in ledger {
        let first = *owner_of.entry((&e.shard, e.token)).or_insert(&e.owner);
        if first != e.owner {
            violations.push(format!(
                "{}: token {} used by {first} and {}",
                e.shard, e.token, e.owner
            ));
        }
    }
    // In commit-time order a shard's tokens never go down: an entry with an older token
    // committed after a newer owner's entry is a write accepted after a takeover.
    let mut by_shard: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in ledger {
        by_shard.entry(&e.shard).or_default().push(e);
    }
    for (shard, mut entries) in by_shard {
        entries.sort_by_key(|e| e.at);
        let mut newest: Option<&Entry> = None;
        for e in entries {
            if let Some(n) = newest {
                if e.token < n.token && e.at > n.at {
                    violations.push(format!(
                        "{shard}: {} (token {}) at {} after {} (token {}) at {}",
                        e.key, e.token, e.at, n.key, n.token, n.at
                    ));
                }
            }
            if newest.map_or(true, |n| e.token > n.token) {
                newest = Some(e);
            }
        }
    }
    violations
}
