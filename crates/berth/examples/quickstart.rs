//! berth in one screen: collections, an atomic batch, a fenced lease and a checkpoint.
//!
//! Run with `cargo run -p berth --example quickstart` (optionally pass a store URL).

use berth::{Batch, Checkpoint, ErrorKind, Precondition, Scan};
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() -> berth::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "memory://".to_owned());
    let store = berth::open(&url).await?;
    println!("opened {url} (backend: {})", store.backend());

    // Collections and an atomic batch over two of them.
    let mut batch = Batch::new();
    batch
        .put(
            "workers:demo",
            "w-1",
            json!({"image": "ghcr.io/org/worker:v1", "status": "starting"}),
        )
        .when(Precondition::Absent);
    batch.put("worker-registration-index:demo:w-1", "reg-1", json!(null));
    let done = store.commit(batch).await?;
    println!("batch committed: 2 ops, versions {:?}", done.versions);

    // A second writer with a stale version is refused and writes nothing.
    let mut stale = Batch::new();
    stale
        .put("workers:demo", "w-1", json!({"status": "hijacked"}))
        .when(Precondition::Version(7));
    stale.put("workers:demo", "w-2", json!({"status": "never written"}));
    let err = store
        .commit(stale)
        .await
        .expect_err("version 7 is not current");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    println!("stale batch refused: {err}");
    let workers = store.records().scan("workers:demo", &Scan::all()).await?;
    println!(
        "workers:demo holds {} record(s): {:?}",
        workers.len(),
        workers.iter().map(|r| &r.key).collect::<Vec<_>>()
    );

    // A shard lease; writes fenced with its token apply only while it is held.
    let leases = store.leases();
    let machine = leases
        .register("127.0.0.1:34431", "{\"groups\":[\"default\"]}", true)
        .await?;
    let lease = leases
        .acquire(
            "127.0.0.1:34431",
            &["default:1".into()],
            Duration::from_secs(35),
        )
        .await?
        .remove(0);
    println!(
        "runner machine id {}, holds {} with fencing token {}",
        machine.0, lease.shard, lease.token
    );
    let mut fenced = Batch::new();
    fenced
        .put("entities", "order-17", json!({"owner": "127.0.0.1:34431"}))
        .when(Precondition::Fence {
            shard: lease.shard.clone(),
            token: lease.token,
        });
    store.commit(fenced).await?;
    leases.release("127.0.0.1:34431", &lease.shard).await?;
    let mut late = Batch::new();
    late.put("entities", "order-17", json!({"owner": "too late"}))
        .when(Precondition::Fence {
            shard: lease.shard.clone(),
            token: lease.token,
        });
    let err = store.commit(late).await.expect_err("released lease");
    println!("write after release refused: {err}");

    // A checkpoint written in the same batch as the paused stage's state.
    let checkpoints = store.checkpoints();
    let mut stage = Batch::new();
    stage.put(
        "orders",
        "order-17",
        json!({"paid": false, "stage": "await-payment"}),
    );
    checkpoints.write(
        &mut stage,
        &Checkpoint {
            pipeline_id: "orders".into(),
            run_id: "run-17".into(),
            paused_at_stage_id: "await-payment".into(),
            paused_at_stage_label: "Await payment".into(),
            paused_on: store.clock().now(),
            resume_at: None,
            timeout_at: None,
            data: json!({"cursor": 2}),
            entry_id: String::new(),
        },
    )?;
    store.commit(stage).await?;
    let cp = checkpoints.read("orders", "run-17").await?;
    println!(
        "checkpoint of run-17: paused at {:?}",
        cp.map(|c| c.paused_at_stage_label).unwrap_or_default()
    );
    println!("done");
    Ok(())
}
