//! Peak resident memory (`VmHWM`) of the heavy workloads, one fresh process per case and
//! backend, so one case's high-water mark never hides another's.
//!
//! `cargo run --release -p berth-benches --example peak_rss [-- --out FILE]` runs every case on
//! every backend of `berth_benches::backends()` and writes the results as JSON (default
//! `$CARGO_TARGET_DIR/berth-peak-rss.json`, else `target/…`), which `bench-report` reads.
//! `peak_rss CASE BACKEND` runs one case in this process and prints its JSON line.

use berth_benches::fixture::{open, value};
use berth_benches::report::rss::{vm_hwm_kib, PeakRss};
use berth_benches::{backends, runtime};
use berth_core::{Batch, Store};
use berth_pipeline::{Engine, Pipeline, Stage, Step};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

const CASES: &[&str] = &["batch_10000_puts", "pipeline_10000_runs"];

async fn batch(store: &Store) {
    let mut batch = Batch::new();
    for i in 0..10_000u64 {
        batch.put("bench", &format!("k{i:06}"), value(i));
    }
    store.commit(batch).await.expect("commit");
}

async fn pipeline_runs(store: &Store) {
    let engine = Engine::new(
        store.clone(),
        Pipeline::new("small")
            .stage(Stage::new("a").step(Step::new("s", |_| async { Ok(json!({"a": 1})) })))
            .stage(Stage::new("b").step(Step::new("s", |_| async { Ok(json!({"b": 2})) }))),
    )
    .expect("engine");
    let handles: Vec<_> = (0..10_000)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.start(json!({})).await })
        })
        .collect();
    for h in handles {
        h.await.expect("run task").expect("run");
    }
}

fn one(case: &str, backend_name: &str) -> PeakRss {
    let backend = backends()
        .into_iter()
        .find(|b| b.name == backend_name)
        .unwrap_or_else(|| panic!("no backend {backend_name}"));
    let rt = runtime();
    let o = open(&rt, &backend);
    let baseline_kib = vm_hwm_kib().expect("VmHWM");
    rt.block_on(async {
        match case {
            "batch_10000_puts" => batch(&o.store).await,
            "pipeline_10000_runs" => pipeline_runs(&o.store).await,
            other => panic!("no case {other}"),
        }
    });
    PeakRss {
        case: case.into(),
        backend: backend_name.into(),
        baseline_kib,
        peak_kib: vm_hwm_kib().expect("VmHWM"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.as_slice() {
        [flag, path] if flag == "--out" => PathBuf::from(path),
        [case, backend] => {
            let r = one(case, backend);
            println!("{}", serde_json::to_string(&r).expect("json"));
            return;
        }
        _ => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
            .join("berth-peak-rss.json"),
    };
    let me = std::env::current_exe().expect("current exe");
    let mut all = Vec::new();
    for case in CASES {
        for backend in backends() {
            let run = Command::new(&me)
                .args([case, backend.name])
                .output()
                .expect("run a case");
            assert!(
                run.status.success(),
                "{case} on {}: {}",
                backend.name,
                String::from_utf8_lossy(&run.stderr)
            );
            let r: PeakRss = serde_json::from_slice(&run.stdout).expect("case output");
            eprintln!(
                "{case:<22} {:<18} baseline {:>8} KiB  peak {:>8} KiB",
                r.backend, r.baseline_kib, r.peak_kib
            );
            all.push(r);
        }
    }
    std::fs::write(&out, serde_json::to_string_pretty(&all).expect("json")).expect("write");
    eprintln!("peak_rss: wrote {}", out.display());
}
