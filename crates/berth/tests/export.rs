//! The export format moves pack runs between backends exactly.

use berth::packrun::export::{self, Counts};
use berth::packrun::*;
use berth::Store;
use serde_json::json;
use std::collections::BTreeMap;

async fn sample(store: &Store) {
    for (i, id) in ["run.one", "Hidden_2", "plain"].iter().enumerate() {
        let mut run = PackRun::new(
            *id,
            format!("sha256:{i}"),
            json!({"steps": [{"id": "build"}]}),
        );
        run.tenant_id = Some("acme".into());
        let run = store.runs().create(run).await.unwrap();
        let mut done = run.clone();
        done.status = RunStatus::Succeeded;
        store.runs().update(done).await.unwrap();
        let logs: Vec<LogEntry> = (1..=700)
            .map(|seq| LogEntry {
                run_id: id.to_string(),
                sequence: seq,
                timestamp: store.clock().now(),
                level: LogLevel::Info,
                event_type: "step.output".into(),
                message: format!("line {seq} of {id}"),
                step_id: Some("build".into()),
                metadata: BTreeMap::from([("stream".into(), "stdout".into())]),
            })
            .collect();
        store.logs().append(&logs).await.unwrap();
        store
            .artifacts()
            .record(Artifact {
                run_id: id.to_string(),
                name: "report".into(),
                kind: "file".into(),
                source_path: Some("out/report.txt".into()),
                stored_path: Some(format!("artifacts/{i}/report.txt")),
                status: ArtifactStatus::Copied,
                notes: None,
                captured_at: store.clock().now(),
            })
            .await
            .unwrap();
        store
            .approvals()
            .create(Approval::pending(id, "release", 1))
            .await
            .unwrap();
        let req = DecisionRequest {
            actor: "ann".into(),
            grants: vec![],
            decision: Decision::Approve,
            reason: Some("ok".into()),
        };
        store.approvals().decide(id, "release", req).await.unwrap();
    }
}

async fn everything(store: &Store) -> Vec<export::RunBundle> {
    let mut out = Vec::new();
    for run in store.runs().list(&RunQuery::default()).await.unwrap() {
        let mut bundle = export::collect_bundle(store, &run.id)
            .await
            .unwrap()
            .unwrap();
        bundle.run.version = 0; // store bookkeeping, not part of the record
        out.push(bundle);
    }
    out.sort_by(|a, b| a.run.id.cmp(&b.run.id));
    out
}

#[tokio::test]
async fn export_then_import_reproduces_every_record() {
    let source = berth::open("memory://").await.unwrap();
    sample(&source).await;
    let dir = tempfile::tempdir().unwrap();
    let written = export::export_store(&source, dir.path()).await.unwrap();
    assert_eq!(
        written,
        Counts {
            runs: 3,
            logs: 2100,
            artifacts: 3,
            approvals: 3
        }
    );

    let target_file = dir.path().join("target.db");
    let target = berth::open(&format!("sqlite:{}", target_file.display()))
        .await
        .unwrap();
    let (bundles, problems) = export::read_dir(dir.path()).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let mut imported = Counts::default();
    for bundle in &bundles {
        imported.add(export::restore_bundle(&target, bundle).await.unwrap());
    }
    assert_eq!(imported, written);
    assert_eq!(everything(&target).await, everything(&source).await);

    // Importing again changes nothing and appends no log twice.
    for bundle in &bundles {
        let again = export::restore_bundle(&target, bundle).await.unwrap();
        assert_eq!(again.logs, 0);
    }
    assert_eq!(everything(&target).await, everything(&source).await);
}

#[tokio::test]
async fn a_malformed_file_is_named_with_its_line_and_the_rest_still_reads() {
    let source = berth::open("memory://").await.unwrap();
    sample(&source).await;
    let dir = tempfile::tempdir().unwrap();
    export::export_store(&source, dir.path()).await.unwrap();
    let logs = dir.path().join("runs").join("plain").join("logs.ndjson");
    let mut text = std::fs::read_to_string(&logs).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "{not json\n");
    std::fs::write(&logs, text).unwrap();
    let err = export::read_dir(dir.path()).unwrap_err();
    assert!(err.to_string().contains("incomplete export"), "{err}");
    // Exported that way (its trailer matches): only that run is a problem.
    export::write_manifest(dir.path()).unwrap();
    let (bundles, problems) = export::read_dir(dir.path()).unwrap();
    assert_eq!(bundles.len(), 2);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, logs);
    assert_eq!(problems[0].line, Some(2));
    assert!(
        problems[0].to_string().contains("logs.ndjson:2:"),
        "{}",
        problems[0]
    );

    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"format":"other","version":1,"runs":0}"#,
    )
    .unwrap();
    assert!(
        export::read_dir(dir.path()).is_err(),
        "a foreign manifest is refused"
    );
}

#[tokio::test]
async fn an_unreadable_run_is_left_out_and_named_and_the_rest_is_exported() {
    let source = berth::open("memory://").await.unwrap();
    sample(&source).await;
    // Damage one log entry of one run in place, under the generic layout's collections.
    let damaged = source
        .records()
        .scan("pack_run_logs:plain", &berth::Scan::default())
        .await;
    let Ok(page) = damaged else {
        panic!("the generic layout changed: {damaged:?}")
    };
    assert!(!page.is_empty(), "the generic layout changed");
    let mut batch = berth::Batch::new();
    batch.put(
        "pack_run_logs:plain",
        &page[0].key,
        json!({"not": "a log entry"}),
    );
    source.commit(batch).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let err = export::export_store(&source, dir.path()).await.unwrap_err();
    let export::ExportError::Unreadable { counts, unreadable } = &err else {
        panic!("{err}")
    };
    assert_eq!(counts.runs, 2);
    assert_eq!(unreadable.len(), 1);
    assert_eq!(unreadable[0].run_id, "plain");
    assert!(err.to_string().contains("plain"), "{err}");
    // What was written is a complete export of the readable runs.
    let (bundles, problems) = export::read_dir(dir.path()).unwrap();
    assert!(problems.is_empty());
    assert_eq!(bundles.len(), 2);
}
