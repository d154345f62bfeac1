//! A host SIGKILLed at every step of a start, and hosts SIGKILLed under tenants that write
//! output: the next host finds every process, never starts a second one for a key, and adopts
//! tenants that kept writing — real processes, a real host process, a real SQLite file.
//!
//! The host is this test binary run again with `BERTH_TEST_HOST_*` set: its only test,
//! `host_process`, then runs a runtime and crashes itself where it is told (without those
//! variables it checks nothing and returns).

mod common;

use berth_core::OpenOptions;
use berth_tenant_runtime::{Runtime, RuntimeOptions, Transition};
use common::{alive, get, processes_under, Ev, Harness};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const DB: &str = "BERTH_TEST_HOST_DB";
const ROOT: &str = "BERTH_TEST_HOST_ROOT";
const KEY: &str = "BERTH_TEST_HOST_KEY";
const CRASH_AT: &str = "BERTH_TEST_HOST_CRASH_AT";
const COMMAND: &str = "BERTH_TEST_HOST_COMMAND";

fn step_of(t: &Transition) -> Option<&'static str> {
    match t {
        Transition::Starting { .. } => Some("starting"),
        Transition::Spawn { .. } => Some("spawn"),
        Transition::Ready { .. } => Some("ready"),
        _ => None,
    }
}

/// The host side: runs only when started by a test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_process() {
    let (Some(db), Some(root), Some(key)) = (
        std::env::var_os(DB),
        std::env::var_os(ROOT),
        std::env::var(KEY).ok(),
    ) else {
        return;
    };
    let crash_at = std::env::var(CRASH_AT).unwrap_or_default();
    let command: Vec<String> = std::env::var(COMMAND)
        .map(|c| c.split('\u{1f}').map(str::to_owned).collect())
        .unwrap_or_else(|_| vec![env!("CARGO_BIN_EXE_berth-test-tenant").to_owned()]);
    let store = berth_state_sqlite::open(Path::new(&db), OpenOptions::default())
        .await
        .expect("host store");
    let mut options = RuntimeOptions::new(store, root)
        .command(command)
        .on_transition(move |t| {
            if step_of(t) == Some(crash_at.as_str()) {
                let me = rustix::process::getpid();
                let _ = rustix::process::kill_process(me, rustix::process::Signal::KILL);
            }
        });
    options.readiness_timeout = Duration::from_secs(20);
    options.stop_grace = Duration::from_millis(300);
    let rt = Runtime::new(options).await.expect("host runtime");
    let t = rt.ensure(&key).await.expect("host ensure");
    println!("HOST-READY pid={} port={}", t.pid, t.port);
    // Wait to be SIGKILLed.
    tokio::time::sleep(Duration::from_secs(60)).await;
}

/// Starts the host process; returns it and, unless it crashes first, the tenant's pid.
async fn run_host(
    db: &Path,
    root: &Path,
    key: &str,
    crash_at: &str,
    command: Option<&[&str]>,
) -> (tokio::process::Child, Option<u32>) {
    let mut cmd = tokio::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["host_process", "--exact", "--nocapture", "--test-threads=1"])
        .env(DB, db)
        .env(ROOT, root)
        .env(KEY, key)
        .env(CRASH_AT, crash_at)
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::create(db.with_extension("stderr"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .kill_on_drop(true);
    if let Some(command) = command {
        cmd.env(COMMAND, command.join("\u{1f}"));
    }
    let mut host = cmd.spawn().expect("host process");
    let stdout = host.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            // libtest may have printed "test host_process ... " on the same line.
            if let Some((_, rest)) = line.split_once("HOST-READY pid=") {
                return rest.split_whitespace().next()?.parse::<u32>().ok();
            }
        }
        None
    })
    .await
    .unwrap_or_else(|_| {
        let log = std::fs::read_to_string(db.with_extension("stderr")).unwrap_or_default();
        panic!("host neither got ready nor died; its stderr:\n{log}")
    });
    (host, ready)
}

async fn sigkill(mut host: tokio::process::Child) {
    let _ = host.start_kill();
    let status = host.wait().await.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the host did not die of SIGKILL");
}

/// Kills every process working in `root` when a test fails half-way.
struct Sweep<'a>(&'a Path);

impl Drop for Sweep<'_> {
    fn drop(&mut self) {
        for pid in processes_under(self.0) {
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_at_any_step_of_a_start_leaves_no_unknown_or_duplicate_child() {
    for step in ["starting", "spawn", "ready"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("host.db");
        let h = Harness::with_store(berth_state_memory::open(OpenOptions::default()));
        let _sweep = Sweep(h.root());
        h.tenant("a", &[]);
        let (host, ready) = run_host(&db, h.root(), "a", step, None).await;
        assert!(
            ready.is_none(),
            "the host passed step {step} without crashing"
        );
        sigkill(host).await;
        let left = processes_under(h.root());
        if step == "starting" {
            assert!(
                left.is_empty(),
                "spawned before the record was written: {left:?}"
            );
        } else {
            assert_eq!(left.len(), 1, "step {step}: {left:?}");
        }

        // The next host: every process of the start is either adopted or stopped.
        let store = berth_state_sqlite::open(&db, OpenOptions::default())
            .await
            .unwrap();
        let (options, _events) = h.options_on(store);
        let rt = Runtime::new(options).await.unwrap();
        let after = processes_under(h.root());
        match step {
            "ready" => {
                assert_eq!(after, left, "the ready tenant was not adopted");
                assert_eq!(rt.metrics().adopted, 1);
            }
            _ => assert!(after.is_empty(), "step {step}: unknown children {after:?}"),
        }
        let t = rt.ensure("a").await.unwrap();
        let now = processes_under(h.root());
        assert_eq!(now, vec![t.pid], "step {step}: duplicate children");
        if step == "ready" {
            assert_eq!(vec![t.pid], left, "adopted, not started again");
        }
        rt.dispose().await;
        assert!(processes_under(h.root()).is_empty(), "step {step}");
        assert!(!alive(t.pid));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_that_write_output_outlive_a_killed_host_and_are_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("host.db");
    let h = Harness::with_store(berth_state_memory::open(OpenOptions::default()));
    let _sweep = Sweep(h.root());
    h.tenant("chatty", &[]);
    h.tenant("python", &[]);
    let tenant_bin = env!("CARGO_BIN_EXE_berth-test-tenant");
    let ticker =
        format!("while :; do echo tick; echo tock >&2; sleep 0.02; done & exec {tenant_bin}");
    let chatty_cmd: [&str; 3] = ["/bin/sh", "-c", &ticker];
    // The interpreter itself (a version manager's shim may need more than PATH).
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for this test");
    let python = String::from_utf8(python.stdout).unwrap().trim().to_owned();
    let serve = format!("exec {python} -m http.server \"$PORT\" --bind 127.0.0.1");
    let python_cmd: [&str; 3] = ["/bin/sh", "-c", &serve];
    let (host, chatty) = run_host(&db, h.root(), "chatty", "", Some(&chatty_cmd)).await;
    let chatty = chatty.expect("chatty ready");
    sigkill(host).await;
    let (host, python) = run_host(&db, h.root(), "python", "", Some(&python_cmd)).await;
    let python = python.expect("python ready");
    sigkill(host).await;

    // No host for a while: the tenants go on writing (no SIGPIPE, no EPIPE).
    let out = h.root().join(".berth-logs/chatty/stdout.log");
    let before = std::fs::metadata(&out).unwrap().len();
    common::until("the tenant writes with no host", || {
        std::fs::metadata(&out).unwrap().len() > before + 100
    })
    .await;
    assert!(alive(chatty) && alive(python));

    let store = berth_state_sqlite::open(&db, OpenOptions::default())
        .await
        .unwrap();
    let (mut options, mut events) = h.options_on(store);
    options.command = vec!["/bin/false".into()];
    let rt = Runtime::new(options).await.unwrap();
    assert_eq!(rt.metrics().adopted, 2, "{:?}", events.transitions());
    let c = rt.ensure("chatty").await.unwrap();
    let p = rt.ensure("python").await.unwrap();
    assert_eq!((c.pid, p.pid), (chatty, python), "adopted, not restarted");
    assert_eq!(get(c.port).await, format!("ok pid={chatty}\n"));
    let listing = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", p.port))
            .await
            .unwrap();
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    assert!(listing.starts_with("HTTP/1.0 200"), "{listing}");
    // The new host reads their output again.
    events
        .wait(|e| match e {
            Ev::L(l) if l.key == "chatty" && l.line == "tick" => Some(()),
            _ => None,
        })
        .await;
    events
        .wait(|e| match e {
            Ev::L(l) if l.key == "python" && l.line.contains("GET / HTTP/1.0") => Some(()),
            _ => None,
        })
        .await;
    rt.dispose().await;
    assert!(processes_under(h.root()).is_empty());
}
