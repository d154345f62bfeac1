//! Pack-run stores: runs, logs, artifacts, approvals.

use super::{fresh, Backend, T0};
use berth_core::packrun::*;
use berth_core::ErrorKind;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

pub(crate) fn run(id: &str, tenant: Option<&str>) -> PackRun {
    let mut r = PackRun::new(
        id,
        format!("sha256:{id}"),
        json!({"steps": [{"id": "build"}]}),
    );
    r.tenant_id = tenant.map(str::to_owned);
    r.requested_at = T0;
    r.failure_policy = FailurePolicy {
        max_attempts: 3,
        backoff_seconds: 5,
        continue_on_error: false,
    };
    r.steps = vec![StepState {
        step_id: "build".into(),
        status: StepStatus::Pending,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
    }];
    r
}

pub(crate) fn entry(run: &str, seq: u64, msg: &str) -> LogEntry {
    let mut metadata = BTreeMap::new();
    metadata.insert("stream".to_owned(), "stdout".to_owned());
    LogEntry {
        run_id: run.into(),
        sequence: seq,
        timestamp: T0.plus(Duration::from_millis(seq)),
        level: LogLevel::Info,
        event_type: "step.output".into(),
        message: msg.into(),
        step_id: Some("build".into()),
        metadata,
    }
}

pub async fn runs_create_get_update(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let runs = store.runs();
    let created = runs.create(run("r1", None)).await.unwrap();
    assert_eq!(
        (created.created_at, created.updated_at, created.version),
        (T0, T0, 1)
    );
    assert_eq!(
        runs.create(run("r1", None)).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let mut got = runs.get("r1").await.unwrap().unwrap();
    assert_eq!(got, created);
    clock.advance(Duration::from_secs(2));
    got.status = RunStatus::Running;
    got.steps[0].status = StepStatus::Failed;
    got.steps[0].attempts = 1;
    got.steps[0].next_attempt_at = Some(T0.plus(Duration::from_secs(7)));
    let updated = runs.update(got.clone()).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created_at, T0);
    assert_eq!(updated.updated_at, T0.plus(Duration::from_secs(2)));
    let stale = runs.update(got).await.unwrap_err();
    assert_eq!(
        stale.kind(),
        ErrorKind::Conflict,
        "an update from version 1 after version 2 is stale"
    );
    let reread = runs.get("r1").await.unwrap().unwrap();
    assert_eq!(reread, updated);
    assert_eq!(reread.failure_policy.max_attempts, 3);
    assert!(runs.get("nope").await.unwrap().is_none());
    assert_eq!(
        runs.update(run("nope", None)).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        runs.create(run("", None)).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

pub async fn runs_listed_by_updated_and_tenant(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let runs = store.runs();
    for (id, tenant) in [
        ("a", Some("t1")),
        ("b", Some("t2")),
        ("c", Some("t1")),
        ("d", None),
    ] {
        runs.create(run(id, tenant)).await.unwrap();
        clock.advance(Duration::from_secs(1));
    }
    // Touch "a": it becomes the newest.
    let a = runs.get("a").await.unwrap().unwrap();
    runs.update(a).await.unwrap();
    let ids = |v: Vec<PackRun>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(runs.list(&RunQuery::default()).await.unwrap()),
        vec!["a", "d", "c", "b"]
    );
    let t1 = RunQuery {
        tenant: Some("t1".into()),
        ..RunQuery::default()
    };
    assert_eq!(ids(runs.list(&t1).await.unwrap()), vec!["a", "c"]);
    let page1 = runs
        .list(&RunQuery {
            limit: 2,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    let cursor = RunCursor::from(page1.last().unwrap());
    let page2 = runs
        .list(&RunQuery {
            limit: 2,
            after: Some(cursor),
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(page1), vec!["a", "d"]);
    assert_eq!(ids(page2), vec!["c", "b"]);
    // Moving a run to another tenant moves it between listings.
    let mut c = runs.get("c").await.unwrap().unwrap();
    c.tenant_id = Some("t2".into());
    runs.update(c).await.unwrap();
    assert_eq!(ids(runs.list(&t1).await.unwrap()), vec!["a"]);
    let t2 = RunQuery {
        tenant: Some("t2".into()),
        ..RunQuery::default()
    };
    assert_eq!(ids(runs.list(&t2).await.unwrap()), vec!["c", "b"]);
    assert_eq!(
        runs.list(&RunQuery::default()).await.unwrap().len(),
        4,
        "no stale index entries"
    );
}

pub async fn log_append_idempotent_and_ordered(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let logs = store.logs();
    assert_eq!(logs.last_sequence("r1").await.unwrap(), None);
    let first: Vec<LogEntry> = (1..=5)
        .map(|i| entry("r1", i, &format!("line {i}")))
        .collect();
    assert_eq!(logs.append(&first).await.unwrap(), 5);
    assert_eq!(
        logs.append(&first[1..3]).await.unwrap(),
        0,
        "the same entries again are a no-op"
    );
    let mixed = vec![
        entry("r1", 5, "line 5"),
        entry("r1", 12, "line 12"),
        entry("r2", 1, "other run"),
    ];
    assert_eq!(logs.append(&mixed).await.unwrap(), 2);
    let all = logs.read("r1", None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 12]
    );
    assert_eq!(all[0], first[0]);
    let after = logs.read("r1", Some(3), 2).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert!(logs.read("r1", Some(12), 10).await.unwrap().is_empty());
    assert_eq!(logs.last_sequence("r1").await.unwrap(), Some(12));
    assert_eq!(logs.read("r2", None, 10).await.unwrap().len(), 1);
    // Sequences compare as numbers, not strings: 9 < 10 < 100.
    logs.append(&[
        entry("r3", 100, "c"),
        entry("r3", 9, "a"),
        entry("r3", 10, "b"),
    ])
    .await
    .unwrap();
    let seqs: Vec<u64> = logs
        .read("r3", None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.sequence)
        .collect();
    assert_eq!(seqs, vec![9, 10, 100]);
}

pub async fn log_conflict_writes_nothing(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let logs = store.logs();
    logs.append(&[entry("r1", 1, "one")]).await.unwrap();
    let err = logs
        .append(&[entry("r1", 2, "two"), entry("r1", 1, "ONE?")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        logs.read("r1", None, 10).await.unwrap().len(),
        1,
        "the fresh entry of a failed append is not written"
    );
    let err = logs
        .append(&[entry("r1", 3, "a"), entry("r1", 3, "b")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(logs.last_sequence("r1").await.unwrap(), Some(1));
}

pub async fn artifacts_unique_per_run_and_name(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let arts = store.artifacts();
    let mut a = Artifact {
        run_id: "r1".into(),
        name: "report".into(),
        kind: "file".into(),
        source_path: Some("out/report.txt".into()),
        stored_path: None,
        status: ArtifactStatus::Pending,
        notes: None,
        captured_at: T0,
    };
    arts.record(a.clone()).await.unwrap();
    a.status = ArtifactStatus::Copied;
    a.stored_path = Some("artifacts/r1/report.txt".into());
    arts.record(a.clone()).await.unwrap();
    let mut b = a.clone();
    b.name = "binary".into();
    b.status = ArtifactStatus::Skipped;
    arts.record(b.clone()).await.unwrap();
    let mut other = a.clone();
    other.run_id = "r2".into();
    arts.record(other).await.unwrap();
    let listed = arts.list("r1").await.unwrap();
    assert_eq!(
        listed,
        vec![b, a.clone()],
        "one record per name, ordered by name"
    );
    assert_eq!(arts.get("r1", "report").await.unwrap(), Some(a));
    assert!(arts.get("r1", "missing").await.unwrap().is_none());
    assert_eq!(arts.list("r2").await.unwrap().len(), 1);
}

pub async fn approvals_compare_and_set(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let approvals = store.approvals();
    approvals
        .create(Approval::pending("r1", "gate-0", 1))
        .await
        .unwrap();
    assert_eq!(
        approvals
            .create(Approval::pending("r1", "gate-0", 1))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    // Many rounds of deciders released together, so reads and writes interleave.
    for round in 0..20 {
        let gate = format!("gate-{round}");
        if round > 0 {
            approvals
                .create(Approval::pending("r1", &gate, 1))
                .await
                .unwrap();
        }
        let deciders = 8;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(deciders));
        let mut handles = Vec::new();
        for i in 0..deciders {
            let store = store.clone();
            let barrier = barrier.clone();
            let gate = gate.clone();
            handles.push(tokio::spawn(async move {
                let decision = if i % 2 == 0 {
                    Decision::Approve
                } else {
                    Decision::Reject
                };
                let req = DecisionRequest {
                    actor: format!("user{i}"),
                    grants: vec![],
                    decision,
                    reason: None,
                };
                barrier.wait().await;
                store.approvals().decide("r1", &gate, req).await
            }));
        }
        let mut winners = Vec::new();
        for h in handles {
            match h.await.unwrap() {
                Ok(a) => winners.push(a),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "losers see a conflict: {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one decider wins a single-approval gate"
        );
        let stored = approvals.get("r1", &gate).await.unwrap().unwrap();
        assert_eq!(stored, winners[0]);
        assert_eq!(stored.decisions.len(), 1);
        assert_ne!(stored.status, ApprovalStatus::Pending);
    }
    let missing = DecisionRequest {
        actor: "x".into(),
        grants: vec![],
        decision: Decision::Approve,
        reason: None,
    };
    assert_eq!(
        approvals
            .decide("r1", "nope", missing)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

pub async fn approvals_quorum_and_grants(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let approvals = store.approvals();
    let mut gate = Approval::pending("r1", "release", 2);
    gate.required_grants = vec!["deploy".into()];
    gate.message = Some("ship it?".into());
    approvals.create(gate).await.unwrap();
    approvals
        .create(Approval::pending("r1", "another", 1))
        .await
        .unwrap();
    let req = |actor: &str, grants: &[&str], decision| DecisionRequest {
        actor: actor.into(),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        decision,
        reason: Some("because".into()),
    };
    let err = approvals
        .decide("r1", "release", req("eve", &[], Decision::Approve))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::InvalidInput,
        "an actor without the grant cannot decide"
    );
    clock.advance(Duration::from_secs(1));
    let one = approvals
        .decide("r1", "release", req("ann", &["deploy"], Decision::Approve))
        .await
        .unwrap();
    assert_eq!(one.status, ApprovalStatus::Pending, "one of two approvals");
    let dup = approvals
        .decide("r1", "release", req("ann", &["deploy"], Decision::Approve))
        .await
        .unwrap_err();
    assert_eq!(
        dup.kind(),
        ErrorKind::Conflict,
        "the same actor cannot approve twice"
    );
    let two = approvals
        .decide(
            "r1",
            "release",
            req("bob", &["deploy", "x"], Decision::Approve),
        )
        .await
        .unwrap();
    assert_eq!(two.status, ApprovalStatus::Approved);
    assert_eq!(two.decided_at, Some(T0.plus(Duration::from_secs(1))));
    assert_eq!(
        two.decisions
            .iter()
            .map(|d| d.actor.as_str())
            .collect::<Vec<_>>(),
        vec!["ann", "bob"]
    );
    let late = approvals
        .decide("r1", "release", req("cy", &["deploy"], Decision::Reject))
        .await
        .unwrap_err();
    assert_eq!(late.kind(), ErrorKind::Conflict);
    let rejected = approvals
        .decide("r1", "another", req("dan", &[], Decision::Reject))
        .await
        .unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    let ids: Vec<String> = approvals
        .list("r1")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.approval_id)
        .collect();
    assert_eq!(ids, vec!["another", "release"]);
}

pub async fn restore_keeps_records_exactly(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let runs = store.runs();
    clock.advance(Duration::from_secs(3600));
    // An exported run from the past: its timestamps must survive as they are.
    let mut old = run("imported", Some("t1"));
    old.created_at = T0;
    old.updated_at = T0.plus(Duration::from_secs(10));
    old.status = RunStatus::Succeeded;
    let restored = runs.restore(old.clone()).await.unwrap();
    assert_eq!(restored.version, 1);
    let got = runs.get("imported").await.unwrap().unwrap();
    assert_eq!(
        (got.created_at, got.updated_at, got.status),
        (old.created_at, old.updated_at, RunStatus::Succeeded)
    );
    runs.create(run("fresh", Some("t1"))).await.unwrap();
    let t1 = RunQuery {
        tenant: Some("t1".into()),
        ..RunQuery::default()
    };
    let ids: Vec<String> = runs
        .list(&t1)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        ids,
        vec!["fresh", "imported"],
        "listed by the restored updated_at"
    );
    // Restoring again replaces, moves the version on, and leaves no stale index entry.
    let mut again = old.clone();
    again.tenant_id = Some("t2".into());
    assert_eq!(runs.restore(again).await.unwrap().version, 2);
    assert_eq!(runs.list(&t1).await.unwrap().len(), 1);
    assert_eq!(runs.list(&RunQuery::default()).await.unwrap().len(), 2);
    let stale = runs.update(got).await.unwrap_err();
    assert_eq!(
        stale.kind(),
        ErrorKind::Conflict,
        "an update against the replaced version fails"
    );

    let approvals = store.approvals();
    let mut gate = Approval::pending("imported", "gate", 1);
    gate.status = ApprovalStatus::Approved;
    gate.requested_at = T0;
    gate.decided_at = Some(T0.plus(Duration::from_secs(5)));
    gate.decisions = vec![ApprovalDecision {
        actor: "ann".into(),
        decision: Decision::Approve,
        reason: None,
        decided_at: T0.plus(Duration::from_secs(5)),
    }];
    approvals.restore(gate.clone()).await.unwrap();
    approvals.restore(gate.clone()).await.unwrap();
    assert_eq!(approvals.get("imported", "gate").await.unwrap(), Some(gate));
    assert_eq!(approvals.list("imported").await.unwrap().len(), 1);
}

/// Every pack-run write an owner makes, under `fence`; each result in order.
async fn owned_writes(
    store: &berth_core::Store,
    run_id: &str,
    version: u64,
    seq: u64,
    fence: &berth_core::Fence,
) -> Vec<berth_core::Result<()>> {
    let mut current = run(run_id, None);
    current.version = version;
    current.status = RunStatus::Running;
    let artifact = Artifact {
        run_id: run_id.into(),
        name: format!("out-{seq}"),
        kind: "file".into(),
        source_path: Some("out.txt".into()),
        stored_path: None,
        status: ArtifactStatus::Copied,
        notes: None,
        captured_at: T0,
    };
    vec![
        store.runs().update_fenced(current, fence).await.map(|_| ()),
        store
            .logs()
            .append_fenced(&[entry(run_id, seq, "owned line")], fence)
            .await
            .map(|_| ()),
        store.artifacts().record_fenced(artifact, fence).await,
        store
            .approvals()
            .create_fenced(Approval::pending(run_id, &format!("gate-{seq}"), 1), fence)
            .await
            .map(|_| ()),
    ]
}

/// What the owned writes of [`owned_writes`] left: run version, logs, artifacts, gates.
async fn owned_state(store: &berth_core::Store, run_id: &str) -> (u64, usize, usize, usize) {
    (
        store.runs().get(run_id).await.unwrap().unwrap().version,
        store.logs().read(run_id, None, 100).await.unwrap().len(),
        store.artifacts().list(run_id).await.unwrap().len(),
        store.approvals().list(run_id).await.unwrap().len(),
    )
}

fn assert_all_stale(results: Vec<berth_core::Result<()>>, why: &str) {
    let kinds: Vec<Option<ErrorKind>> = results
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.kind()))
        .collect();
    assert_eq!(kinds, vec![Some(ErrorKind::StaleFence); 4], "{why}");
}

pub async fn fenced_packrun_writes_rejected_after_takeover(backend: &dyn Backend) {
    let (location, store, clock) = fresh(backend).await;
    let ttl = Duration::from_secs(35);
    let shard = "packrun:r1".to_owned();
    let first = store
        .leases()
        .acquire("host-a:1", std::slice::from_ref(&shard), ttl)
        .await
        .unwrap();
    let fence_a = berth_core::Fence::from(&first[0]);
    store.runs().create(run("r1", None)).await.unwrap();
    let written = owned_writes(&store, "r1", 1, 1, &fence_a).await;
    assert!(
        written.iter().all(|r| r.is_ok()),
        "the owner writes while it holds the lease: {written:?}"
    );
    assert_eq!(owned_state(&store, "r1").await, (2, 1, 1, 1));

    clock.advance(ttl + Duration::from_secs(1));
    let taken = store
        .leases()
        .acquire("host-b:2", std::slice::from_ref(&shard), ttl)
        .await
        .unwrap();
    let fence_b = berth_core::Fence::from(&taken[0]);
    assert!(fence_b.token > fence_a.token);
    assert_all_stale(
        owned_writes(&store, "r1", 2, 2, &fence_a).await,
        "every write of the old owner is refused after the takeover",
    );
    assert_eq!(
        owned_state(&store, "r1").await,
        (2, 1, 1, 1),
        "a refused owned write stores nothing"
    );
    assert!(
        store
            .logs()
            .append_fenced(&[entry("r1", 1, "owned line")], &fence_a)
            .await
            .is_err_and(|e| e.kind() == ErrorKind::StaleFence),
        "even an append with nothing new tells the old owner its claim is lost"
    );
    let written = owned_writes(&store, "r1", 2, 2, &fence_b).await;
    assert!(written.iter().all(|r| r.is_ok()), "{written:?}");
    assert_eq!(owned_state(&store, "r1").await, (3, 2, 2, 2));
    drop(store);

    let options = berth_core::OpenOptions::default()
        .with_clock(std::sync::Arc::new(clock.clone()))
        .with_ids(std::sync::Arc::new(berth_core::DeterministicIds::new(43)));
    let store = location.open(options).await.expect("reopen");
    if !store.capabilities().persistent {
        return;
    }
    assert_eq!(owned_state(&store, "r1").await, (3, 2, 2, 2));
    assert_all_stale(
        owned_writes(&store, "r1", 3, 3, &fence_a).await,
        "the old owner stays fenced out after a reopen",
    );
    assert_eq!(owned_state(&store, "r1").await, (3, 2, 2, 2));
    let written = owned_writes(&store, "r1", 3, 3, &fence_b).await;
    assert!(written.iter().all(|r| r.is_ok()), "{written:?}");
}

pub async fn fenced_packrun_writes_need_a_live_lease(backend: &dyn Backend) {
    let (_location, store, clock) = fresh(backend).await;
    let ttl = Duration::from_secs(35);
    let shard = "packrun:r2".to_owned();
    let held = store
        .leases()
        .acquire("host-a:1", std::slice::from_ref(&shard), ttl)
        .await
        .unwrap();
    let fence = berth_core::Fence::from(&held[0]);
    store.runs().create(run("r2", None)).await.unwrap();
    clock.advance(ttl + Duration::from_millis(1));
    assert_all_stale(
        owned_writes(&store, "r2", 1, 1, &fence).await,
        "a lapsed lease fences its owner out even if nobody took it",
    );
    assert_eq!(owned_state(&store, "r2").await, (1, 0, 0, 0));
    let again = store
        .leases()
        .acquire("host-a:1", std::slice::from_ref(&shard), ttl)
        .await
        .unwrap();
    let renewed = berth_core::Fence::from(&again[0]);
    assert!(
        renewed.token > fence.token,
        "a lapsed lease taken again gets a new token"
    );
    let written = owned_writes(&store, "r2", 1, 1, &renewed).await;
    assert!(written.iter().all(|r| r.is_ok()), "{written:?}");
    store.leases().release("host-a:1", &shard).await.unwrap();
    assert_all_stale(
        owned_writes(&store, "r2", 2, 2, &renewed).await,
        "a released lease fences its former owner out",
    );
    assert_eq!(owned_state(&store, "r2").await, (2, 1, 1, 1));
}
