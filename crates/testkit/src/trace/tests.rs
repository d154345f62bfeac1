//! Tests of the recorder and its rendering.

use super::*;
use berth_core::{Batch, KeyedLocks};
use serde_json::json;

#[tokio::test]
async fn staged_ops_link_to_their_write_and_unstaged_commits_get_a_batch() {
    let tracer = Tracer::new();
    let store = tracer.store(&doc_store());
    tracer.section("act");
    let outer = tracer.open_batch();
    let inner = tracer.open_batch();
    let mut a = Batch::new();
    a.put("workers:p", "w1", json!({"status": "starting"}));
    tracer.stage(inner, StagedKind::PutItem, "workers:p", "w1");
    let mut b = Batch::new();
    b.put("idx:p:w1", "r1", json!(""));
    tracer.stage(outer, StagedKind::Put, "idx:p:w1", "r1");
    store.commit(a).await.unwrap();
    store.commit(b).await.unwrap();
    let mut c = Batch::new();
    c.delete("workers:p", "w0");
    store.commit(c).await.unwrap();
    let out = tracer.render();
    assert!(out.starts_with("## act\n\n### <a id=\"trace-1\"></a> 1. 💾 putItem"));
    assert!(out.contains("**Batch ID:** `2`, written at [3](#trace-3)"));
    assert!(out.contains("### <a id=\"trace-3\"></a> 3. 💾 write [1](#trace-1)\n"));
    assert!(out.contains("**Batch ID:** `1`, written at [4](#trace-4)"));
    assert!(out.contains("\"status\": \"starting\""));
    // Nobody staged the delete: it is recorded at its commit, in a batch of its own.
    assert!(out.contains("5. 🗑️ delete"));
    assert!(out.contains("**Batch ID:** `3`, written at [6](#trace-6)"));
    assert_eq!(tracer.len(), 6);
}

#[tokio::test]
async fn locks_record_their_release_and_calls_and_logs_render() {
    let tracer = Tracer::new();
    let locks = TracedLocks::new(KeyedLocks::default(), tracer.clone());
    let guard = locks.lock(&["b".into(), "a".into(), "b".into()]).await;
    tracer.call("manager.start", vec![json!("p"), json!(1)], None);
    tracer.log(
        LogLevel::Info,
        "hello",
        vec![("service".into(), json!("S")), ("a".into(), json!(1))],
    );
    drop(guard);
    let out = tracer.render();
    assert!(
        out.contains("1. 🔒 locked, released at [4](#trace-4)\n\n**Keys:**\n\n`\"b\"`\n\n`\"a\"`")
    );
    assert!(out.contains("2. ✅ manager.start\n\n**Args:**\n\n`\"p\"`\n\n`1`"));
    assert!(out.contains("```js\n{\n  \"service\": \"S\",\n  \"a\": 1\n}\n```"));
    assert!(out.contains("4. 🔓 released, locked at [1](#trace-1)"));
}

#[test]
fn random_source_is_reproducible_per_seed() {
    let (a, b) = (DeterministicRandom::new(3), DeterministicRandom::new(4));
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    a.fill(&mut x);
    b.fill(&mut y);
    assert_ne!(x, y);
}
