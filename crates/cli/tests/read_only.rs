//! Read-only commands (`runs`, `show`, `logs`, `export`) never create a database and never
//! take the write lock: a missing database is an error naming the path, they answer while
//! another process holds the write lock, and they read a database on a read-only file system.

mod common;

use common::Env;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Exit code of a missing database.
const NOT_FOUND: i32 = 4;
/// SQLite's busy timeout in berth: a command blocked by the write lock fails after it.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const PLAN: &str = r#"{"name": "quick", "steps": [
    {"kind": "run", "id": "a", "program": "/bin/sh", "args": ["-c", "echo alpha"]}
]}"#;

/// An env with one finished run `r1`.
fn with_a_run() -> Env {
    let env = Env::new();
    env.write("plan.json", PLAN);
    let done = env.run(&["run", "plan.json", "--run-id", "r1"]);
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    env
}

#[test]
fn read_only_commands_name_a_missing_database_and_create_nothing() {
    let env = Env::new();
    let db = env.path().join("berth.db");
    for args in [
        &["runs"][..],
        &["show", "r1"],
        &["logs", "r1"],
        &["logs", "r1", "--follow"],
        &["export", "--to", "out"],
    ] {
        let done = env.run(args);
        assert_eq!(
            done.code, NOT_FOUND,
            "{args:?}: {}{}",
            done.stdout, done.stderr
        );
        assert!(
            done.stderr
                .contains(&format!("no database at {}", db.display())),
            "{args:?}: {}",
            done.stderr
        );
        assert!(done.stderr.contains("--store"), "a hint: {}", done.stderr);
        assert!(!db.exists(), "{args:?} created {}", db.display());
    }
    let listed: Vec<_> = std::fs::read_dir(env.path()).unwrap().collect();
    assert!(listed.is_empty(), "nothing was written: {listed:?}");
}

#[test]
fn read_only_commands_answer_while_another_process_holds_the_write_lock() {
    let env = with_a_run();
    // This test process is the writer: `BEGIN IMMEDIATE` and a write, held (uncommitted) until
    // every command below has answered.
    let writer = rusqlite::Connection::open(env.path().join("berth.db")).unwrap();
    writer
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO records (collection, key, value, version, created_at, updated_at)
             VALUES ('held', X'6b', '{}', 1, 0, 0);",
        )
        .unwrap();
    // Held for as long as the commands take: one that waited for the lock would fail after
    // the busy timeout (as before read-only opening, with "database is busy", exit 6).
    for args in [&["runs"][..], &["show", "r1"], &["logs", "r1"]] {
        let started = Instant::now();
        let done = env.run(&[&["--json"][..], args].concat());
        let took = started.elapsed();
        assert_eq!(done.code, 0, "{args:?}: {}", done.stderr);
        assert!(
            took < BUSY_TIMEOUT,
            "{args:?} took {took:?}: it waited for the write lock"
        );
        match args[0] {
            "runs" => assert_eq!(done.json()["runs"][0]["id"], "r1"),
            "show" => assert_eq!(done.json()["run"]["status"], "succeeded"),
            _ => assert!(done.json_lines().iter().any(|e| e["message"] == "alpha")),
        }
    }
    assert!(!writer.is_autocommit(), "the lock was held throughout");
    writer.execute_batch("ROLLBACK").unwrap();
}

/// A tmpfs mounted on a directory, remounted read-only by the test; unmounted on drop.
struct ReadOnlyMount {
    dir: tempfile::TempDir,
}

impl ReadOnlyMount {
    /// Mounts a tmpfs, copies `files` into it, remounts it read-only. `None` if this
    /// process may not mount (not root).
    fn with(files: &[&Path]) -> Option<ReadOnlyMount> {
        if !rustix::process::getuid().is_root() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        mount(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], dir.path());
        let m = ReadOnlyMount { dir };
        for f in files {
            std::fs::copy(f, m.dir.path().join(f.file_name().unwrap())).unwrap();
        }
        mount(&["-o", "remount,ro"], m.dir.path());
        assert!(
            std::fs::write(m.dir.path().join("probe"), "x").is_err(),
            "the mount is read-only, even for root"
        );
        Some(m)
    }
}

fn mount(args: &[&str], dir: &Path) {
    let status = Command::new("mount").args(args).arg(dir).status().unwrap();
    assert!(status.success(), "mount {args:?} {}", dir.display());
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn read_only_commands_read_a_database_on_a_read_only_file_system() {
    let env = with_a_run();
    let Some(mount) = ReadOnlyMount::with(&[&env.path().join("berth.db")]) else {
        eprintln!("skipped: mounting a read-only tmpfs needs root");
        return;
    };
    let store = format!("sqlite:{}", mount.dir.path().join("berth.db").display());
    let listed = env.json(&["--store", &store, "runs"]);
    assert_eq!(listed["runs"][0]["id"], "r1", "{listed}");
    let shown = env.json(&["--store", &store, "show", "r1"]);
    assert_eq!(shown["run"]["status"], "succeeded");
    let logs = env.run(&["--json", "--store", &store, "logs", "r1"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    assert!(logs.json_lines().iter().any(|e| e["message"] == "alpha"));
}
