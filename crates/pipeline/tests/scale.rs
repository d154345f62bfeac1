//! Many runs at once on the memory backend.
mod common;

use berth_pipeline::{Engine, Outcome, Pipeline, Route, Stage, Step};
use common::{memory, patch_step};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_small_runs_complete() {
    let (store, _) = memory();
    let p = Pipeline::new("small")
        .stage(Stage::new("double").step(Step::new("x2", |ctx| async move {
            let n = ctx.state()["n"].as_u64().unwrap_or(0);
            tokio::task::yield_now().await;
            Ok(json!({"doubled": n * 2}))
        })))
        .stage(
            Stage::new("mark")
                .step(patch_step("m", json!({"marked": true})))
                .router(|i| {
                    if i.state["n"].as_u64().unwrap_or(0) % 2 == 0 {
                        Route::Terminate
                    } else {
                        Route::Advance
                    }
                }),
        )
        .stage(Stage::new("odd").step(patch_step("o", json!({"odd": true}))));
    let engine = Engine::new(store, p).unwrap();
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..10_000u64)
        .map(|n| {
            let engine = engine.clone();
            tokio::spawn(async move { (n, engine.start(json!({"n": n})).await) })
        })
        .collect();
    let mut completed = 0;
    let mut terminated = 0;
    for h in handles {
        let (n, report) = h.await.unwrap();
        let report = report.unwrap();
        assert_eq!(report.state["doubled"], json!(n * 2));
        match report.outcome {
            Outcome::Completed => {
                assert_eq!(report.state["odd"], json!(true));
                completed += 1;
            }
            Outcome::Terminated => {
                assert!(report.state.get("odd").is_none());
                terminated += 1;
            }
            other => panic!("run {n}: {other:?}"),
        }
    }
    assert_eq!((completed, terminated), (5_000, 5_000));
    println!("10 000 runs in {:?}", started.elapsed());
}
