//! Shared test harness: real tenant processes (the crate's `berth-test-tenant` binary),
//! events collected through the runtime's callbacks, and leak checks on every pid seen.
#![allow(dead_code)]

use berth_core::{OpenOptions, Store};
use berth_tenant_runtime::{
    BackoffPolicy, LogEvent, MetricEvent, Runtime, RuntimeOptions, SocketHandover, Transition,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Anything the runtime reported.
#[derive(Debug, Clone)]
pub enum Ev {
    T(Transition),
    M(MetricEvent),
    L(LogEvent),
}

/// Receives a runtime's events.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Ev>,
    pub seen: Vec<Ev>,
}

impl Events {
    /// Waits (at most 15 s) for an event matching `f` and returns what `f` extracted.
    pub async fn wait<T>(&mut self, mut f: impl FnMut(&Ev) -> Option<T>) -> T {
        for ev in &self.seen {
            if let Some(t) = f(ev) {
                return t;
            }
        }
        let found = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                let ev = self.rx.recv().await.expect("event channel closed");
                self.seen.push(ev.clone());
                if let Some(t) = f(&ev) {
                    return t;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("event not seen; seen so far: {:#?}", self.seen))
    }

    /// Everything received so far, without waiting.
    pub fn drain_now(&mut self) -> &[Ev] {
        while let Ok(ev) = self.rx.try_recv() {
            self.seen.push(ev);
        }
        &self.seen
    }

    /// The transitions received so far.
    pub fn transitions(&mut self) -> Vec<Transition> {
        self.drain_now()
            .iter()
            .filter_map(|e| match e {
                Ev::T(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    /// Forgets what was seen (so `wait` looks only at later events).
    pub fn clear(&mut self) {
        self.drain_now();
        self.seen.clear();
    }
}

/// A tenant root with tenants, a store, and every pid the tests saw.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub pids: Arc<Mutex<BTreeSet<u32>>>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_store(berth_state_memory::open(OpenOptions::default()))
    }

    pub fn with_store(store: Store) -> Harness {
        Harness {
            dir: tempfile::tempdir().expect("tempdir"),
            store,
            pids: Arc::default(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Creates tenant `key` with `tenant.env` settings.
    pub fn tenant(&self, key: &str, env: &[(&str, &str)]) -> PathBuf {
        let dir = self.root().join(key);
        std::fs::create_dir_all(&dir).expect("tenant dir");
        let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        std::fs::write(dir.join("tenant.env"), text).expect("tenant.env");
        dir
    }

    /// Makes `key` opt in to socket hand-over.
    pub fn opt_in_handover(&self, key: &str) {
        std::fs::write(self.root().join(key).join(".berth-listen-fds"), "").expect("marker");
    }

    /// Short, test-sized options whose events go to the returned channel.
    pub fn options(&self) -> (RuntimeOptions, Events) {
        self.options_on(self.store.clone())
    }

    pub fn options_on(&self, store: Store) -> (RuntimeOptions, Events) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
        let (p1, p2) = (self.pids.clone(), self.pids.clone());
        let mut o = RuntimeOptions::new(store, self.root())
            .command([env!("CARGO_BIN_EXE_berth-test-tenant")])
            .on_transition(move |t| {
                if let Transition::Spawn { pid, .. } | Transition::Adopted { pid, .. } = t {
                    p1.lock().unwrap().insert(*pid);
                }
                let _ = t1.send(Ev::T(t.clone()));
            })
            .on_metrics(move |m| {
                let _ = t2.send(Ev::M(m.clone()));
            })
            .on_log(move |l| {
                if let Some(pid) = l
                    .line
                    .strip_prefix("grandchild pid=")
                    .or_else(|| l.line.strip_prefix("worker pid="))
                {
                    if let Ok(pid) = pid.parse() {
                        p2.lock().unwrap().insert(pid);
                    }
                }
                let _ = t3.send(Ev::L(l.clone()));
            });
        o.readiness_timeout = Duration::from_secs(4);
        o.stop_grace = Duration::from_millis(300);
        o.sweep_interval = Duration::from_millis(50);
        o.observe_interval = Duration::ZERO;
        o.backoff = BackoffPolicy::new(Duration::from_millis(500), Duration::from_secs(5), 10);
        o.handover = SocketHandover::default();
        // `BERTH_TEST_TENANT_ISOLATION=session` runs every test without cgroups.
        if std::env::var("BERTH_TEST_TENANT_ISOLATION").as_deref() == Ok("session") {
            o.isolation = berth_tenant_runtime::IsolationMode::Session;
        }
        (
            o,
            Events {
                rx,
                seen: Vec::new(),
            },
        )
    }

    /// Asserts that no process the tests saw is alive (zombies count as gone).
    pub fn assert_no_leaks(&self) {
        let pids = self.pids.lock().unwrap().clone();
        assert!(!pids.is_empty(), "the test saw no process");
        let alive: Vec<u32> = pids.into_iter().filter(|p| alive(*p)).collect();
        assert!(alive.is_empty(), "processes left behind: {alive:?}");
    }
}

impl Drop for Harness {
    /// A failed test leaves no tenant behind either: SIGKILL to every group it saw.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let pids = self.pids.lock().map(|p| p.clone()).unwrap_or_default();
        for pid in pids.into_iter().filter(|p| alive(*p)) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => {
            let state = text
                .rfind(')')
                .and_then(|i| text.get(i + 2..i + 3))
                .unwrap_or("X");
            !matches!(state, "Z" | "X")
        }
        Err(_) => false,
    }
}

/// Live processes whose working directory is `dir` (the tenant processes of one key).
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == canonical)
                && alive(*pid)
        })
        .collect()
}

/// Sends `GET /` to the tenant and returns the body.
pub async fn get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to tenant");
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "bad answer: {out}");
    out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
}

/// Opens a runtime with `options`.
pub async fn runtime(options: RuntimeOptions) -> Runtime {
    Runtime::new(options).await.expect("runtime")
}

/// Live processes whose working directory is `dir` or below it.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c.starts_with(&canonical))
                && alive(*pid)
        })
        .collect()
}

/// Waits (at most 10 s) until `f` holds.
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}
