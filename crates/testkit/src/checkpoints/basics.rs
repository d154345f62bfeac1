//! Checkpoints written in the caller's batch, with history.

use crate::{fresh, Backend, T0};
use berth_core::{Batch, Checkpoint, ErrorKind, Precondition};
use serde_json::json;
use std::time::Duration;

pub(crate) fn checkpoint(
    pipeline: &str,
    run: &str,
    stage: &str,
    at: berth_core::Timestamp,
) -> Checkpoint {
    Checkpoint {
        pipeline_id: pipeline.into(),
        run_id: run.into(),
        paused_at_stage_id: stage.into(),
        paused_at_stage_label: format!("Stage {stage}"),
        paused_on: at,
        resume_at: Some(at.plus(Duration::from_secs(60))),
        timeout_at: Some(at.plus(Duration::from_secs(3600))),
        data: json!({"cursor": stage}),
        entry_id: String::new(),
        metadata: Default::default(),
        parent_id: None,
    }
}

pub async fn write_read_clear(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    assert!(cps.read("p", "r1").await.unwrap().is_none());
    let mut batch = Batch::new();
    let entry = cps
        .write(&mut batch, &checkpoint("p", "r1", "s1", T0))
        .unwrap();
    store.commit(batch).await.unwrap();
    let got = cps.read("p", "r1").await.unwrap().unwrap();
    assert_eq!(got.paused_at_stage_id, "s1");
    assert_eq!(got.entry_id, entry);
    assert_eq!(got.resume_at, Some(T0.plus(Duration::from_secs(60))));
    assert_eq!(got.data, json!({"cursor": "s1"}));
    assert!(
        cps.read("other", "r1").await.unwrap().is_none(),
        "pipelines are separate"
    );
    cps.clear("p", "r1").await.unwrap();
    assert!(cps.read("p", "r1").await.unwrap().is_none());
    assert_eq!(
        cps.history("p", "r1").await.unwrap().len(),
        1,
        "history survives a clear"
    );
    let mut batch = Batch::new();
    let err = cps
        .write(&mut batch, &checkpoint("p", "bad\u{1f}run", "s", T0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(batch.is_empty());
}

pub async fn checkpoint_commits_with_state_patch(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    // A stage whose state patch fails its precondition must not leave a checkpoint behind.
    let mut batch = Batch::new();
    batch
        .put("state:p", "r1", json!({"paid": false}))
        .when(berth_core::Precondition::Exists);
    cps.write(&mut batch, &checkpoint("p", "r1", "pay", T0))
        .unwrap();
    assert_eq!(
        store.commit(batch).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(cps.read("p", "r1").await.unwrap().is_none());
    assert!(cps.history("p", "r1").await.unwrap().is_empty());
    // And the successful stage commits both together.
    let mut batch = Batch::new();
    batch
        .put("state:p", "r1", json!({"paid": false}))
        .when(Precondition::Absent);
    cps.write(&mut batch, &checkpoint("p", "r1", "pay", T0))
        .unwrap();
    store.commit(batch).await.unwrap();
    assert!(cps.read("p", "r1").await.unwrap().is_some());
    assert!(store
        .records()
        .get("state:p", "r1")
        .await
        .unwrap()
        .is_some());
}

pub async fn history_list_and_prune(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let cps = store.checkpoints();
    for (i, stage) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        clock.advance(Duration::from_secs(1));
        let mut batch = Batch::new();
        cps.write(
            &mut batch,
            &checkpoint("p", "r1", stage, T0.plus(Duration::from_secs(i as u64))),
        )
        .unwrap();
        store.commit(batch).await.unwrap();
    }
    let mut batch = Batch::new();
    cps.write(
        &mut batch,
        &checkpoint("p", "r2", "x", T0.plus(Duration::from_secs(100))),
    )
    .unwrap();
    cps.write(
        &mut batch,
        &checkpoint("p", "r0", "y", T0.plus(Duration::from_secs(50))),
    )
    .unwrap();
    store.commit(batch).await.unwrap();

    let history = cps.history("p", "r1").await.unwrap();
    let stages: Vec<&str> = history
        .iter()
        .map(|c| c.paused_at_stage_id.as_str())
        .collect();
    assert_eq!(
        stages,
        vec!["s4", "s3", "s2", "s1"],
        "history is newest first"
    );
    let recent = cps.recent("p", "r1", 2).await.unwrap();
    let stages: Vec<&str> = recent
        .iter()
        .map(|c| c.paused_at_stage_id.as_str())
        .collect();
    assert_eq!(stages, vec!["s4", "s3"], "recent(2) is the newest two");
    assert_eq!(
        cps.read("p", "r1")
            .await
            .unwrap()
            .unwrap()
            .paused_at_stage_id,
        "s4"
    );

    let listed: Vec<String> = cps
        .list_current("p")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.run_id)
        .collect();
    assert_eq!(
        listed,
        vec!["r2", "r0", "r1"],
        "current checkpoints, newest pause first"
    );

    let keep2 = berth_core::PrunePolicy::keep_latest(2);
    assert_eq!(cps.prune_run("p", "r1", &keep2).await.unwrap(), 2);
    let kept: Vec<String> = cps
        .history("p", "r1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.paused_at_stage_id)
        .collect();
    assert_eq!(kept, vec!["s4", "s3"]);
    assert_eq!(cps.prune_run("p", "r1", &keep2).await.unwrap(), 0);
    assert_eq!(
        cps.history("p", "r2").await.unwrap().len(),
        1,
        "other runs untouched"
    );
    assert_eq!(
        cps.read("p", "r1")
            .await
            .unwrap()
            .unwrap()
            .paused_at_stage_id,
        "s4"
    );
}
