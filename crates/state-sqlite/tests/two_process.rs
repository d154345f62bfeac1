//! Two processes on one file: each sees the other's writes and leases exclude across them.
//!
//! The parent re-runs this test binary as a child (selected by an environment variable)
//! that opens the same file and obeys one-line commands on stdin, answering on stdout.

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition, Store};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CHILD_ENV: &str = "BERTH_SQLITE_TWO_PROCESS_CHILD";
const TTL: Duration = Duration::from_secs(60);
const ANSWER_LIMIT: Duration = Duration::from_secs(20);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Ok(path) = std::env::var(CHILD_ENV) {
        runtime.block_on(child(&path));
        return;
    }
    runtime.block_on(parent());
    println!("two_process: 1 passed, 0 failed");
}

fn shards(list: &str) -> Vec<String> {
    list.split(',').map(str::to_owned).collect()
}

fn held(leases: &[berth_core::Lease]) -> String {
    let parts: Vec<String> = leases
        .iter()
        .map(|l| format!("{}={}", l.shard, l.token))
        .collect();
    format!("held {}", parts.join(","))
}

async fn child(path: &str) {
    let store = berth_state_sqlite::open(path, OpenOptions::default())
        .await
        .expect("child opens");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.expect("command");
        let words: Vec<&str> = line.splitn(4, ' ').collect();
        let answer = match words.as_slice() {
            ["acquire", owner, list] => held(
                &store
                    .leases()
                    .acquire(owner, &shards(list), TTL)
                    .await
                    .expect("acquire"),
            ),
            ["put", coll, key, value] => {
                let mut b = Batch::new();
                b.put(coll, key, json!(value));
                store.commit(b).await.expect("put");
                "ok".to_owned()
            }
            ["get", coll, key] => match store.records().get(coll, key).await.expect("get") {
                Some(r) => format!("value {}", r.value),
                None => "none".to_owned(),
            },
            ["quit"] => break,
            other => panic!("unknown command {other:?}"),
        };
        writeln!(out, "{answer}").expect("stdout");
        out.flush().expect("flush");
    }
}

struct Peer {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Peer {
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("send command");
        self.stdin.flush().expect("flush command");
        match self.answers.recv_timeout(ANSWER_LIMIT) {
            Ok(a) => a,
            Err(e) => {
                let _ = self.child.kill();
                panic!("child did not answer {command:?}: {e}");
            }
        }
    }
}

fn spawn_peer(path: &std::path::Path) -> Peer {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .env(CHILD_ENV, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdin = child.stdin.take().expect("child stdin");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, answers) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Peer {
        child,
        stdin,
        answers,
    }
}

async fn put(store: &Store, key: &str, value: &str) {
    let mut b = Batch::new();
    b.put("shared", key, json!(value));
    store.commit(b).await.expect("parent put");
}

async fn parent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shared.db");
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .expect("parent opens");
    assert!(store.capabilities().shared);
    let mut peer = spawn_peer(&path);

    let mine = store
        .leases()
        .acquire("parent:1", &shards("g:1,g:2,g:3,g:4"), TTL)
        .await
        .expect("parent acquires");
    assert_eq!(mine.len(), 4);
    let token_g1 = mine[0].token;

    // The child gets only the shards the parent does not hold.
    assert_eq!(
        peer.ask("acquire child:1 g:1,g:2,g:3,g:4,g:5,g:6"),
        "held g:5=1,g:6=1"
    );
    let theirs = store
        .leases()
        .acquire("parent:1", &shards("g:5,g:6"), TTL)
        .await
        .expect("parent tries the child's shards");
    assert!(theirs.is_empty(), "the child's leases exclude the parent");
    let seen = store
        .leases()
        .lease("g:5")
        .await
        .expect("lease")
        .expect("held");
    assert_eq!(seen.owner, "child:1");

    // Writes are visible both ways.
    assert_eq!(peer.ask("put shared from-child hello"), "ok");
    let got = store
        .records()
        .get("shared", "from-child")
        .await
        .expect("get");
    assert_eq!(got.map(|r| r.value), Some(json!("hello")));
    put(&store, "from-parent", "hi").await;
    assert_eq!(peer.ask("get shared from-parent"), "value \"hi\"");
    assert_eq!(peer.ask("get shared nothing"), "none");

    // After the parent releases, the child takes over with a greater token, and the
    // parent's fenced write is refused.
    store
        .leases()
        .release_all("parent:1")
        .await
        .expect("release");
    let answer = peer.ask("acquire child:1 g:1");
    let token: u64 = answer
        .strip_prefix("held g:1=")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("child did not take g:1: {answer}"));
    assert!(token > token_g1);
    let mut fenced = Batch::new();
    fenced
        .put("shared", "fenced", json!(1))
        .when(Precondition::Fence {
            shard: "g:1".into(),
            token: token_g1,
        });
    let err = store.commit(fenced).await.expect_err("stale fence");
    assert_eq!(err.kind(), ErrorKind::StaleFence);

    writeln!(peer.stdin, "quit").expect("quit");
    let status = peer.child.wait().expect("child exits");
    assert!(status.success(), "child failed: {status}");
}
