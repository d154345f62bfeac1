//! What every test shares: the server from `BERTH_TEST_MONGODB_URI`, a database per test, and
//! the real `berth-migrate` binary.
#![allow(dead_code, missing_docs)]

use mongodb::bson::Document;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The test server's connection string; a missing variable fails the test, never skips it.
pub fn uri() -> String {
    match std::env::var("BERTH_TEST_MONGODB_URI") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "BERTH_TEST_MONGODB_URI is not set: the berth-migrate tests need a MongoDB server. \
             Run `./scripts/test.sh` (it starts a SecantusDB test server), or by hand: \
             `eval \"$(scripts/mongo-server.sh)\"` and then cargo test"
        ),
    }
}

fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth_m_{tag}_{}_{n}_{nanos}", std::process::id())
}

/// A database of its own, dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> Self {
        uri();
        TestDb {
            name: unique_name(tag),
        }
    }

    /// `berth-migrate --database <this> <args>` without waiting.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth-migrate"));
        for (k, _) in std::env::vars() {
            if k.starts_with("BERTH_") && !k.starts_with("BERTH_TEST_") {
                c.env_remove(k);
            }
        }
        c.env("BERTH_MONGODB_URI", uri())
            .arg("--database")
            .arg(&self.name)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `berth-migrate --database <this> <args>` to the end.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().expect("run berth-migrate");
        Run::from(output)
    }

    /// Runs with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = self.run(&all);
        let value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {run:?}"));
        (run.code, value)
    }

    /// A plain driver handle on this database.
    pub async fn driver(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(uri())
            .await
            .unwrap()
            .database(&self.name)
    }

    /// Names of the collections that exist.
    pub async fn collections(&self) -> Vec<String> {
        let mut names = self.driver().await.list_collection_names().await.unwrap();
        names.sort();
        names
    }

    /// The recorded migrations.
    pub async fn records(&self) -> Vec<Document> {
        use futures::TryStreamExt;
        self.driver()
            .await
            .collection::<Document>("_berth_migrations")
            .find(mongodb::bson::doc! {})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let Ok(uri) = std::env::var("BERTH_TEST_MONGODB_URI") else {
            return;
        };
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(10),
                            client.database(&name).drop(),
                        )
                        .await;
                    }
                });
            }
        });
        let _ = done.join();
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A running binary whose stderr lines are collected as they come.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
    pub seen: Vec<String>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth-migrate");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 30 s) for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {needle:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for the exit (at most 30 s) and returns code and stdout.
    pub fn finish(mut self) -> Run {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "berth-migrate did not exit");
            // Drain stderr meanwhile so the child never blocks on a full pipe.
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) {
                self.seen.push(line);
            }
        }
        let output = self.child.wait_with_output().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        let mut run = Run::from(output);
        run.stderr = self.seen.join("\n");
        run
    }
}

/// Writes `path` (creating parents).
pub fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, text).unwrap();
}
