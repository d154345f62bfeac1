//! berth in one screen: collections, an atomic batch, a fenced lease and a checkpoint.
//!
//! Run with `cargo run -p berth --example quickstart [STORE-URL]`.

use berth::{Batch, Checkpoint, ErrorKind, Precondition, Scan};
use serde_json::json;
use std::time::Duration;

/// The store the tour uses when no URL is given: an SQLite file in the working directory.
const DEFAULT_URL: &str = "sqlite:berth.db";

#[tokio::main]
async fn main() -> berth::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let store = berth::open(&url).await?;
    println!("opened {url} (backend: {})", store.backend());
    // Fresh names per run, so the tour can run again on a persistent store.
    let run = store.ids().next_id().simple().to_string();
    let workers = format!("workers:demo-{run}");
    let index = format!("worker-registration-index:demo-{run}:w-1");

    // Collections and an atomic batch over two of them.
    let mut batch = Batch::new();
    batch
        .put(
            &workers,
            "w-1",
            json!({"image": "ghcr.io/org/worker:v1", "status": "starting"}),
        )
        .when(Precondition::Absent);
    batch.put(&index, "reg-1", json!(null));
    let done = store.commit(batch).await?;
    println!(
        "batch over {workers} and its index committed, versions {:?}",
        done.versions
    );

    // A writer with a stale version is refused, and nothing of its batch is written.
    let mut stale = Batch::new();
    stale
        .put(&workers, "w-1", json!({"status": "hijacked"}))
        .when(Precondition::Version(7));
    stale.put(&workers, "w-2", json!({"status": "never written"}));
    let err = store
        .commit(stale)
        .await
        .expect_err("version 7 is not current");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    println!("stale batch refused: {err}");
    let held = store.records().scan(&workers, &Scan::all()).await?;
    let keys: Vec<&str> = held.iter().map(|r| r.key.as_str()).collect();
    println!("{workers} holds {keys:?}");

    // A shard lease; writes fenced with its token apply only while it is held.
    let (address, shard) = ("127.0.0.1:34431", "default:1".to_owned());
    let leases = store.leases();
    let machine = leases
        .register(address, r#"{"groups":["default"]}"#, true)
        .await?;
    let ttl = Duration::from_secs(35);
    let lease = leases
        .acquire(address, std::slice::from_ref(&shard), ttl)
        .await?
        .remove(0);
    println!(
        "runner {address} is machine {}, holds {shard} with fencing token {}",
        machine.0, lease.token
    );
    let fence = Precondition::Fence {
        shard: shard.clone(),
        token: lease.token,
    };
    let entity = format!("order-{run}");
    let mut fenced = Batch::new();
    fenced
        .put("entities", &entity, json!({"owner": address}))
        .when(fence.clone());
    store.commit(fenced).await?;
    leases.release(address, &shard).await?;
    let mut late = Batch::new();
    late.put("entities", &entity, json!({"owner": "too late"}))
        .when(fence);
    let err = store
        .commit(late)
        .await
        .expect_err("the lease was released");
    println!("write after release refused: {err}");

    // A checkpoint written in the same batch as the paused stage's state.
    let checkpoints = store.checkpoints();
    let run_id = format!("run-{run}");
    let mut stage = Batch::new();
    stage.put(
        "orders",
        &entity,
        json!({"paid": false, "stage": "await-payment"}),
    );
    let checkpoint = Checkpoint {
        pipeline_id: "orders".into(),
        run_id: run_id.clone(),
        paused_at_stage_id: "await-payment".into(),
        paused_at_stage_label: "Await payment".into(),
        paused_on: store.clock().now(),
        resume_at: None,
        timeout_at: None,
        data: json!({"cursor": 2}),
        entry_id: String::new(),
        metadata: Default::default(),
        parent_id: None,
    };
    checkpoints.write(&mut stage, &checkpoint)?;
    store.commit(stage).await?;
    let read = checkpoints.read("orders", &run_id).await?;
    let label = read.map(|c| c.paused_at_stage_label).unwrap_or_default();
    println!("checkpoint of {run_id} committed with its stage: paused at {label:?}");
    println!("done");
    Ok(())
}
