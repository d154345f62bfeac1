//! A second process gets a typed error at once, and can open once the first lets go.
//!
//! With `BERTH_SLED_LOCK_DIR` set, `lock_child` tries to open that directory and prints what
//! happened; the parent holds the directory open meanwhile.

use berth_core::{ErrorKind, OpenOptions};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;
use tokio::time::timeout;

const CHILD_ENV: &str = "BERTH_SLED_LOCK_DIR";

/// Child mode only (no-op without the environment variable).
#[tokio::test]
async fn lock_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    match berth_state_sled::open(&dir, OpenOptions::default()).await {
        Ok(store) => {
            let n = store.records().count("c", "").await.unwrap();
            println!("outcome: opened count={n}");
        }
        Err(e) => println!(
            "outcome: kind={:?} retryable={} message={e}",
            e.kind(),
            e.is_retryable()
        ),
    }
}

/// Runs `lock_child` on `dir` and returns its outcome line.
async fn child_outcome(dir: &std::path::Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["lock_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = timeout(Duration::from_secs(30), output)
        .await
        .expect("the second process must not hang on the lock")
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        // The harness may print "test lock_child ... " on the same line first.
        .find_map(|l| l.split_once("outcome: ").map(|(_, o)| o.to_owned()))
        .expect("the child reports an outcome")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_process_gets_typed_locked_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = berth_state_sled::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let mut batch = berth_core::Batch::new();
    batch.put("c", "k", serde_json::json!(1));
    store.commit(batch).await.unwrap();

    let outcome = child_outcome(&path).await;
    assert!(
        outcome.starts_with(&format!("kind={:?} retryable=false", ErrorKind::Backend)),
        "{outcome}"
    );
    assert!(outcome.contains("locked by another process"), "{outcome}");
    // The first process is undisturbed.
    assert_eq!(store.records().count("c", "").await.unwrap(), 1);

    drop(store);
    assert_eq!(child_outcome(&path).await, "opened count=1");
}
