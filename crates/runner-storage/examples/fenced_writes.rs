//! A runner keeps its shards with a `ShardKeeper` and guards every write to an entity with the
//! fencing token of the entity's shard, so a write that arrives after the shard moved on is
//! refused by the store.
//!
//! Run with `cargo run -p berth-runner-storage --example fenced_writes`.

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition, Store};
use berth_runner_storage::{
    KeeperConfig, Runner, RunnerStorage, ShardId, ShardKeeper, DEFAULT_GROUP,
    DEFAULT_SHARDS_PER_GROUP,
};
use serde_json::json;

/// Writes `state` for `order` only while `token` still holds the order's shard.
async fn write_order(
    store: &Store,
    shard: &ShardId,
    token: u64,
    order: &str,
    state: &str,
) -> berth_core::Result<()> {
    let mut batch = Batch::new();
    batch
        .put("orders", order, json!({ "state": state }))
        .when(Precondition::Fence {
            shard: shard.to_string(),
            token,
        });
    store.commit(batch).await.map(|_| ())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = berth_state_memory::open(OpenOptions::default());
    let storage = RunnerStorage::from_store(&store);
    let runner = Runner::new("127.0.0.1:34431".parse()?);
    let mut keeper = ShardKeeper::spawn(storage, runner, KeeperConfig::default())?;
    let mut events = keeper.events();
    let mut held = keeper.held();

    let order = "order-1017";
    let shard = ShardId::for_entity(DEFAULT_GROUP, order, DEFAULT_SHARDS_PER_GROUP)?;
    held.wait_for(|h| h.is_held(&shard)).await?;
    // Ask for the token right before acting: it is None once the lease may have lapsed.
    let token = held
        .borrow()
        .token(&shard)
        .ok_or("shard lost before the write")?;
    write_order(&store, &shard, token, order, "paid").await?;
    println!("{order} lives on {shard}; written under token {token}");
    println!("first event: {:?}", events.recv().await?);

    keeper.shutdown().await?;
    // A late write with the old token (say, a request that was stuck in a queue) is refused.
    let late = write_order(&store, &shard, token, order, "refunded").await;
    match late {
        Err(e) if e.kind() == ErrorKind::StaleFence => println!("late write refused: {e}"),
        other => return Err(format!("expected a stale fence, got {other:?}").into()),
    }
    Ok(())
}
