//! The cost of an `Immediate` commit next to the cost of one `fdatasync`, and the throughput
//! of 32 concurrent `Immediate` writers (group commit) next to sequential commits, measured
//! in alternating rounds on the same disk so that all see the same background load.
//!
//! `cargo run --release -p berth-benches --example fsync_ratio`

use berth_core::{Batch, Durability, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 200;
const WRITERS: usize = 32;
const BURSTS: usize = 20;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() -> berth_core::Result<()> {
    let rt = berth_benches::runtime();
    rt.block_on(async {
        let dir =
            tempfile::tempdir().map_err(|e| berth_core::Error::backend("temp dir", false, e))?;
        let options = OpenOptions::default().with_durability(Durability::Immediate);
        let store = berth_state_sqlite::open(dir.path().join("ratio.db"), options).await?;
        let io = |e| berth_core::Error::backend("fsync file", false, e);
        let mut file = std::fs::File::create(dir.path().join("fsync.bin")).map_err(io)?;
        let page = vec![0x5au8; 4096];
        let (mut all_sync, mut all_commit) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let mut sync = Vec::with_capacity(PER_ROUND);
            for _ in 0..PER_ROUND {
                let t = Instant::now();
                file.write_all(&page).map_err(io)?;
                file.sync_data().map_err(io)?;
                sync.push(t.elapsed());
            }
            let mut commit = Vec::with_capacity(PER_ROUND);
            for i in 0..PER_ROUND {
                let mut batch = Batch::new();
                batch.put(
                    "ratio",
                    &format!("r{round}-{i:04}"),
                    serde_json::json!({"i": i}),
                );
                let t = Instant::now();
                store.commit(batch).await?;
                commit.push(t.elapsed());
            }
            let sequential: Duration = commit.iter().sum();
            let t = Instant::now();
            for burst in 0..BURSTS {
                let mut tasks = Vec::with_capacity(WRITERS);
                for w in 0..WRITERS {
                    let store = store.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut batch = Batch::new();
                        let key = format!("w{round}-{burst:03}-{w:02}");
                        batch.put("ratio", &key, serde_json::json!({"w": w}));
                        store.commit(batch).await
                    }));
                }
                for task in tasks {
                    task.await
                        .map_err(|e| berth_core::Error::backend("writer task", false, e))??;
                }
            }
            let concurrent = t.elapsed();
            let seq_rate = PER_ROUND as f64 / sequential.as_secs_f64();
            let conc_rate = (BURSTS * WRITERS) as f64 / concurrent.as_secs_f64();
            let (s, c) = (median(sync.clone()), median(commit.clone()));
            println!(
                "round {round}: fdatasync median {s:?}, Immediate commit median {c:?} ({:.2}x); \
                 sequential {seq_rate:.0} commits/s, {WRITERS} writers {conc_rate:.0} commits/s ({:.1}x)",
                c.as_secs_f64() / s.as_secs_f64(),
                conc_rate / seq_rate
            );
            all_sync.extend(sync);
            all_commit.extend(commit);
        }
        let (s, c) = (median(all_sync), median(all_commit));
        println!(
            "overall: fdatasync median {s:?}, Immediate commit median {c:?} ({:.2}x)",
            c.as_secs_f64() / s.as_secs_f64()
        );
        Ok(())
    })
}
