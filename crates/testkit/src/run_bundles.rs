//! Restoring a run with everything of it (import): one atomic write that keeps versions.

use super::packruns::{entry, run};
use super::{fresh, Backend, T0};
use berth_core::packrun::*;
use berth_core::{ErrorKind, Store};
use serde_json::json;
use std::time::Duration;

/// An exported run at version 7 with `logs` log lines, two artifacts and two gates.
fn bundle(id: &str, logs: u64) -> RunBundle {
    let mut r = run(id, Some("t1"));
    r.plan = json!({"steps": [{"id": "build", "timeout": 30, "ratio": 0.5}], "n": -3});
    r.created_at = T0;
    r.updated_at = T0.plus(Duration::from_secs(10));
    r.status = RunStatus::Succeeded;
    r.version = 7;
    let artifact = |name: &str| Artifact {
        run_id: id.into(),
        name: name.into(),
        kind: "file".into(),
        source_path: Some(format!("{name}.txt")),
        stored_path: Some(format!("store/{name}.txt")),
        status: ArtifactStatus::Copied,
        notes: None,
        captured_at: T0,
    };
    let mut decided = Approval::pending(id, "release", 1);
    decided.requested_at = T0;
    decided.status = ApprovalStatus::Approved;
    decided.decided_at = Some(T0.plus(Duration::from_secs(5)));
    decided.decisions = vec![ApprovalDecision {
        actor: "ann".into(),
        decision: Decision::Approve,
        reason: Some("ok".into()),
        decided_at: T0.plus(Duration::from_secs(5)),
    }];
    let mut open = Approval::pending(id, "deploy", 2);
    open.requested_at = T0;
    RunBundle {
        run: r,
        logs: (1..=logs)
            .map(|s| entry(id, s, &format!("line {s}")))
            .collect(),
        artifacts: vec![artifact("a-log"), artifact("b-report")],
        approvals: vec![open, decided],
    }
}

/// Everything `store` holds of run `id`.
async fn held(store: &Store, id: &str) -> RunBundle {
    let run = store.runs().get(id).await.unwrap();
    RunBundle {
        run: run.unwrap_or_else(|| PackRun::new("(none)", "", json!(null))),
        logs: store.logs().read(id, None, 10_000).await.unwrap(),
        artifacts: store.artifacts().list(id).await.unwrap(),
        approvals: store.approvals().list(id).await.unwrap(),
    }
}

/// Whether the backend can restore atomically; if not, it must say `Unsupported`.
async fn supported(store: &Store) -> bool {
    if store.capabilities().atomic_batches {
        return true;
    }
    let refused = store
        .runs()
        .restore_bundle(&bundle("probe", 1))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Unsupported);
    assert_eq!(held(&store.clone(), "probe").await.logs, vec![]);
    false
}

pub async fn bundle_restores_whole_with_versions(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    if !supported(&store).await {
        return;
    }
    clock.advance(Duration::from_secs(3600));
    let b = bundle("imported", 3);
    let restored = store.runs().restore_bundle(&b).await.unwrap();
    assert_eq!(
        restored,
        Restored {
            run: b.run.clone(),
            logs: 3
        }
    );
    let mut expected = b.clone();
    expected
        .approvals
        .sort_by(|x, y| x.approval_id.cmp(&y.approval_id));
    assert_eq!(
        held(&store, "imported").await,
        expected,
        "read back identical, version 7 kept"
    );
    let listed = store.runs().list(&RunQuery::default()).await.unwrap();
    assert_eq!(listed, vec![b.run.clone()]);
    // The kept version is the one compare-and-set goes by.
    let mut next = b.run.clone();
    next.status = RunStatus::Failed;
    let updated = store.runs().update(next.clone()).await.unwrap();
    assert_eq!(updated.version, 8);
    assert_eq!(
        store.runs().get("imported").await.unwrap().unwrap().version,
        8
    );
    let stale = store.runs().update(next).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::Conflict);
}

pub async fn bundle_restore_failing_part_way_writes_nothing(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    if !supported(&store).await {
        return;
    }
    // More log lines than one append chunk, the last one refused: a restore made of several
    // writes would leave the first ones behind.
    let b = bundle("refused", 1200);
    let clash = entry("refused", 1200, "another line under the same sequence");
    store
        .logs()
        .append(std::slice::from_ref(&clash))
        .await
        .unwrap();
    let err = store.runs().restore_bundle(&b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let after = held(&store, "refused").await;
    assert_eq!(
        store.runs().get("refused").await.unwrap(),
        None,
        "no run doc"
    );
    assert_eq!(after.logs, vec![clash.clone()], "no log line of the bundle");
    assert_eq!(after.artifacts, vec![], "no artifact");
    assert_eq!(after.approvals, vec![], "no approval");

    // A record too large to store refuses the whole bundle, with the typed error.
    let mut big = bundle("too-large", 5);
    big.artifacts[1].notes = Some("x".repeat(17 * 1024 * 1024));
    let err = store.runs().restore_bundle(&big).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge, "{err}");
    let after = held(&store, "too-large").await;
    assert_eq!(store.runs().get("too-large").await.unwrap(), None);
    assert_eq!(
        (after.logs, after.artifacts, after.approvals),
        (vec![], vec![], vec![])
    );

    // Over a stored run, a refused restore leaves it as it was.
    let before = store.runs().create(run("kept", None)).await.unwrap();
    let clash = entry("kept", 2, "stored first");
    store
        .logs()
        .append(std::slice::from_ref(&clash))
        .await
        .unwrap();
    let err = store
        .runs()
        .restore_bundle(&bundle("kept", 3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let after = held(&store, "kept").await;
    assert_eq!(after.run, before);
    assert_eq!(after.logs, vec![clash]);
    assert_eq!((after.artifacts, after.approvals), (vec![], vec![]));

    // A bundle holding another run's record is refused before anything is written.
    let mut foreign = bundle("mixed", 2);
    foreign
        .approvals
        .push(Approval::pending("other", "gate", 1));
    let err = store.runs().restore_bundle(&foreign).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let after = held(&store, "mixed").await;
    assert_eq!(store.runs().get("mixed").await.unwrap(), None);
    assert_eq!((after.logs, after.artifacts), (vec![], vec![]));
    assert_eq!(store.approvals().list("other").await.unwrap(), vec![]);
}

pub async fn bundle_reimport_idempotent_versions_forward(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    if !supported(&store).await {
        return;
    }
    let runs = store.runs();
    let b = bundle("again", 4);
    runs.restore_bundle(&b).await.unwrap();
    let first = held(&store, "again").await;
    // The same bundle again changes nothing, version included.
    let again = runs.restore_bundle(&b).await.unwrap();
    assert_eq!(
        again,
        Restored {
            run: b.run.clone(),
            logs: 0
        }
    );
    assert_eq!(held(&store, "again").await, first);

    // The store moved on since the export: the old export never takes the version back.
    let mut moved = b.run.clone();
    moved.status = RunStatus::Cancelled;
    let moved = runs.update(moved).await.unwrap();
    assert_eq!(moved.version, 8);
    let restored = runs.restore_bundle(&b).await.unwrap();
    assert_eq!(restored.run.version, 9, "max(exported 7, stored 8 + 1)");
    let got = runs.get("again").await.unwrap().unwrap();
    assert_eq!(
        got,
        PackRun {
            version: 9,
            ..b.run.clone()
        }
    );
    let stale = runs.update(moved).await.unwrap_err();
    assert_eq!(
        stale.kind(),
        ErrorKind::Conflict,
        "an update against the replaced run fails"
    );

    // A newer export keeps its own, higher version.
    let mut newer = b.clone();
    newer.run.version = 20;
    newer.run.status = RunStatus::Failed;
    assert_eq!(runs.restore_bundle(&newer).await.unwrap().run.version, 20);
    let now = held(&store, "again").await;
    assert_eq!(now.run, newer.run);
    assert_eq!(
        (now.logs, now.artifacts, now.approvals),
        (first.logs, first.artifacts, first.approvals)
    );
    // `restore` of the run document alone follows the same rule.
    assert_eq!(runs.restore(newer.run.clone()).await.unwrap().version, 20);
    assert_eq!(runs.restore(b.run.clone()).await.unwrap().version, 21);
}
