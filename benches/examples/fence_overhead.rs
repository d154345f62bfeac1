//! What a fence adds to a pipeline stage commit, measured side by side: on each backend, an
//! unfenced and a fenced engine (each on a store of its own) run looping runs in alternating
//! rounds (the order swapped every round), so both see the same machine load; the report is
//! the median time per stage commit of each and their ratio.
//!
//! `cargo run --release -p berth-benches --example fence_overhead` (`BERTH_BENCH_BACKENDS`
//! narrows the backends; `BERTH_TEST_MONGODB_URI` adds MongoDB).
//!
//! Times on a shared machine move with its load; instruction counts do not. With arguments
//! `BACKEND plain|fenced COMMITS` the example runs just that (one run of that many stage
//! commits, nothing printed), for counting under valgrind: the difference between two
//! counts of different lengths, divided by the difference in commits, is what one stage
//! commit executes, e.g.
//! `valgrind --tool=cachegrind --cache-sim=no target/release/examples/fence_overhead memory fenced 2000`.

use berth_benches::fixture::open;
use berth_benches::pipelines::{fenced_looping, looping, stage_commits};
use berth_benches::{backends, runtime};
use berth_pipeline::Engine;
use std::time::Duration;

const ROUNDS: usize = 20;

/// Stage commits per round: enough for ~50–200 ms a round on each kind of backend.
fn commits_per_round(backend: &str) -> u64 {
    match backend {
        "memory" => 5_000,
        b if b.starts_with("mongo") => 100,
        _ => 500,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `commits` stage commits of one engine (`fenced` or not) on `backend`, untimed.
fn count_only(backend: &str, mode: &str, commits: u64) {
    let rt = runtime();
    let backend = backends()
        .into_iter()
        .find(|b| b.name == backend)
        .unwrap_or_else(|| panic!("no backend {backend}"));
    let o = open(&rt, &backend);
    let engine = match mode {
        "plain" => Engine::new(o.store.clone(), looping()).expect("engine"),
        "fenced" => rt.block_on(fenced_looping(&o.store)),
        other => panic!("mode is plain or fenced, not {other}"),
    };
    rt.block_on(stage_commits(&engine, 1, commits));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [backend, mode, commits] = args.as_slice() {
        let commits = commits.parse().expect("COMMITS is a number");
        return count_only(backend, mode, commits);
    }
    let rt = runtime();
    println!("| backend | unfenced (median) | fenced (median) | fenced / unfenced |");
    println!("|---|---|---|---|");
    for backend in backends() {
        let plain_store = open(&rt, &backend);
        let fenced_store = open(&rt, &backend);
        let plain = Engine::new(plain_store.store.clone(), looping()).expect("engine");
        let fenced = rt.block_on(fenced_looping(&fenced_store.store));
        let n = commits_per_round(backend.name);
        // One warm-up round each, not counted.
        rt.block_on(stage_commits(&plain, 1, n));
        rt.block_on(stage_commits(&fenced, 1, n));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            rt.block_on(async {
                if round % 2 == 0 {
                    a.push(stage_commits(&plain, 1, n).await / n as u32);
                    b.push(stage_commits(&fenced, 1, n).await / n as u32);
                } else {
                    b.push(stage_commits(&fenced, 1, n).await / n as u32);
                    a.push(stage_commits(&plain, 1, n).await / n as u32);
                }
            });
        }
        let ratios: Vec<f64> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
            .collect();
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let (plain_m, fenced_m) = (median(a), median(b));
        println!(
            "| {} | {plain_m:.1?} | {fenced_m:.1?} | {:.3} (rounds {:.2}–{:.2}) |",
            backend.name,
            fenced_m.as_secs_f64() / plain_m.as_secs_f64(),
            sorted[0],
            sorted[sorted.len() - 1],
        );
    }
}
