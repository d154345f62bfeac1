//! Load check of `berth serve` on SQLite: 200 live log followers (Server-Sent Events) and a
//! steady 1 000 `GET /api/v1/runs` requests per second for 30 s, while 20 running runs gain a
//! log line every 100 ms each. Reports request latency percentiles, errors, the rate reached,
//! and how late followers saw each new line.
//!
//! ```text
//! cargo build --release -p berth-cli
//! cargo run --release -p berth-benches --example serve_load [-- SECONDS]
//! ```
//! `BERTH_BIN` names the `berth` binary (default: `target/release/berth` beside this example).

use berth::packrun::{LogEntry, LogLevel, PackRun, RunStatus};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const FOLLOWERS: usize = 200;
const RUNS: usize = 20;
const LIST_RATE: u64 = 1_000;
const LIST_WORKERS: u64 = 25;
const APPEND_EVERY: Duration = Duration::from_millis(100);

fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/release/examples/serve_load -> target/release/berth
    exe.parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("berth"))
        .expect("target dir")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let bin = berth_bin();
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --release -p berth-cli` first (or set BERTH_BIN)",
        bin.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("berth.db").display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt.block_on(berth::open(&url)).expect("open store");
    rt.block_on(async {
        for r in 0..RUNS {
            let mut run = PackRun::new(
                format!("load-{r:02}"),
                "h",
                serde_json::json!({"name": "load"}),
            );
            run.status = RunStatus::Running;
            store.runs().create(run).await.expect("create run");
        }
        // Enough history that a list page is a full page.
        for r in 0..200 {
            let run = PackRun::new(
                format!("done-{r:03}"),
                "h",
                serde_json::json!({"name": "old"}),
            );
            store.runs().create(run).await.expect("create run");
        }
    });

    let token = Command::new(&bin)
        .args([
            "--store", &url, "--json", "token", "create", "--name", "load", "--role", "viewer",
        ])
        .output()
        .expect("berth token create");
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).expect("token json");
    let token = token["token"].as_str().expect("token").to_owned();
    let mut server = Command::new(&bin)
        .args(["--store", &url, "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("berth serve");
    let mut first = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("listening line");
    let base = first.split_whitespace().last().expect("address").to_owned();
    let auth = format!("Bearer {token}");

    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(secs);

    // Log lines keep coming: one per run every 100 ms.
    let appender = {
        let store = store.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            rt.block_on(async move {
                let mut seq = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    for r in 0..RUNS {
                        let e = LogEntry {
                            run_id: format!("load-{r:02}"),
                            sequence: seq,
                            timestamp: berth::Timestamp::from_millis(now_ms()),
                            level: LogLevel::Info,
                            event_type: "step.output".into(),
                            message: format!("line {seq}"),
                            step_id: Some("work".into()),
                            metadata: Default::default(),
                        };
                        store.logs().append(&[e]).await.expect("append");
                    }
                    seq += 1;
                    tokio::time::sleep(APPEND_EVERY).await;
                }
                seq - 1
            })
        })
    };

    let follower_errors = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let lags = Arc::new(Mutex::new(Vec::<f64>::new()));
    let mut followers = Vec::new();
    for f in 0..FOLLOWERS {
        let (base, auth, stop) = (base.clone(), auth.clone(), stop.clone());
        let (errors, events, lags) = (follower_errors.clone(), events.clone(), lags.clone());
        followers.push(std::thread::spawn(move || {
            let url = format!("{base}/api/v1/runs/load-{:02}/logs/stream", f % RUNS);
            let res = match ureq::get(&url).set("Authorization", &auth).call() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("follower {f}: {e}");
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let mut mine = Vec::new();
            for line in BufReader::new(res.into_reader()).lines() {
                let Ok(line) = line else { break };
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data.trim()) {
                        if let Some(ts) = v["timestamp"].as_i64() {
                            events.fetch_add(1, Ordering::Relaxed);
                            mine.push((now_ms() - ts) as f64);
                        }
                    }
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            if !stop.load(Ordering::Relaxed) {
                eprintln!("follower {f}: stream ended early");
                errors.fetch_add(1, Ordering::Relaxed);
            }
            lags.lock().expect("lags").extend(mine);
        }));
    }

    let list_errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<f64>::new()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for w in 0..LIST_WORKERS {
        let (base, auth) = (base.clone(), auth.clone());
        let (errors, latencies) = (list_errors.clone(), latencies.clone());
        workers.push(std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            let every = Duration::from_nanos(1_000_000_000 * LIST_WORKERS / LIST_RATE);
            let mut next = start + every.mul_f64(w as f64 / LIST_WORKERS as f64);
            let mut mine = Vec::new();
            while next < deadline {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                // Latency from the planned send time, so a stall counts against it.
                let planned = next;
                next += every;
                match agent
                    .get(&format!("{base}/api/v1/runs?limit=50"))
                    .set("Authorization", &auth)
                    .call()
                {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.into_string();
                        mine.push(planned.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(r) => {
                        eprintln!("list: HTTP {}", r.status());
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("list: {e}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().expect("latencies").extend(mine);
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let appended = appender.join().expect("appender");
    let _ = server.kill();
    let _ = server.wait();
    for f in followers {
        let _ = f.join();
    }

    let mut lat = std::mem::take(&mut *latencies.lock().expect("latencies"));
    lat.sort_by(f64::total_cmp);
    let mut lag = std::mem::take(&mut *lags.lock().expect("lags"));
    lag.sort_by(f64::total_cmp);
    let report = serde_json::json!({
        "seconds": elapsed,
        "followers": FOLLOWERS,
        "listRequests": lat.len(),
        "listRate": lat.len() as f64 / elapsed,
        "listErrors": list_errors.load(Ordering::Relaxed),
        "listMs": { "p50": percentile(&lat, 0.50), "p90": percentile(&lat, 0.90),
                    "p99": percentile(&lat, 0.99), "max": lat.last().copied().unwrap_or(f64::NAN) },
        "followerErrors": follower_errors.load(Ordering::Relaxed),
        "followEvents": events.load(Ordering::Relaxed),
        "followEventsExpected": appended * (FOLLOWERS as u64),
        "followLagMs": { "p50": percentile(&lag, 0.50), "p99": percentile(&lag, 0.99),
                         "max": lag.last().copied().unwrap_or(f64::NAN) },
    });
    println!("{report:#}");
    let ok = report["listErrors"] == 0 && report["followerErrors"] == 0;
    if !ok {
        eprintln!("errors during the load check");
        std::process::exit(1);
    }
}
