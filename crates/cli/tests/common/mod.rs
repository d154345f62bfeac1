//! Shared helpers of the end-to-end tests: a temp directory with its own SQLite store and
//! artifacts directory, and the real `berth` binary run in it.
#![allow(dead_code)]

pub mod browser;
pub mod serve;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Bound of any single wait in the tests (a failure, never a pause).
pub const LIMIT: Duration = Duration::from_secs(30);

/// What a finished invocation printed and returned.
#[derive(Debug)]
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    /// Each stdout line parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The single JSON value on stdout.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

/// A fresh directory with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: String,
    /// Extra environment of every invocation.
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = format!("sqlite:{}", dir.path().join("berth.db").display());
        Env {
            dir,
            store,
            vars: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The binary, run in the directory with this env's store.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.current_dir(self.path())
            .env("BERTH_STORE", &self.store)
            .env("BERTH_ARTIFACTS", self.path().join("artifacts"))
            .env("NO_COLOR", "1")
            .env_remove("BERTH_LOG")
            .stdin(Stdio::null());
        c.envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `berth ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Done {
        let out = self.cmd().args(args).output().unwrap();
        Done {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `berth --json ARGS`, expecting exit 0 and one JSON value.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let done = self.run(&all);
        assert_eq!(done.code, 0, "{args:?}: {}", done.stderr);
        done.json()
    }

    /// `show --json RUN`.
    pub fn show(&self, run: &str) -> Value {
        self.json(&["show", run])
    }

    /// Every log entry of `run`.
    pub fn logs(&self, run: &str) -> Vec<Value> {
        let done = self.run(&["--json", "logs", run]);
        assert_eq!(done.code, 0, "{}", done.stderr);
        done.json_lines()
    }

    /// Writes a file in the directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts `berth ARGS` with stdout piped, lines delivered on a channel.
    pub fn spawn(&self, args: &[&str]) -> (Child, Lines) {
        let mut child = self
            .cmd()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        (child, Lines::new(stdout))
    }
}

/// Stdout lines of a child, read on a thread.
pub struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn new(stdout: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, or `None` at end of output; panics after [`LIMIT`].
    pub fn next(&self) -> Option<String> {
        match self.rx.recv_timeout(LIMIT) {
            Ok(l) => Some(l),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no output for {LIMIT:?}"),
        }
    }

    /// Reads until a line contains every one of `needles`; returns the lines read.
    pub fn until(&self, needles: &[&str]) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.next() {
                Some(l) => {
                    let hit = needles.iter().all(|n| l.contains(n));
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                None => panic!("output ended before {needles:?}: {seen:#?}"),
            }
        }
    }
}

/// Waits for `child` to exit (bounded by [`LIMIT`]); its exit code.
pub fn wait(child: &mut Child) -> i32 {
    let deadline = std::time::Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child did not exit within {LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A plan: `a` echoes, gate `ship`, then `b` echoes.
pub const GATED_PLAN: &str = r#"{
  "name": "gated",
  "steps": [
    {"kind": "run", "id": "a", "program": "/bin/sh", "args": ["-c", "echo alpha; echo 'beware' >&2"]},
    {"kind": "approval", "id": "gate", "gate": "ship", "message": "Ship it?"},
    {"kind": "run", "id": "b", "program": "/bin/sh", "args": ["-c", "echo beta > b.txt; echo beta"],
     "outputs": [{"name": "b.txt", "path": "b.txt"}, {"name": "missing.txt", "path": "nope/missing.txt"}]}
  ]
}"#;

/// Step statuses of a `show --json` value, by step id.
pub fn step_status(show: &Value, step: &str) -> String {
    show["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stepId"] == step)
        .unwrap_or_else(|| panic!("no step {step}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Env {
    /// A fresh directory whose store is a fresh database (named from `prefix`) on the
    /// MongoDB test server, migrated by the test.
    pub fn mongo(prefix: &str) -> Env {
        let uri = match std::env::var("BERTH_TEST_MONGODB_URI") {
            Ok(u) if !u.trim().is_empty() => u,
            _ => panic!(
                "BERTH_TEST_MONGODB_URI is not set: run ./scripts/test.sh, or \
             `eval \"$(scripts/mongo-server.sh)\"` and then cargo test"
            ),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let db = format!("{prefix}_{}_{nanos}", std::process::id());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let config = berth_state_mongo::MongoConfig::new(uri.clone())
                .database(db.clone())
                .auto_migrate(true);
            berth_state_mongo::open(config, berth_core::OpenOptions::default())
                .await
                .expect("migrate a fresh test database");
        });
        let (base, query) = uri.split_once('?').unwrap_or((&uri, ""));
        let mut env = Env::new();
        env.store = format!("{}/{db}?{query}", base.trim_end_matches('/'));
        env
    }
}
