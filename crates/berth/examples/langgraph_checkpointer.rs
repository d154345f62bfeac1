//! Coming from LangGraph: every checkpointer operation (`put`, `put_writes`, `get_tuple`,
//! `list`, `delete_thread`, `copy_thread`, `prune`, TTL) done the berth way.
//!
//! Run with `cargo run -p berth --example langgraph_checkpointer [STORE-URL]` (default
//! `memory:`). The mapping is explained in `docs/coming-from-langgraph.md`; the tests run this
//! tour on memory and SQLite (`crates/berth/tests/examples.rs`).

use berth::{Batch, Checkpoint, ListQuery, PrunePolicy, Result, Store};
use serde_json::json;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "memory:".into());
    let store = berth::open(&url).await?;
    for line in tour(&store).await? {
        println!("{line}");
    }
    Ok(())
}

/// The tour; returns what it did, one line per LangGraph operation.
pub async fn tour(store: &Store) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let saver = store.checkpoints();
    // LangGraph's thread_id is berth's run; checkpoint_ns is the namespace (the pipeline id,
    // or a sub-pipeline path of any depth). Fresh names so the tour can run again.
    let thread = format!("thread-{}", store.ids().next_id().simple());
    let ns = "support-bot";
    let now = store.clock().now();

    // put(config, checkpoint, metadata, new_versions): a checkpoint with a caller-chosen id,
    // metadata and a parent, in the same atomic batch as the application's own state.
    let first = store.ids().next_id().to_string();
    let second = store.ids().next_id().to_string();
    let mut batch = Batch::new();
    batch.put("tickets", &thread, json!({"status": "open"}));
    let cp = Checkpoint::new(ns, &thread, "classify", "Classify", now)
        .with_id(&first)
        .with_data(json!({"messages": ["hi"]}))
        .with_metadata("source", "input")
        .with_metadata("step", -1);
    saver.write(&mut batch, &cp)?;
    store.commit(batch).await?;
    let cp = Checkpoint::new(ns, &thread, "answer", "Answer", now)
        .with_id(&second)
        .with_parent(&first)
        .with_data(json!({"messages": ["hi", "hello!"]}))
        .with_metadata("source", "loop")
        .with_metadata("step", 0);
    saver.put(&cp).await?;
    done.push(format!(
        "put: {thread} has checkpoints {first} and {second}"
    ));

    // put_writes(config, writes, task_id): pending writes of a task towards the next step.
    saver
        .put_writes(
            ns,
            &thread,
            &second,
            "task-1",
            &[("messages".into(), json!("bye"))],
        )
        .await?;
    let pending = saver.pending_writes(ns, &thread, &second).await?;
    assert_eq!(pending.len(), 1);
    done.push(format!("put_writes: {} pending write(s)", pending.len()));

    // get_tuple(config) without a checkpoint_id: the newest one; with one: that one.
    let latest = saver.read(ns, &thread).await?;
    assert_eq!(
        latest.as_ref().map(|c| c.entry_id.as_str()),
        Some(second.as_str())
    );
    let parent = saver.get(ns, &thread, &first).await?;
    assert_eq!(
        parent.map(|c| c.paused_at_stage_id),
        Some("classify".to_owned())
    );
    done.push("get_tuple: latest and by id".to_owned());

    // list(config, filter=..., before=..., limit=...): newest first.
    let inputs = saver
        .list(ns, &thread, &ListQuery::new().filter("source", "input"))
        .await?;
    assert_eq!(inputs.len(), 1);
    let older = saver
        .list(ns, &thread, &ListQuery::new().before(&second).limit(10))
        .await?;
    assert_eq!(older.len(), 1);
    done.push("list: filter on metadata, before, limit".to_owned());

    // copy_thread(source, target): one atomic commit.
    let fork = format!("{thread}-fork");
    let copied = saver.copy_run(ns, &thread, ns, &fork).await?;
    done.push(format!(
        "copy_thread: {copied} checkpoint(s) copied to {fork}"
    ));

    // prune(thread_ids, strategy="keep_latest"): by policy, over every run of a namespace.
    let removed = saver.prune(Some(ns), &PrunePolicy::keep_latest(1)).await?;
    done.push(format!("prune: {removed} old checkpoint(s) removed"));

    // TTL (LangGraph's `ttl` config): a handle whose writes make the run expire.
    let scratch = format!("{thread}-scratch");
    let short = saver.clone().with_ttl(Duration::from_secs(3600));
    short
        .put(&Checkpoint::new(ns, &scratch, "draft", "Draft", now))
        .await?;
    done.push("ttl: run expires an hour after its last write".to_owned());

    // delete_thread(thread_id): one atomic commit.
    for run in [&thread, &fork, &scratch] {
        saver.delete_run(ns, run).await?;
    }
    assert!(saver.read(ns, &thread).await?.is_none());
    done.push("delete_thread: runs deleted".to_owned());
    Ok(done)
}
