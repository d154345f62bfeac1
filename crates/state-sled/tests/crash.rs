//! Kill a writer at random moments: acknowledged batches survive whole, no batch is partial.
//!
//! The test binary re-executes itself: with `BERTH_SLED_CRASH_DIR` set, `crash_child` commits
//! multi-op batches forever (durability `Immediate`) and prints `ack <id>` after each commit
//! returns. The parent waits for a random number of acknowledgements, SIGKILLs the child,
//! reopens the directory and checks it.

use berth_core::{Batch, OpenOptions, Precondition, Scan, Store};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const CHILD_ENV: &str = "BERTH_SLED_CRASH_DIR";
const RUN_ENV: &str = "BERTH_SLED_CRASH_RUN";
const KILLS: u64 = 24;
/// Collections a batch writes to; every batch puts `PARTS` records over them.
const DATA: &str = "crash:data";
const INDEX: &str = "crash:index";
const PARTS: usize = 3;

/// The keys of batch `id` in (collection, key) form.
fn parts(id: &str) -> Vec<(&'static str, String)> {
    vec![
        (DATA, format!("{id}/a")),
        (DATA, format!("{id}/b")),
        (INDEX, id.to_owned()),
    ]
}

/// Child mode only (no-op without the environment variable): commit until killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let (Ok(dir), Ok(run)) = (std::env::var(CHILD_ENV), std::env::var(RUN_ENV)) else {
        return;
    };
    let store = berth_state_sled::open(&dir, OpenOptions::default())
        .await
        .expect("child opens the store");
    for i in 0u64.. {
        let id = format!("r{run:03}-{i:06}");
        let mut batch = Batch::new();
        for (collection, key) in parts(&id) {
            batch
                .put(
                    collection,
                    &key,
                    json!({"batch": id, "pad": "x".repeat(200)}),
                )
                .when(Precondition::Absent);
        }
        // Also rewrite one shared record, so batches overlap on a key.
        batch.put("crash:meta", "last", json!(id));
        store.commit(batch).await.expect("child commit");
        println!("ack {id}");
    }
}

/// The batch id of an acknowledgement line; the harness may print its own text before it.
fn acked_id(line: &str) -> Option<&str> {
    line.split_once("ack ").map(|(_, id)| id)
}

/// A small xorshift generator; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Every batch id present in the store, with how many of its parts are present.
async fn present(store: &Store) -> BTreeMap<String, usize> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for collection in [DATA, INDEX] {
        for record in store
            .records()
            .scan(collection, &Scan::all())
            .await
            .unwrap()
        {
            let id = record.value["batch"].as_str().unwrap().to_owned();
            assert!(parts(&id).contains(&(collection, record.key.clone())));
            *seen.entry(id).or_default() += 1;
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_batches_survive_sigkill_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let exe = std::env::current_exe().unwrap();
    let mut acked: BTreeSet<String> = BTreeSet::new();

    for run in 0..KILLS {
        let wanted = 1 + rng.below(25);
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .env(RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut this_run = 0;
        while this_run < wanted {
            let line = timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("the child acknowledges within 20 s")
                .unwrap()
                .expect("the child is alive until killed");
            if let Some(id) = acked_id(&line) {
                acked.insert(id.to_owned());
                this_run += 1;
            }
        }
        child.start_kill().unwrap();
        // Acknowledgements printed before the kill are still in the pipe: read to the end.
        while let Some(line) = timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the pipe closes after the kill")
            .unwrap()
        {
            if let Some(id) = acked_id(&line) {
                acked.insert(id.to_owned());
            }
        }
        let status = timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(!status.success(), "the child was killed, not finished");

        let store = berth_state_sled::open(&path, OpenOptions::default())
            .await
            .unwrap_or_else(|e| panic!("reopen after kill {run} (seed {seed}): {e}"));
        let seen = present(&store).await;
        for (id, count) in &seen {
            assert_eq!(*count, PARTS, "batch {id} is partly present (seed {seed})");
        }
        for id in &acked {
            assert!(
                seen.contains_key(id),
                "acknowledged batch {id} lost after kill {run} (seed {seed})"
            );
        }
        let last = store.records().get("crash:meta", "last").await.unwrap();
        let last = last.expect("the shared record exists").value;
        assert!(
            seen.contains_key(last.as_str().unwrap()),
            "the shared record names a batch that is present"
        );
    }
    assert!(
        acked.len() as u64 >= KILLS,
        "every run acknowledged something"
    );
}
