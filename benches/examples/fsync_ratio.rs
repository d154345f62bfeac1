//! The cost of an `Immediate` commit next to the cost of one `fdatasync`, measured in
//! alternating rounds on the same disk so that both see the same background load.
//!
//! `cargo run --release -p berth-benches --example fsync_ratio`

use berth_core::{Batch, Durability, OpenOptions};
use std::io::Write;
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const PER_ROUND: usize = 200;

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
            let (s, c) = (median(sync.clone()), median(commit.clone()));
            println!(
                "round {round}: fdatasync median {s:?}, Immediate commit median {c:?} ({:.2}x)",
                c.as_secs_f64() / s.as_secs_f64()
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
