//! Shared support of the worker registry tests: the registry's invariants, random storage
//! delays, and for the trace tests a registry and secrets service whose every lock, read,
//! staged op, write, log line and worker-manager call is recorded, on memory or SQLite, with
//! a manual clock, deterministic ids and deterministic random bytes; and golden-file checks.
// Each test binary uses a part of this module.
#![allow(dead_code, unused_imports)]

mod adapters;
mod invariants;
mod jitter;

pub use adapters::{FakeManager, Rand, TraceObserver, TracedLock, TracedManager};
pub use invariants::check_invariants;
pub use jitter::Jitter;

use berth_core::{DeterministicIds, ManualClock, OpenOptions, Store, Timestamp};
use berth_encryption::{Collections, EncryptedRecords, Keyring};
use berth_runner_storage::{InstanceSecrets, KeyLock, LockMode, WorkerRegistry};
use berth_testkit::trace::Tracer;
use std::path::PathBuf;
use std::sync::Arc;

/// Set to `1` to write the golden traces instead of comparing with them.
pub const RECORD_ENV: &str = "BERTH_RECORD_TRACES";

/// A backend the scenarios run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
}

/// The key the tests encrypt `api-keys:*` and `secrets:*` with.
pub fn keyring() -> Keyring {
    Keyring::new("test-key-1", [0x42; 32])
}

pub fn encrypted() -> Collections {
    Collections::matching(["api-keys:*", "secrets:*"])
}

/// Everything a scenario needs.
pub struct Traced {
    /// Recorded: the registry to act with.
    pub registry: WorkerRegistry,
    /// Recorded: the secrets service to act with.
    pub secrets: InstanceSecrets,
    /// Not recorded: for arranging and asserting.
    pub setup: WorkerRegistry,
    /// Not recorded: for arranging and asserting.
    pub setup_secrets: InstanceSecrets,
    /// Not recorded, decrypting.
    pub store: Store,
    /// Not recorded, not decrypting: what the backend holds.
    pub raw: Store,
    pub tracer: Tracer,
    pub manager: Arc<FakeManager>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn open(backend: Backend) -> Traced {
    open_with(backend, LockMode::InProcess).await
}

/// Like [`open`], with keyed locks of `mode`.
pub async fn open_with(backend: Backend, mode: LockMode) -> Traced {
    let options = OpenOptions::default()
        .with_clock(Arc::new(ManualClock::new(Timestamp::from_millis(0))))
        .with_ids(Arc::new(DeterministicIds::new(1)));
    let (raw, dir) = match backend {
        Backend::Memory => (berth_state_memory::open(options), None),
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = berth_state_sqlite::open(dir.path().join("state.db"), options)
                .await
                .expect("open sqlite");
            (store, Some(dir))
        }
    };
    let random = Arc::new(Rand::new(7));
    let tracer = Tracer::new();
    let manager = Arc::new(FakeManager::default());

    let store = EncryptedRecords::new(raw.records().clone(), keyring(), encrypted())
        .with_random(random.clone())
        .into_store(&raw);
    let traced_raw = tracer.store(&raw);
    let traced = EncryptedRecords::new(traced_raw.records().clone(), keyring(), encrypted())
        .with_random(random.clone())
        .into_store(&raw);

    let locks: Arc<dyn KeyLock> = mode.build(&raw);
    let traced_locks: Arc<dyn KeyLock> = Arc::new(TracedLock::new(locks.clone(), tracer.clone()));
    let observer = Arc::new(TraceObserver(tracer.clone()));

    let setup = WorkerRegistry::new(store.clone(), manager.clone())
        .with_locks(locks.clone())
        .with_random(random.clone());
    let registry = WorkerRegistry::new(
        traced.clone(),
        Arc::new(TracedManager::new(manager.clone(), tracer.clone())),
    )
    .with_locks(traced_locks.clone())
    .with_random(random)
    .with_observer(observer.clone());
    let setup_secrets = InstanceSecrets::new(store.clone()).with_locks(locks);
    let secrets = InstanceSecrets::new(traced)
        .with_locks(traced_locks)
        .with_observer(observer);
    Traced {
        registry,
        secrets,
        setup,
        setup_secrets,
        store,
        raw,
        tracer,
        manager,
        _dir: dir,
    }
}

fn golden_path(group: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/traces")
        .join(group)
        .join(format!("{name}.md"))
}

/// Compares `rendered` with the golden trace `group/name.md`, or writes it when
/// `BERTH_RECORD_TRACES=1` and `write` (only one backend writes).
pub fn check_golden(group: &str, name: &str, rendered: &str, write: bool) {
    let path = golden_path(group, name);
    if write && std::env::var(RECORD_ENV).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create trace dir");
        std::fs::write(&path, rendered).expect("write golden trace");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden trace {} unreadable ({e}); record it with {RECORD_ENV}=1",
            path.display()
        )
    });
    if expected != rendered {
        let first = expected
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(rendered.lines().count()));
        panic!(
            "trace differs from {} at line {}:\n--- expected\n{}\n--- actual\n{}\n(re-record with {RECORD_ENV}=1 if the change is intended)",
            path.display(),
            first + 1,
            expected.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
            rendered.lines().skip(first).take(8).collect::<Vec<_>>().join("\n"),
        );
    }
}
