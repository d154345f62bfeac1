//! Crash safety on SQLite: a child process driving runs is killed (SIGKILL) at random
//! points at least 20 times and restarted; the final state and stage log must equal an
//! uninterrupted run's, with no stage committed twice.
//!
//! The parent re-executes this test binary with `BERTH_PIPELINE_CRASH_CHILD=<db path>`;
//! the child resumes or starts every run, printing a line per stage commit, until all end.

use berth_core::{Durability, OpenOptions, Store};
use berth_pipeline::record::{RunStatus, StageLogEntry};
use berth_pipeline::{Engine, EventKind, Outcome, Pipeline, Route, Stage, StartOptions, Step};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "BERTH_PIPELINE_CRASH_CHILD";
const TEST_NAME: &str = "killed_child_resumes_to_the_same_result_without_double_commits";
const RUNS: usize = 6;
const LOOPS: u64 = 60;
const KILLS: usize = 24;
/// Kills that must land while the child still had work to do.
const MIN_KILLS_MID_WORK: usize = 20;
/// The parent fails if a child is silent this long.
const SILENCE_LIMIT: Duration = Duration::from_secs(30);

fn run_id(i: usize) -> String {
    format!("crash-run-{i}")
}

/// Counts up in a loop (two concurrent steps per stage), pauses with timeout 0 half way,
/// then finishes. A stage applied twice would change `n`, `trail` or `sum`.
fn pipeline() -> Pipeline {
    let bump = Step::new("bump", |ctx| async move {
        // Some work, so that kills land inside steps as well as inside commits.
        tokio::time::sleep(Duration::from_millis(1)).await;
        let n = ctx.state()["n"].as_u64().unwrap_or(0);
        Ok(json!({ "n": n + 1 }))
    });
    let trail = Step::new("trail", |ctx| async move {
        let n = ctx.state()["n"].as_u64().unwrap_or(0);
        let mut trail = ctx.state()["trail"].as_array().cloned().unwrap_or_default();
        trail.push(json!(n));
        let sum = ctx.state()["sum"].as_u64().unwrap_or(0) + n * n;
        Ok(json!({ "trail": trail, "sum": sum }))
    });
    Pipeline::new("crash")
        .stage(Stage::new("count").step(bump).step(trail).router(|i| {
            let n = i.state["n"].as_u64().unwrap_or(0);
            if n == LOOPS / 2 && i.state.get("paused").is_none() {
                Route::jump("pause")
            } else if n < LOOPS {
                Route::jump("count")
            } else {
                Route::Advance
            }
        }))
        .stage(
            Stage::new("finish")
                .step(Step::new("seal", |ctx| async move {
                    Ok(json!({ "sealed": ctx.state()["sum"].clone() }))
                }))
                .router(|_| Route::Terminate),
        )
        .stage(
            Stage::new("pause")
                .step(Step::new("mark", |_| async {
                    Ok(json!({ "paused": true }))
                }))
                .router(|_| Route::pause_for("count", Duration::ZERO)),
        )
}

/// Drives every run to its end: starts missing ones, resumes running or paused ones.
async fn drive_all(store: Store, announce: bool) -> Vec<(String, Value, Vec<StageLogEntry>)> {
    let engine = Engine::new(store, pipeline()).unwrap();
    if announce {
        let mut rx = engine.subscribe();
        tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                if matches!(
                    e.kind,
                    EventKind::StageSuccess { .. } | EventKind::StagePaused { .. }
                ) {
                    println!("\nBERTH_COMMIT {}", e.run_id);
                }
            }
        });
    }
    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let id = run_id(i);
                loop {
                    let report = match engine.run_record(&id).await.unwrap() {
                        None => engine
                            .start_with(StartOptions {
                                run_id: Some(id.clone()),
                                state: json!({ "run": i }),
                                ..StartOptions::default()
                            })
                            .await
                            .unwrap(),
                        Some((r, _)) if r.status.is_terminal() => break,
                        Some(_) => engine.resume(&id).await.unwrap(),
                    };
                    if !matches!(report.outcome, Outcome::Paused { .. }) {
                        assert!(report.succeeded(), "{id}: {:?}", report.outcome);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut out = Vec::new();
    for i in 0..RUNS {
        let id = run_id(i);
        let (record, _) = engine.run_record(&id).await.unwrap().unwrap();
        assert_eq!(record.status, RunStatus::Terminated);
        out.push((
            id.clone(),
            record.state,
            engine.stage_log(&id).await.unwrap(),
        ));
    }
    out
}

fn child(path: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = OpenOptions::default().with_durability(Durability::Immediate);
        let store = berth_state_sqlite::open(path, options).await.unwrap();
        drive_all(store, true).await;
        println!("\nBERTH_CHILD_DONE");
    });
}

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn strip(log: &[StageLogEntry]) -> Vec<(u64, String, Value, String)> {
    log.iter()
        .map(|e| {
            (
                e.seq,
                e.stage.clone(),
                serde_json::to_value(&e.patches).unwrap(),
                format!("{:?}/{:?}", e.route, e.cursor),
            )
        })
        .collect()
}

#[test]
fn killed_child_resumes_to_the_same_result_without_double_commits() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(&path);
        return;
    }
    let started = Instant::now();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pipeline.db");
    let exe = std::env::current_exe().unwrap();
    let spawn = || {
        Command::new(&exe)
            .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut kills_mid_work = 0;
    let mut commits_seen = 0;
    for _ in 0..KILLS {
        let mut child = spawn();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let wanted = 1 + rng.below(8);
        let mut seen = 0;
        let mut finished = false;
        while seen < wanted {
            match rx.recv_timeout(SILENCE_LIMIT) {
                Ok(line) if line.contains("BERTH_COMMIT") => seen += 1,
                Ok(line) if line.contains("BERTH_CHILD_DONE") => {
                    finished = true;
                    break;
                }
                Ok(_) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("child silent: {e}"),
            }
        }
        // A random extra moment, so the kill also lands inside commits and steps.
        std::thread::sleep(Duration::from_micros(rng.below(3_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        commits_seen += seen;
        if !finished {
            kills_mid_work += 1;
        }
    }
    // The last child runs to the end.
    let mut last = spawn();
    let out = BufReader::new(last.stdout.take().unwrap());
    let lines: Vec<String> = out.lines().map(|l| l.unwrap()).collect();
    assert!(last.wait().unwrap().success());
    assert!(
        lines.iter().any(|l| l.contains("BERTH_CHILD_DONE")),
        "last child: {lines:?}"
    );
    assert!(
        kills_mid_work >= MIN_KILLS_MID_WORK,
        "only {kills_mid_work} kills landed mid-work"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (crashed, reference) = rt.block_on(async {
        let store = berth_state_sqlite::open(&db, OpenOptions::default())
            .await
            .unwrap();
        let crashed = drive_all(store, false).await;
        let reference = drive_all(berth_state_memory::open(OpenOptions::default()), false).await;
        (crashed, reference)
    });
    for ((id, state, log), (_, ref_state, ref_log)) in crashed.iter().zip(&reference) {
        assert_eq!(state, ref_state, "{id}: final state");
        assert_eq!(state["n"], json!(LOOPS));
        let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=ref_log.len() as u64).collect::<Vec<_>>(),
            "{id}: each stage committed once"
        );
        assert_eq!(strip(log), strip(ref_log), "{id}: stage log");
    }
    println!(
        "crash: {KILLS} kills ({kills_mid_work} mid-work, {commits_seen} commits seen before kills) in {:.1?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_paused_run_survives_closing_and_reopening_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pause.db");
    let p = || {
        Pipeline::new("reopen")
            .stage(
                Stage::new("a")
                    .step(Step::new("s", |_| async { Ok(json!({"a": 1})) }))
                    .router(|_| Route::pause_for("b", Duration::from_secs(3600))),
            )
            .stage(Stage::new("b").step(Step::new("s", |_| async { Ok(json!({"b": 1})) })))
    };
    let run = {
        let store = berth_state_sqlite::open(&db, OpenOptions::default())
            .await
            .unwrap();
        let engine = Engine::new(store, p()).unwrap();
        let report = engine.start(json!({})).await.unwrap();
        assert!(matches!(report.outcome, Outcome::Paused { .. }));
        assert!(engine.registry().is_live("reopen", &report.run_id));
        report.run_id
    };
    let store = berth_state_sqlite::open(&db, OpenOptions::default())
        .await
        .unwrap();
    let engine = Engine::new(store.clone(), p()).unwrap();
    let listed = engine.paused_runs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].live);
    let mut rx = engine.subscribe();
    let done = engine.resume(&run).await.unwrap();
    assert_eq!(done.state, json!({"a": 1, "b": 1}));
    assert_eq!(
        rx.try_recv().unwrap().kind,
        EventKind::PipelineResumed {
            from: berth_pipeline::ResumeSource::Record
        }
    );
    assert!(store
        .checkpoints()
        .read("reopen", &run)
        .await
        .unwrap()
        .is_none());
}
