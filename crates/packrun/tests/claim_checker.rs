//! The multi-process ownership checker for runs.
//!
//! Eight worker processes (this test binary again, in worker mode) contend for three runs
//! through [`RunClaim`]: each takes a run's claim, appends log entries labelled with its
//! owner and the token it wrote under, and lets go. Meanwhile the checker stops workers
//! (SIGSTOP) for longer than the lease TTL and lets them go on (SIGCONT), and kills some
//! (SIGKILL) at random moments, starting new ones; the worker stopped or killed is mostly the
//! last owner of a run, as its owner record names it. Afterwards an independent pass over the
//! store checks each run's log in sequence order: a token smaller than one already seen is
//! a write accepted from an owner after its takeover (or two owners holding one run at
//! once). With fences there must be none; the same harness with fencing switched off (the
//! test-only `BERTH_TEST_UNFENCED`) must find some, so the checker can fail.
//!
//! Runs on an SQLite file and on the MongoDB test server, about 6 s per case on SQLite and 10 s on MongoDB by default;
//! `BERTH_CHECKER_SECS` makes the fenced cases longer.

use berth_core::packrun::{LogEntry, LogLevel};
use berth_core::{write_fenced, Claim, ErrorKind, OpenOptions, Store, Timestamp};
use berth_packrun::lease::{owner_of, RunClaim, LEASE_TTL_ENV, UNFENCED_ENV};
use rustix::process::{kill_process, Pid, Signal};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const WORKER_ENV: &str = "BERTH_CHECKER_WORKER";
const UNTIL_ENV: &str = "BERTH_CHECKER_UNTIL_MS";
const WORKERS: usize = 8;
const RUNS: [&str; 3] = ["c0", "c1", "c2"];
const TTL: Duration = Duration::from_millis(400);

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng((nanos ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `fut`, or a panic naming `what` once the store has not answered for a minute (a wedged
/// server fails the test instead of hanging it).
async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: the store did not answer within 60 s"),
    }
}

/// The process id of the last owner of `run`, as its owner record says (none if unknown).
async fn last_owner(store: &Store, run: &str) -> Option<u32> {
    let found = tokio::time::timeout(Duration::from_secs(5), owner_of(store, run)).await;
    let record = found.ok()?.ok()??;
    record.owner.rsplit_once(':')?.1.parse().ok()
}

/// Where the store is: `sqlite:PATH` or `mongodb:DATABASE|URI`.
async fn open(spec: &str) -> Store {
    if let Some(path) = spec.strip_prefix("sqlite:") {
        return berth_state_sqlite::open(path, OpenOptions::default())
            .await
            .expect("open the SQLite store");
    }
    let (db, uri) = spec
        .strip_prefix("mongodb:")
        .and_then(|s| s.split_once('|'))
        .expect("a store spec");
    let config = berth_state_mongo::MongoConfig::new(uri.to_owned())
        .database(db.to_owned())
        .auto_migrate(true);
    berth_state_mongo::open(config, OpenOptions::default())
        .await
        .expect("open the MongoDB store")
}

fn entry(run: &str, sequence: u64, owner: &str, token: u64) -> LogEntry {
    let mut metadata = BTreeMap::new();
    metadata.insert("owner".to_owned(), owner.to_owned());
    metadata.insert("token".to_owned(), token.to_string());
    LogEntry {
        run_id: run.to_owned(),
        sequence,
        timestamp: Timestamp::from_millis(now_ms() as i64),
        level: LogLevel::Info,
        event_type: "checker.write".into(),
        message: format!("{owner} under token {token}"),
        step_id: None,
        metadata,
    }
}

/// One worker: takes claims and writes under them until the deadline.
async fn worker(spec: String, until: u64) {
    let store = open(&spec).await;
    let mut rng = Rng::seeded();
    while now_ms() < until {
        let run = RUNS[rng.below(RUNS.len() as u64) as usize];
        let Ok(claim) = RunClaim::acquire(&store, run).await else {
            tokio::time::sleep(Duration::from_millis(5 + rng.below(30))).await;
            continue;
        };
        let owner = claim.owner().to_owned();
        let mut next = match store.logs().last_sequence(run).await {
            Ok(last) => last.unwrap_or(0) + 1,
            Err(_) => continue,
        };
        for _ in 0..5 + rng.below(25) {
            if claim.is_fenced() && claim.lost().is_cancelled() {
                break;
            }
            let written = if claim.is_fenced() {
                write_fenced(claim.as_ref(), |f| {
                    let e = entry(run, next, &owner, f.token);
                    let store = store.clone();
                    async move { store.logs().append_fenced(&[e], &f).await }
                })
                .await
            } else {
                // Fencing switched off: a runner that trusts its in-memory claim.
                let e = entry(run, next, &owner, claim.fence().token);
                store.logs().append(&[e]).await
            };
            match written {
                Ok(_) => next += 1,
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    match store.logs().last_sequence(run).await {
                        Ok(last) => next = last.unwrap_or(0) + 1,
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            }
            tokio::time::sleep(Duration::from_millis(rng.below(6))).await;
        }
        if !claim.lost().is_cancelled() {
            claim.release().await;
        }
    }
}

fn spawn_worker(spec: &str, until: u64, fenced: bool) -> Child {
    let mut c = Command::new(std::env::current_exe().expect("this test binary"));
    c.env(WORKER_ENV, spec)
        .env(UNTIL_ENV, until.to_string())
        .env(LEASE_TTL_ENV, TTL.as_millis().to_string())
        .env_remove("BERTH_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if fenced {
        c.env_remove(UNFENCED_ENV);
    } else {
        c.env(UNFENCED_ENV, "1");
    }
    c.spawn().expect("spawn a worker")
}

fn signal(child: &Child, sig: Signal) {
    if let Some(pid) = Pid::from_raw(child.id() as i32) {
        let _ = kill_process(pid, sig);
    }
}

/// What the independent check of the final store found.
#[derive(Debug, Default)]
struct Verdict {
    writes: usize,
    grants: usize,
    violations: Vec<String>,
}

async fn check(store: &Store) -> Verdict {
    let mut v = Verdict::default();
    for run in RUNS {
        let mut after = None;
        let mut highest = 0;
        let mut last_token = None;
        loop {
            let page = store
                .logs()
                .read(run, after, 1000)
                .await
                .expect("read logs");
            for e in &page {
                let token: u64 = e.metadata["token"].parse().expect("a token");
                v.writes += 1;
                if last_token != Some(token) {
                    v.grants += 1;
                    last_token = Some(token);
                }
                if token < highest {
                    v.violations.push(format!(
                        "{run} #{}: {} wrote under token {token} after token {highest} had written",
                        e.sequence, e.metadata["owner"]
                    ));
                }
                highest = highest.max(token);
            }
            match page.last() {
                Some(e) if page.len() == 1000 => after = Some(e.sequence),
                _ => break,
            }
        }
    }
    v
}

/// Runs the workers and the faults for `secs` against `spec`; the verdict.
fn contend(spec: &str, secs: u64, fenced: bool) -> Verdict {
    let until = now_ms() + secs * 1000;
    let mut rng = Rng::seeded();
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|_| spawn_worker(spec, until, fenced))
        .collect();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let store = rt.block_on(bounded("open the store", open(spec)));
    let (mut stops, mut kills) = (0, 0);
    while now_ms() + 200 < until {
        // Mostly the last owner of a run, so that a stop is likely to catch a holder.
        let run = RUNS[rng.below(RUNS.len() as u64) as usize];
        let i = rt
            .block_on(last_owner(&store, run))
            .and_then(|pid| workers.iter().position(|w| w.id() == pid))
            .unwrap_or_else(|| rng.below(WORKERS as u64) as usize);
        if rng.below(5) == 0 {
            signal(&workers[i], Signal::KILL);
            let _ = workers[i].wait();
            workers[i] = spawn_worker(spec, until, fenced);
            kills += 1;
        } else {
            // Stopped past its lease: others may take its run meanwhile.
            signal(&workers[i], Signal::STOP);
            std::thread::sleep(TTL + Duration::from_millis(100 + rng.below(600)));
            signal(&workers[i], Signal::CONT);
            stops += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.below(150)));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for w in &mut workers {
        signal(w, Signal::CONT);
        loop {
            match w.try_wait() {
                Ok(Some(_)) => break,
                _ if Instant::now() > deadline => {
                    signal(w, Signal::KILL);
                    let _ = w.wait();
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    let verdict = rt.block_on(bounded("check the logs", check(&store)));
    println!(
        "{spec} fenced={fenced}: {stops} stops, {kills} kills, {} writes under {} grants, {} violations",
        verdict.writes,
        verdict.grants,
        verdict.violations.len()
    );
    verdict
}

fn case(name: &str, spec: &str, secs: u64) {
    let fenced = contend(spec, secs, true);
    assert!(
        fenced.writes > 50 && fenced.grants > 10,
        "{name}: too little contention to judge: {fenced:?}"
    );
    assert!(
        fenced.violations.is_empty(),
        "{name}: writes accepted after a takeover: {:#?}",
        fenced.violations
    );
    println!("ok: {name} fenced, no write accepted after a takeover");
}

/// The same harness with fencing switched off must find a violation: in one of three rounds,
/// since a round whose stops all catch runners between claims has nothing to find.
fn self_test(name: &str, spec: impl Fn() -> String, secs: u64) {
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let unfenced = contend(&spec(), secs, false);
        if let Some(first) = unfenced.violations.first() {
            println!(
                "ok: {name} unfenced, the checker finds {} violation(s), e.g. {first}",
                unfenced.violations.len(),
            );
            return;
        }
        rounds.push(unfenced);
    }
    panic!(
        "{name}: with fencing switched off the checker found nothing in {} rounds, so it cannot \
         fail: {rounds:?}",
        rounds.len()
    );
}

fn mongo_spec() -> String {
    let uri = match std::env::var("BERTH_TEST_MONGODB_URI") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "BERTH_TEST_MONGODB_URI is not set: run ./scripts/test.sh, or \
             `eval \"$(scripts/mongo-server.sh)\"` and then cargo test"
        ),
    };
    format!(
        "mongodb:berth_checker_{}_{}|{uri}",
        std::process::id(),
        now_ms()
    )
}

fn main() {
    if let Ok(spec) = std::env::var(WORKER_ENV) {
        let until = std::env::var(UNTIL_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(worker(spec, until));
        return;
    }
    let secs = std::env::var("BERTH_CHECKER_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let dir = tempfile::tempdir().expect("a temp dir");
    let sqlite = |name: &str| format!("sqlite:{}", dir.path().join(name).display());
    case("sqlite", &sqlite("fenced.db"), secs);
    let round = std::sync::atomic::AtomicUsize::new(0);
    let next = || round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    self_test("sqlite", || sqlite(&format!("unfenced-{}.db", next())), 6);
    // The test server commits far fewer writes a second than SQLite: longer rounds.
    case("mongodb", &mongo_spec(), secs.max(10));
    self_test("mongodb", mongo_spec, 10);
}
