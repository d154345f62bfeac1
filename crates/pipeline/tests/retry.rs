//! Retries and back-off, with tokio's paused clock and the store's manual clock.
mod common;

use berth_pipeline::{
    Cause, Engine, EventKind, Outcome, Pipeline, RetryPolicy, Stage, Step, StepError,
};
use common::{drain, memory};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// tokio's paused clock rounds each timer up to its next millisecond tick.
fn assert_close(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed >= expected && elapsed <= expected + Duration::from_millis(5),
        "waited {elapsed:?}, expected {expected:?}"
    );
}

fn flaky(fail_times: u32, keys: Arc<Mutex<Vec<String>>>) -> Step {
    Step::new("flaky", move |ctx| {
        let keys = keys.clone();
        async move {
            keys.lock().unwrap().push(ctx.idempotency_key());
            if ctx.attempt() <= fail_times {
                Err(StepError::new(format!("failure {}", ctx.attempt())))
            } else {
                Ok(json!({"attempt": ctx.attempt()}))
            }
        }
    })
}

#[tokio::test]
async fn retries_wait_the_exponential_back_off() {
    tokio::time::pause();
    let (store, _clock) = memory();
    let keys = Arc::new(Mutex::new(Vec::new()));
    let policy =
        RetryPolicy::attempts(4).backoff(Duration::from_millis(100), 3, Duration::from_millis(500));
    let p = Pipeline::new("p").stage(Stage::new("s").step(flaky(3, keys.clone()).retry(policy)));
    let engine = Engine::new(store, p).unwrap();
    let mut rx = engine.subscribe();
    let before = tokio::time::Instant::now();
    let report = engine.start(json!({})).await.unwrap();
    // 100 ms, then 300 ms, then 900 ms capped at 500 ms.
    assert_close(before.elapsed(), Duration::from_millis(900));
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.state, json!({"attempt": 4}));
    let retries: Vec<(u32, Duration)> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StepRetry { attempt, delay, .. } => Some((attempt, delay)),
            _ => None,
        })
        .collect();
    assert_eq!(
        retries,
        [
            (1, Duration::from_millis(100)),
            (2, Duration::from_millis(300)),
            (3, Duration::from_millis(500))
        ]
    );
    let run = report.run_id;
    assert_eq!(
        *keys.lock().unwrap(),
        (1..=4)
            .map(|a| format!("{run}/0/s/flaky/{a}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn exhausted_retries_fail_with_the_last_error_and_permanent_errors_skip_retries() {
    tokio::time::pause();
    let (store, _) = memory();
    let keys = Arc::new(Mutex::new(Vec::new()));
    let policy =
        RetryPolicy::attempts(3).backoff(Duration::from_secs(1), 2, Duration::from_secs(60));
    let permanent =
        Step::new("perm", |_| async { Err(StepError::permanent("bad input")) }).retry(policy);
    let p = Pipeline::new("p").stage(
        Stage::new("s")
            .step(flaky(10, keys.clone()).retry(policy))
            .step(permanent),
    );
    let engine = Engine::new(store, p).unwrap();
    let before = tokio::time::Instant::now();
    let report = engine.start(json!({})).await.unwrap();
    assert_close(before.elapsed(), Duration::from_secs(3));
    let Outcome::Failed(f) = report.outcome else {
        panic!()
    };
    assert_eq!(
        f.causes,
        vec![
            Cause::Step {
                step: "flaky".into(),
                attempts: 3,
                error: "failure 3".into()
            },
            Cause::Step {
                step: "perm".into(),
                attempts: 1,
                error: "bad input".into()
            },
        ]
    );
    assert_eq!(keys.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried() {
    tokio::time::pause();
    let (store, clock) = memory();
    let step = Step::new("slow-once", |ctx| async move {
        if ctx.attempt() == 1 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(json!({"ok": ctx.attempt()}))
    })
    .timeout(Duration::from_secs(2))
    .retry(RetryPolicy::attempts(2).backoff(
        Duration::from_millis(250),
        2,
        Duration::from_secs(1),
    ));
    let p = Pipeline::new("p").stage(Stage::new("s").step(step));
    let engine = Engine::new(store, p).unwrap();
    let mut rx = engine.subscribe();
    let before = tokio::time::Instant::now();
    let report = engine.start(json!({})).await.unwrap();
    assert_close(before.elapsed(), Duration::from_millis(2250));
    assert_eq!(report.state, json!({"ok": 2}));
    let events = drain(&mut rx);
    // Event times come from the store's manual clock, which nobody moved.
    assert!(events
        .iter()
        .all(|e| e.at == berth_core::Clock::now(&clock)));
    assert!(events.iter().any(
        |e| matches!(&e.kind, EventKind::StepRetry { error, .. } if error.contains("timed out"))
    ));
}
