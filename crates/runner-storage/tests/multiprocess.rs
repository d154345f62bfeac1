//! Four OS processes run shard keepers over one SQLite file while this test kills, restarts,
//! freezes (SIGSTOP) and marks them unhealthy at random for about ten seconds. Each process
//! logs every belief it holds; a checker proves that no two processes believed in one shard
//! at the same time and that each shard's fencing tokens only grew.
//!
//! The test binary re-runs itself (this test only) as the children, selected by
//! `BERTH_RS_CHILD`. Beliefs are logged in wall-clock microseconds, which every process on
//! the host shares; each child maps its keeper's monotonic instants onto it once at start.

mod support;

use berth_core::{OpenOptions, Store};
use berth_runner_storage::{KeeperConfig, Runner, RunnerStorage, ShardEvent, ShardKeeper};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::chaos::{signal, wall_micros, Children, Rng};
use support::{check_beliefs, Belief};
use tokio::time::Instant;

const TEST_NAME: &str = "four_processes_never_overlap_on_one_sqlite_file";
const CHILD_ENV: &str = "BERTH_RS_CHILD";
const PROCESSES: usize = 4;
const CHAOS: Duration = Duration::from_secs(10);
const TTL: Duration = Duration::from_millis(1500);
/// A child that outlives a crashed parent ends itself.
const CHILD_LIFETIME: Duration = Duration::from_secs(40);

fn config() -> KeeperConfig {
    KeeperConfig::default()
        .with_refresh_interval(Duration::from_millis(300))
        .with_safety_margin(Duration::from_millis(300))
        .with_retry_backoff(Duration::from_millis(50))
}

fn address(i: usize) -> String {
    format!("127.0.0.1:{}", 7001 + i)
}

async fn open(db: &Path) -> Store {
    berth_state_sqlite::open(db, OpenOptions::default())
        .await
        .unwrap()
}

#[test]
fn four_processes_never_overlap_on_one_sqlite_file() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(CHILD_ENV) {
        Ok(spec) => runtime.block_on(child(&spec)),
        Err(_) => runtime.block_on(parent()),
    }
}

// ---- child ----------------------------------------------------------------------------

/// Runs a keeper and logs its beliefs: `G shard token from`, `E shard token since until`
/// (the validity seen after each refresh), `L shard token at`.
async fn child(spec: &str) {
    let mut parts = spec.split('|');
    let (db, addr, log) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let store = open(Path::new(db)).await;
    let storage = RunnerStorage::from_store(&store).with_ttl(TTL);
    let runner = Runner::new(addr.parse().unwrap());
    let mut keeper = ShardKeeper::spawn(storage, runner, config()).unwrap();
    let mut events = keeper.events();
    let mut held = keeper.held();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let (anchor, anchor_wall) = (Instant::now(), wall_micros());
    let wall = |t: Instant| -> i64 {
        match t.checked_duration_since(anchor) {
            Some(d) => anchor_wall + d.as_micros() as i64,
            None => anchor_wall - anchor.duration_since(t).as_micros() as i64,
        }
    };
    let mut logged_until: HashMap<(String, u64), Instant> = HashMap::new();
    let end = tokio::time::sleep(CHILD_LIFETIME);
    tokio::pin!(end);
    loop {
        let mut out = String::new();
        tokio::select! {
            e = events.recv() => match e {
                Ok(ShardEvent::Gained { shard, token, at }) => {
                    out.push_str(&format!("G {shard} {token} {}\n", wall(at)));
                }
                Ok(ShardEvent::Lost { shard, token, at, .. }) => {
                    out.push_str(&format!("L {shard} {token} {}\n", wall(at)));
                }
                Err(e) => {
                    out.push_str(&format!("X {e}\n"));
                    file.write_all(out.as_bytes()).unwrap();
                    std::process::exit(3);
                }
            },
            changed = held.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = held.borrow_and_update().clone();
                for (shard, h) in snapshot.iter() {
                    let key = (shard.to_string(), h.token);
                    let newer = match logged_until.get(&key) {
                        Some(u) => *u < h.valid_until,
                        None => true,
                    };
                    if newer {
                        logged_until.insert(key, h.valid_until);
                        out.push_str(&format!(
                            "E {shard} {} {} {}\n",
                            h.token,
                            wall(h.since),
                            wall(h.valid_until)
                        ));
                    }
                }
            }
            () = &mut end => std::process::exit(4),
        }
        // One append per batch, so a kill leaves at most a torn last line.
        file.write_all(out.as_bytes()).unwrap();
    }
}

// ---- parent ---------------------------------------------------------------------------

async fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let store = open(&db).await;
    let raw = store.leases().clone();
    let mut rng = Rng::seeded("BERTH_RS_SEED");
    let mut children = Children::new(TEST_NAME, CHILD_ENV, PROCESSES, dir.path().to_owned());
    let start = |children: &mut Children, i: usize| {
        children.start(i, |_, log| {
            format!("{}|{}|{}", db.display(), address(i), log.display())
        })
    };
    for i in 0..PROCESSES {
        start(&mut children, i);
    }
    let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < CHAOS {
        tokio::time::sleep(rng.millis(150, 600)).await;
        let i = rng.below(PROCESSES as u64) as usize;
        // Whatever the seed, some shards must change hands: the first action drops a runner
        // from the registry, the fourth marks one unhealthy.
        let roll = match n {
            0 => 0,
            3 => 10,
            _ => rng.below(10),
        };
        n += 1;
        let action = match roll {
            0..=3 => {
                children.kill(i);
                if roll == 0 || rng.below(2) == 0 {
                    // A failure detector notices and drops it; the others take its shards.
                    raw.unregister(&address(i)).await.unwrap();
                    tokio::time::sleep(rng.millis(0, 2000)).await;
                }
                start(&mut children, i);
                "kill -9 and restart"
            }
            4..=6 => {
                if let Some(c) = children.pid(i) {
                    signal(c, "-STOP");
                    tokio::time::sleep(rng.millis(200, 2500)).await;
                    signal(c, "-CONT");
                }
                "freeze (SIGSTOP) and thaw"
            }
            _ => {
                let healthy = roll != 10 && rng.below(2) == 0;
                // NotFound while it is unregistered is fine.
                let _ = raw.set_health(&address(i), healthy).await;
                "mark healthy or unhealthy"
            }
        };
        *actions.entry(action).or_default() += 1;
    }
    for i in 0..PROCESSES {
        children.kill(i);
    }
    println!("actions: {actions:?}");

    let beliefs = read_beliefs(&children.logs);
    let per_process: Vec<usize> = (0..PROCESSES)
        .map(|i| {
            beliefs
                .iter()
                .filter(|b| b.runner.starts_with(&format!("{i}-")))
                .count()
        })
        .collect();
    let mut holders: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for b in &beliefs {
        holders.entry(&b.shard).or_default().insert(&b.runner[..1]);
    }
    let handed_over = holders.values().filter(|h| h.len() > 1).count();
    let checked = check_beliefs(&beliefs).unwrap_or_else(|e| panic!("split brain: {e}"));
    println!(
        "{checked} beliefs from {} process runs checked; per process {per_process:?}; \
         {handed_over} of {} shards held by more than one process over time",
        children.logs.len(),
        holders.len()
    );
    assert!(
        per_process.iter().all(|n| *n > 0),
        "every process held shards"
    );
    assert!(handed_over > 30, "shards changed hands between processes");
    assert_eq!(holders.len(), 300, "every shard was held at some point");
}

/// Turns the logs into beliefs: per process run, shard and token, from the earliest start
/// to the loss, or (killed before a loss was logged) to the last validity it logged.
fn read_beliefs(logs: &[PathBuf]) -> Vec<Belief> {
    let mut out = Vec::new();
    for log in logs {
        let name = log.file_stem().unwrap().to_string_lossy();
        let run = name.trim_start_matches("beliefs-").to_string();
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(!text.contains("\nX "), "{run}: the logger fell behind");
        // (shard, token) -> (from, until, lost)
        let mut seen: HashMap<(String, u64), (i64, i64, bool)> = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let parse = |s: &str| s.parse::<i64>().ok();
            let (kind, shard, token, a, b) = match f.as_slice() {
                ["G", s, t, from] => ("G", s, parse(t), parse(from), parse(from)),
                ["E", s, t, since, until] => ("E", s, parse(t), parse(since), parse(until)),
                ["L", s, t, at] => ("L", s, parse(t), parse(at), parse(at)),
                _ => continue, // a line torn by a kill
            };
            let (Some(token), Some(a), Some(b)) = (token, a, b) else {
                continue;
            };
            let e = seen
                .entry((shard.to_string(), token as u64))
                .or_insert((a, b, false));
            e.0 = e.0.min(a);
            match kind {
                "L" => *e = (e.0, b, true),
                _ if !e.2 => e.1 = e.1.max(b),
                _ => {}
            }
        }
        for ((shard, token), (from, until, _)) in seen {
            out.push(Belief {
                runner: run.clone(),
                shard,
                token,
                from: from as f64 / 1e6,
                until: until as f64 / 1e6,
            });
        }
    }
    out
}
