//! Three OS processes run `update_unit_registrations` against one SQLite file with
//! lease-backed locks, each flipping its instance between versions of shared images so that
//! workers are created, reused and retired across processes; afterwards the registry's
//! invariants hold (one worker per image, one service account per identity, consistent
//! indexes, no registration naming a deleted worker).
//!
//! Run without the lease-backed locks, it fails (duplicate workers) in most runs.
//!
//! The test binary re-runs itself (this test only) as the children, selected by
//! `BERTH_WR_CHILD`.

mod trace_support;

use berth_core::{OpenOptions, Store};
use berth_runner_storage::workers::{names, Registrations};
use berth_runner_storage::{LeaseLockConfig, LockMode, UnitWorker, WorkerRegistry};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trace_support::{check_invariants, FakeManager, Jitter};

const TEST_NAME: &str = "processes_share_workers_through_lease_backed_locks";
const CHILD_ENV: &str = "BERTH_WR_CHILD";
const PROCESSES: usize = 3;
const ROUNDS: usize = 12;
const P: &str = "p";

/// Round `round` of child `child`: `a` flips between versions (creation and retirement
/// across processes), `b` stays, and `c0`…`c<round>` add one image per round that every child
/// asks for at about the same time and keeps, so a duplicate worker would survive to the end.
fn units(round: usize, child: usize) -> Vec<UnitWorker> {
    let version = if (round + child) % 2 == 0 { "v1" } else { "v2" };
    let mut list = vec![
        UnitWorker::new("a", format!("ghcr.io/org/one:{version}")),
        UnitWorker::new("b", "ghcr.io/org/two:v1"),
    ];
    list.extend(
        (0..=round).map(|r| UnitWorker::new(format!("c{r}"), format!("ghcr.io/org/r{r}:v1"))),
    );
    list
}

fn registry(store: &berth_core::Store, name: &str) -> WorkerRegistry {
    let locks = LockMode::Leased(LeaseLockConfig {
        ttl: Duration::from_secs(10),
        refresh_every: Duration::from_secs(2),
        wait_timeout: Duration::from_secs(30),
        backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(20),
        holder: name.to_owned(),
    })
    .build(store);
    WorkerRegistry::new(store.clone(), Arc::new(FakeManager::default())).with_locks(locks)
}

async fn child(spec: &str) {
    let (db, index) = spec.split_once('|').expect("child spec");
    let index: usize = index.parse().expect("child index");
    let sqlite = berth_state_sqlite::open(Path::new(db), OpenOptions::default())
        .await
        .expect("open sqlite");
    // Random delays before storage calls widen the windows a missing lock would leave open.
    let jittered = Arc::new(Jitter::new(sqlite.records().clone(), index as u64 + 1));
    let store = Store::builder(
        "sqlite",
        jittered,
        sqlite.leases().clone(),
        sqlite.capabilities(),
        sqlite.options().clone(),
    )
    .build();
    let registry = registry(&store, &format!("child-{index}"));
    // Start together: the parent creates the go file once every child is running.
    let go = Path::new(db).with_file_name("go");
    let start = Instant::now();
    while !go.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never told to go"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let instance = format!("instance-{index}");
    let mut current = Registrations::new();
    for round in 0..ROUNDS {
        current = registry
            .update_unit_registrations(P, &instance, &current, &units(round, index))
            .await
            .expect("update");
    }
    // End on `a` = v1 everywhere, so the final state is known.
    registry
        .update_unit_registrations(P, &instance, &current, &units(ROUNDS - 1, ROUNDS - 1))
        .await
        .expect("final update");
}

fn kill_all(children: &mut [Child]) {
    for c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
}

async fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    // Create the schema once before the children race to open the file.
    drop(
        berth_state_sqlite::open(&db, OpenOptions::default())
            .await
            .unwrap(),
    );
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<Child> = (0..PROCESSES)
        .map(|i| {
            Command::new(&exe)
                .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, format!("{}|{i}", db.display()))
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(dir.path().join("go"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = [false; PROCESSES];
    while done.iter().any(|d| !d) {
        for (i, c) in children.iter_mut().enumerate() {
            if !done[i] {
                if let Some(status) = c.try_wait().unwrap() {
                    if !status.success() {
                        kill_all(&mut children);
                        panic!("child {i} failed: {status}");
                    }
                    done[i] = true;
                }
            }
        }
        if Instant::now() > deadline {
            kill_all(&mut children);
            panic!("children did not finish in time");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let store = berth_state_sqlite::open(&db, OpenOptions::default())
        .await
        .unwrap();
    check_invariants(&store, P, "after the processes").await;
    let count = |c: String| {
        let store = store.clone();
        async move { store.records().count(&c, "").await.unwrap() }
    };
    let images = 2 + ROUNDS as u64;
    assert_eq!(count(names::workers(P)).await, images, "v2 workers retired");
    assert_eq!(count(names::service_accounts(P)).await, images);
    assert_eq!(
        count(names::registrations(P)).await,
        images * PROCESSES as u64
    );
    for image in [
        "ghcr.io/org/one:v1",
        "ghcr.io/org/one:v2",
        "ghcr.io/org/two:v1",
    ] {
        let lease = berth_runner_storage::lease_name(&names::image_lock(P, image));
        assert!(
            store.leases().lease(&lease).await.unwrap().is_none(),
            "{lease} released"
        );
    }
}

#[test]
fn processes_share_workers_through_lease_backed_locks() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(CHILD_ENV) {
        Ok(spec) => runtime.block_on(child(&spec)),
        Err(_) => runtime.block_on(parent()),
    }
}
