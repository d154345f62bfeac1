//! Crash safety under SIGKILL.
//!
//! The parent re-runs this test binary as a child (selected by an environment variable).
//! The child commits batches from several tasks at once with `Immediate` durability and
//! prints each acknowledged batch. The parent kills it with SIGKILL after a random number of
//! acknowledgements (and a random extra moment), at least 20 times, reopens the database
//! after each kill and checks that every acknowledged batch is entirely present and that no
//! batch is partly present.

use berth_core::{Batch, Durability, OpenOptions, Precondition, Scan};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "BERTH_SQLITE_CRASH_CHILD";
/// Concurrent committing tasks in the child, so commit groups are killed too.
const WRITERS: u64 = 4;
const RECORDS_PER_BATCH: u64 = 3;
const KILLS: u64 = 24;
/// The child gives up on its own after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);
/// The parent fails if a child says nothing for this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(20);

type BatchId = (u64, u64, u64);

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let started = Instant::now();
    let batches = parent();
    println!(
        "crash: {KILLS} kills, {batches} acknowledged batches verified in {:.1?}",
        started.elapsed()
    );
    println!("crash: 1 passed, 0 failed");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn record_key(e: u64, t: u64, i: u64, j: u64) -> String {
    format!("e{e:03}-t{t}-b{i:06}-r{j}")
}

fn child(spec: &str) {
    let (path, epoch) = spec.rsplit_once('|').expect("path|epoch");
    let epoch: u64 = epoch.parse().expect("epoch");
    runtime().block_on(async move {
        let options = OpenOptions::default().with_durability(Durability::Immediate);
        let store = berth_state_sqlite::open(path, options)
            .await
            .expect("child opens");
        let deadline = Instant::now() + CHILD_LIFETIME;
        let mut tasks = Vec::new();
        for t in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let mut batch = Batch::new();
                    for j in 0..RECORDS_PER_BATCH {
                        let pad = "x".repeat(1500);
                        batch
                            .put(
                                "crash",
                                &record_key(epoch, t, i, j),
                                json!({"i": i, "pad": pad}),
                            )
                            .when(Precondition::Absent);
                    }
                    let progress = batch.put("progress", &format!("e{epoch:03}-t{t}"), json!(i));
                    progress.when(if i == 0 {
                        Precondition::Absent
                    } else {
                        Precondition::Version(i)
                    });
                    store.commit(batch).await.expect("child commit");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {epoch} {t} {i}").expect("stdout");
                    out.flush().expect("flush");
                    i += 1;
                }
            }));
        }
        for task in tasks {
            task.await.expect("writer task");
        }
    });
}

/// Runs a child until it has acknowledged `acks` batches, kills it, and returns every
/// batch it acknowledged (complete lines only).
fn run_and_kill(path: &Path, epoch: u64, acks: usize, extra_spin: Duration) -> Vec<BatchId> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .env(CHILD_ENV, format!("{}|{epoch}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<BatchId>();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill was never acknowledged.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => {
                    let parts: Vec<u64> = line
                        .split_whitespace()
                        .skip(1)
                        .map(|p| p.parse().expect("ack number"))
                        .collect();
                    if tx.send((parts[0], parts[1], parts[2])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < acks {
        match rx.recv_timeout(SILENCE_LIMIT) {
            Ok(id) => acked.push(id),
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "child {epoch} stopped acknowledging after {} batches: {e}",
                    acked.len()
                );
            }
        }
    }
    let spin_until = Instant::now() + extra_spin;
    while Instant::now() < spin_until {
        std::hint::spin_loop();
    }
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread");
    acked.extend(rx.try_iter());
    acked
}

/// Checks the database against everything acknowledged so far; returns the batch count.
fn verify(path: &Path, acked: &BTreeSet<BatchId>) -> usize {
    runtime().block_on(async {
        let store = berth_state_sqlite::open(path, OpenOptions::default())
            .await
            .expect("reopen after the kill");
        let mut present: BTreeMap<BatchId, u64> = BTreeMap::new();
        for r in store
            .records()
            .scan("crash", &Scan::all())
            .await
            .expect("scan")
        {
            let mut it = r.key.split('-');
            let e = it
                .next()
                .and_then(|s| s[1..].parse().ok())
                .expect("epoch part");
            let t = it
                .next()
                .and_then(|s| s[1..].parse().ok())
                .expect("task part");
            let i = it
                .next()
                .and_then(|s| s[1..].parse().ok())
                .expect("batch part");
            *present.entry((e, t, i)).or_default() += 1;
        }
        for (id, n) in &present {
            assert_eq!(*n, RECORDS_PER_BATCH, "batch {id:?} is partly present");
        }
        for id in acked {
            assert!(
                present.contains_key(id),
                "acknowledged batch {id:?} is missing"
            );
        }
        let mut per_writer: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
        for (e, t, i) in present.keys() {
            per_writer.entry((*e, *t)).or_default().push(*i);
        }
        for ((e, t), batches) in per_writer {
            let progress = store
                .records()
                .get("progress", &format!("e{e:03}-t{t}"))
                .await
                .expect("progress")
                .expect("a progress record for every writer with batches");
            let last = batches.len() as u64 - 1;
            assert_eq!(
                progress.value,
                json!(last),
                "progress of writer {e}/{t} disagrees"
            );
            assert_eq!(
                batches,
                (0..=last).collect::<Vec<_>>(),
                "writer {e}/{t} has gaps"
            );
        }
        present.len()
    })
}

fn parent() -> usize {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("crash.db");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(7)
        | 1;
    println!("crash: seed {seed}");
    let mut rng = seed;
    let mut next = move |bound: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % bound
    };
    let mut acked = BTreeSet::new();
    let mut present = 0;
    for epoch in 0..KILLS {
        let acks = 1 + next(40) as usize;
        let spin = Duration::from_micros(next(3000));
        acked.extend(run_and_kill(&path, epoch, acks, spin));
        present = verify(&path, &acked);
    }
    assert!(present >= acked.len());
    acked.len()
}
