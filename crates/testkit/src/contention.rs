//! Checkpoint commits from several real processes to overlapping runs: no commit may give up
//! or time out, and afterwards every run's current checkpoint is its newest history entry.
//!
//! A backend's test binary (with `harness = false`) calls [`main`]: run as the parent it spawns
//! [`Plan::processes`] copies of itself as children, each doing [`Plan::commits`] stage
//! commits (a state patch and a checkpoint in one batch, pending writes every fifth commit)
//! spread over [`Plan::runs`] runs shared by all children; then it checks the result.
//! `BERTH_CONTENTION_PROCESSES` and `BERTH_CONTENTION_COMMITS` change the counts (default
//! 4 × 400).

use berth_core::{Batch, Checkpoint, Result, Store};
use serde_json::json;
use std::future::Future;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a child: its index.
const CHILD_ENV: &str = "BERTH_CONTENTION_CHILD";
const NAMESPACE: &str = "contention";

/// How much contention to make.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Writer processes.
    pub processes: usize,
    /// Commits per process.
    pub commits: usize,
    /// Runs they share.
    pub runs: usize,
}

impl Plan {
    /// 4 processes × 400 commits over 2 runs, or the counts from the environment.
    pub fn from_env() -> Self {
        let read = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Plan {
            processes: read("BERTH_CONTENTION_PROCESSES", 4),
            commits: read("BERTH_CONTENTION_COMMITS", 400),
            runs: read("BERTH_CONTENTION_RUNS", 2),
        }
    }
}

fn run_name(i: usize) -> String {
    format!("run-{i}")
}

/// Runs the parent or, in a spawned copy, a child. `open` opens the shared store (the same
/// location in every process); `location_env` is passed on to the children unchanged.
pub fn main<O, F>(name: &str, location_env: &[(&str, String)], open: O)
where
    O: Fn() -> F,
    F: Future<Output = Result<Store>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let plan = Plan::from_env();
    if let Ok(index) = std::env::var(CHILD_ENV) {
        let index: usize = index.parse().expect("child index");
        let store = runtime.block_on(open()).expect("child opens the store");
        if let Err(e) = runtime.block_on(child(&store, index, plan)) {
            eprintln!("child {index}: {e}");
            std::process::exit(1);
        }
        return;
    }
    // Opened first, so the location exists (and is migrated) before the children race.
    let store = runtime.block_on(open()).expect("parent opens the store");
    let exe = std::env::current_exe().expect("this test binary");
    let started = Instant::now();
    let children: Vec<_> = (0..plan.processes)
        .map(|i| {
            Command::new(&exe)
                .env(CHILD_ENV, i.to_string())
                .envs(location_env.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a writer process")
        })
        .collect();
    let mut failed = 0;
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().expect("writer process ends");
        let text = String::from_utf8_lossy(&out.stdout);
        println!("{name}: writer {i}: {}", text.trim());
        if !out.status.success() {
            failed += 1;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(failed, 0, "{name}: {failed} writer process(es) gave up");
    runtime.block_on(verify(&store, plan));
    println!(
        "{name}: {} processes x {} commits over {} runs in {:.1} s: 0 give-ups, current == \
         newest history entry for every run",
        plan.processes,
        plan.commits,
        plan.runs,
        elapsed.as_secs_f64()
    );
}

/// A child's commits; any failed commit (give-up, timeout, anything) ends it with an error.
async fn child(store: &Store, index: usize, plan: Plan) -> std::result::Result<(), String> {
    let cps = store.checkpoints();
    let mut slowest = Duration::ZERO;
    let started = Instant::now();
    for i in 0..plan.commits {
        // Scattered, and more writers than runs: every commit contends with another's.
        let spread = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index as u64;
        let run = run_name((spread.rotate_left(17) % plan.runs as u64) as usize);
        let mut batch = Batch::new();
        batch.put(
            "contention-state",
            &run,
            json!({"writer": index, "commit": i}),
        );
        let cp = Checkpoint::new(NAMESPACE, &run, "stage", "Stage", store.clock().now())
            .with_metadata("writer", index)
            .with_metadata("commit", i);
        let began = Instant::now();
        let id = cps.write(&mut batch, &cp).map_err(|e| e.to_string())?;
        store
            .commit(batch)
            .await
            .map_err(|e| format!("commit {i} to {run} failed: {e}"))?;
        if i % 5 == 0 {
            let writes = [("out".to_owned(), json!(i))];
            cps.put_writes(NAMESPACE, &run, &id, &format!("task-{index}"), &writes)
                .await
                .map_err(|e| format!("pending writes {i} to {run} failed: {e}"))?;
        }
        slowest = slowest.max(began.elapsed());
    }
    println!(
        "{} commits in {:.1} s, slowest {} ms",
        plan.commits,
        started.elapsed().as_secs_f64(),
        slowest.as_millis()
    );
    Ok(())
}

/// Every commit is there, and every run's current checkpoint is its newest history entry.
async fn verify(store: &Store, plan: Plan) {
    let cps = store.checkpoints();
    let mut total = 0;
    for r in 0..plan.runs {
        let run = run_name(r);
        let history = cps.history(NAMESPACE, &run).await.expect("history");
        let current = cps.read(NAMESPACE, &run).await.expect("read");
        assert_eq!(
            current.as_ref().map(|c| &c.entry_id),
            history.first().map(|c| &c.entry_id),
            "{run}: current == newest history entry"
        );
        assert!(history.windows(2).all(|w| w[0].entry_id > w[1].entry_id));
        total += history.len();
    }
    assert_eq!(
        total,
        plan.processes * plan.commits,
        "every commit kept once"
    );
    let writes = store
        .records()
        .count("checkpoint-writes", "")
        .await
        .expect("count writes");
    let expected = plan.processes * plan.commits.div_ceil(5);
    assert_eq!(writes, expected as u64, "every pending write kept once");
}
