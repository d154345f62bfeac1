//! Rough throughput of the engine on the memory and SQLite backends.
//!
//! `cargo run --release -p berth-pipeline --example throughput`
//!
//! Prints stage commits per second for one run looping through stages, and runs per second
//! for many small concurrent runs. Figures for docs belong in the criterion benches; this is
//! a quick look.

use berth_core::{Durability, OpenOptions, Store};
use berth_pipeline::{Engine, Pipeline, Route, Stage, Step};
use serde_json::json;
use std::time::Instant;

const LOOP_STAGES: u64 = 2_000;
const SMALL_RUNS: u64 = 5_000;

fn looping() -> Pipeline {
    Pipeline::new("loop").stage(
        Stage::new("tick")
            .step(Step::new("inc", |ctx| async move {
                let n = ctx.state()["n"].as_u64().unwrap_or(0);
                Ok(json!({ "n": n + 1, "payload": "x".repeat(600) }))
            }))
            .router(|i| {
                if i.state["n"].as_u64() < Some(LOOP_STAGES) {
                    Route::jump("tick")
                } else {
                    Route::Advance
                }
            }),
    )
}

fn small() -> Pipeline {
    Pipeline::new("small")
        .stage(Stage::new("a").step(Step::new("s", |_| async { Ok(json!({"a": 1})) })))
        .stage(Stage::new("b").step(Step::new("s", |_| async { Ok(json!({"b": 2})) })))
}

async fn measure(name: &str, store: Store) -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new(store.clone(), looping())?;
    let t = Instant::now();
    let report = engine.start(json!({})).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{name:<18} one run:   {:>8.0} stage commits/s ({:.1} µs per stage)",
        report.stage_commits as f64 / secs,
        secs * 1e6 / report.stage_commits as f64
    );

    let engine = Engine::new(store, small())?;
    let t = Instant::now();
    let handles: Vec<_> = (0..SMALL_RUNS)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.start(json!({})).await })
        })
        .collect();
    for h in handles {
        h.await??;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{name:<18} {SMALL_RUNS} runs: {:>8.0} runs/s (2 stages, 3 commits each)",
        SMALL_RUNS as f64 / secs
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    measure("memory", berth_state_memory::open(OpenOptions::default())).await?;
    let dir = tempfile::tempdir()?;
    for (name, durability) in [
        ("sqlite immediate", Durability::Immediate),
        ("sqlite relaxed", Durability::Relaxed),
    ] {
        let path = dir.path().join(format!("{}.db", name.replace(' ', "-")));
        let store =
            berth_state_sqlite::open(path, OpenOptions::default().with_durability(durability))
                .await?;
        measure(name, store).await?;
    }
    Ok(())
}
