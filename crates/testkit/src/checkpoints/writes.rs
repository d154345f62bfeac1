//! Pending writes per task, kept with the checkpoint they follow.

use super::at;
use crate::{fresh, Backend};
use berth_core::{ErrorKind, PrunePolicy};
use serde_json::json;

fn channels(writes: &[berth_core::PendingWrite]) -> Vec<(String, usize, String)> {
    writes
        .iter()
        .map(|w| (w.task_id.clone(), w.index, w.channel.clone()))
        .collect()
}

pub async fn pending_writes_per_task(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    cps.put(&at("p", "r", "c-1", 1)).await.unwrap();
    cps.put(&at("p", "r", "c-2", 2)).await.unwrap();
    cps.put_writes(
        "p",
        "r",
        "c-1",
        "task-b",
        &[("out".into(), json!(1)), ("log".into(), json!("b"))],
    )
    .await
    .unwrap();
    cps.put_writes("p", "r", "c-1", "task-a", &[("out".into(), json!(2))])
        .await
        .unwrap();
    cps.put_writes("p", "r", "c-2", "task-a", &[("out".into(), json!(3))])
        .await
        .unwrap();
    let writes = cps.pending_writes("p", "r", "c-1").await.unwrap();
    assert_eq!(
        channels(&writes),
        vec![
            ("task-a".into(), 0, "out".into()),
            ("task-b".into(), 0, "out".into()),
            ("task-b".into(), 1, "log".into()),
        ]
    );
    assert_eq!(writes[1].value, json!(1));
    // The same task's writes again replace them.
    cps.put_writes("p", "r", "c-1", "task-b", &[("out".into(), json!(10))])
        .await
        .unwrap();
    let writes = cps.pending_writes("p", "r", "c-1").await.unwrap();
    let b0 = writes
        .iter()
        .find(|w| w.task_id == "task-b" && w.index == 0);
    assert_eq!(b0.map(|w| w.value.clone()), Some(json!(10)));
    assert_eq!(cps.pending_writes("p", "r", "c-2").await.unwrap().len(), 1);

    let err = cps
        .put_writes("p", "r", "c-9", "t", &[("x".into(), json!(1))])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "no such checkpoint");
    let err = cps
        .put_writes("p", "nobody", "c-1", "t", &[("x".into(), json!(1))])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "no such run");
    assert!(cps
        .pending_writes("p", "r", "c-9")
        .await
        .unwrap()
        .is_empty());
    let err = cps
        .put_writes("p", "r", "c-1", "bad\u{1f}task", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);

    // Pruning a checkpoint takes its writes with it; the kept one keeps its own.
    assert_eq!(
        cps.prune_run("p", "r", &PrunePolicy::keep_latest(1))
            .await
            .unwrap(),
        1
    );
    assert!(cps
        .pending_writes("p", "r", "c-1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        super::raw_count(&store, "checkpoint-writes", "p\u{1f}r\u{1f}c-1").await,
        0
    );
    assert_eq!(cps.pending_writes("p", "r", "c-2").await.unwrap().len(), 1);
}
