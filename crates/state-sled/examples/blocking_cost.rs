//! Measures typical sled calls made inline on a tokio worker against the same calls through
//! `tokio::task::spawn_blocking`; the figures behind the choice in `src/blocking.rs`.
//!
//! Run: `cargo run --release -p berth-state-sled --example blocking_cost`

use sled::Transactional;
use std::time::{Duration, Instant};

/// Rounds each measurement is split into.
const ROUNDS: u32 = 10;

/// Mean time per call of `f` over `n` calls, run inline or on the blocking pool.
async fn measure<F>(n: u32, blocking: bool, f: F) -> Duration
where
    F: Fn(u32) + Clone + Send + 'static,
{
    let start = Instant::now();
    for i in 0..n {
        if blocking {
            let f = f.clone();
            tokio::task::spawn_blocking(move || f(i))
                .await
                .expect("blocking task");
        } else {
            f(i);
        }
    }
    start.elapsed() / n
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = sled::open(dir.path())?;
    let records = db.open_tree("records")?;
    let leases = db.open_tree("leases")?;
    for i in 0..10_000u32 {
        records.insert(format!("c\0k{i:05}"), vec![7u8; 200])?;
    }
    db.flush()?;
    let data = std::fs::File::open(dir.path().join("db"))?;

    let get = {
        let records = records.clone();
        move |i: u32| {
            let _ = records.get(format!("c\0k{:05}", i % 10_000));
        }
    };
    let scan = {
        let records = records.clone();
        move |i: u32| {
            let from = format!("c\0k{:05}", (i * 97) % 9_000);
            let _ = records.range(from.into_bytes()..).take(100).count();
        }
    };
    let commit = |flush: bool| {
        let (db, records, leases) = (db.clone(), records.clone(), leases.clone());
        let data = data.try_clone().expect("second descriptor");
        move |i: u32| {
            let _ = (&records, &leases).transaction(|(r, l)| {
                let _ = l.get(b"shard")?;
                for part in 0..3 {
                    r.insert(format!("d\0b{i}-{part}").as_bytes(), vec![1u8; 200])?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            });
            if flush {
                let _ = db.flush();
                let _ = data.sync_all();
            }
        }
    };

    println!("operation                         inline      spawn_blocking");
    for (name, n, f) in [
        (
            "get (point read)",
            20_000,
            Box::new(get) as Box<dyn Fn(u32) + Send + Sync>,
        ),
        ("scan 100 records", 2_000, Box::new(scan)),
        ("commit 3 puts, relaxed", 5_000, Box::new(commit(false))),
        ("commit 3 puts, flush+fsync", 200, Box::new(commit(true))),
    ] {
        let f = std::sync::Arc::new(f);
        let call = move |i: u32| f(i);
        // Warm up both paths, then measure.
        measure(n / 10, false, call.clone()).await;
        measure(n / 10, true, call.clone()).await;
        // Alternate the two paths in rounds so load changes hit both alike.
        let (mut inline, mut pooled) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..ROUNDS {
            inline += measure(n / ROUNDS, false, call.clone()).await;
            pooled += measure(n / ROUNDS, true, call.clone()).await;
        }
        let (inline, pooled) = (inline / ROUNDS, pooled / ROUNDS);
        println!("{name:<32} {inline:>10.1?} {pooled:>14.1?}");
    }
    Ok(())
}
