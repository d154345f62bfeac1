//! The worker registry on SQLite, with API-key tokens encrypted and lease-backed locks (so
//! several processes could share the file): register two unit workers, move one to a new
//! version, remove the other, and look at what the database really holds for an API key.
//!
//! Run with `cargo run -p berth-runner-storage --example worker_registry`.
//! The encryption key comes from `BERTH_KEY_HEX` (64 hex characters); without it the example
//! makes a random one, as a demo only: a real key must be kept, or the tokens are lost.

use async_trait::async_trait;
use berth_core::OpenOptions;
use berth_encryption::{random_hex, Collections, EncryptedRecords, Keyring, OsRandom};
use berth_runner_storage::workers::{names, ApiKey, Registrations, Worker};
use berth_runner_storage::{LeaseLockConfig, LockMode, UnitWorker, WorkerManager, WorkerRegistry};
use std::sync::Arc;

/// Prints what it would start or stop.
#[derive(Debug)]
struct PrintingManager;

#[async_trait]
impl WorkerManager for PrintingManager {
    async fn start_worker(&self, project: &str, worker_id: &str) -> berth_core::Result<()> {
        println!("  manager: start {worker_id} in {project}");
        Ok(())
    }

    async fn stop_worker(&self, project: &str, worker_id: &str) -> berth_core::Result<()> {
        println!("  manager: stop {worker_id} in {project}");
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let raw = berth_state_sqlite::open(dir.path().join("state.db"), OpenOptions::default()).await?;
    let key = match std::env::var("BERTH_KEY_HEX") {
        Ok(hex) => hex,
        Err(_) => random_hex(&OsRandom, 32)?,
    };
    let keyring = Keyring::from_hex("key-1", &key)?;
    let store = EncryptedRecords::wrap_store(&raw, keyring, Collections::matching(["api-keys:*"]));
    let locks = LockMode::Leased(LeaseLockConfig::default()).build(&store);
    let registry = WorkerRegistry::new(store.clone(), Arc::new(PrintingManager)).with_locks(locks);

    println!("register worker1 (worker:v1) and worker2 (otherworker:v1)");
    let regs = registry
        .update_unit_registrations(
            "demo",
            "instance-1",
            &Registrations::new(),
            &[
                UnitWorker::new("worker1", "ghcr.io/org/worker:v1"),
                UnitWorker::new("worker2", "ghcr.io/org/otherworker:v1"),
            ],
        )
        .await?;

    let workers = store.collection::<Worker>(&names::workers("demo"))?;
    let first = workers.all().await?.remove(0);
    let api_key = store
        .collection::<ApiKey>(&names::api_keys("demo"))?
        .get(&first.value.api_key_id)
        .await?
        .ok_or("api key missing")?;
    let on_disk = raw
        .records()
        .get(&names::api_keys("demo"), &first.value.api_key_id)
        .await?
        .ok_or("api key missing")?;
    println!(
        "  token through the decorator: {}…",
        &api_key.value.token[..8]
    );
    println!("  stored: {}", on_disk.value);

    println!("move worker1 to worker:v2 and drop worker2");
    let regs = registry
        .update_unit_registrations(
            "demo",
            "instance-1",
            &regs,
            &[UnitWorker::new("worker1", "ghcr.io/org/worker:v2")],
        )
        .await?;
    for w in workers.all().await? {
        println!("  worker {} runs {}", w.id, w.value.image);
    }
    println!("registrations: {regs:?}");
    Ok(())
}
