//! `import --from DIR` of a sample export (one folder per run) with one malformed file: the
//! file and line are named, the other runs are imported, the exit code is 6; importing again
//! changes nothing; once the file is fixed, everything is in.

mod common;

use berth_core::packrun::export::{self, Manifest, RunBundle};
use berth_core::packrun::*;
use berth_core::Timestamp;
use common::TestDb;
use mongodb::bson::{doc, Document};
use std::collections::BTreeMap;
use std::path::Path;

const T: i64 = 1_735_689_600_000;

fn bundle(id: &str, logs: u64) -> RunBundle {
    let mut run = PackRun::new(
        id,
        "sha256:abc",
        serde_json::json!({"steps": [{"id": "build"}]}),
    );
    run.requested_at = Timestamp::from_millis(T);
    run.created_at = Timestamp::from_millis(T + 1);
    run.updated_at = Timestamp::from_millis(T + 2);
    run.status = RunStatus::Succeeded;
    run.steps = vec![StepState {
        step_id: "build".into(),
        status: StepStatus::Succeeded,
        attempts: 1,
        next_attempt_at: None,
        last_error: None,
    }];
    let logs = (1..=logs)
        .map(|sequence| LogEntry {
            run_id: id.into(),
            sequence,
            timestamp: Timestamp::from_millis(T + sequence as i64),
            level: LogLevel::Info,
            event_type: "step.output".into(),
            message: format!("line {sequence}"),
            step_id: Some("build".into()),
            metadata: BTreeMap::from([("stream".into(), "stdout".into())]),
        })
        .collect();
    let artifacts = vec![Artifact {
        run_id: id.into(),
        name: "report".into(),
        kind: "file".into(),
        source_path: Some("out/report.txt".into()),
        stored_path: None,
        status: ArtifactStatus::Copied,
        notes: None,
        captured_at: Timestamp::from_millis(T + 50),
    }];
    let mut gate = Approval::pending(id, "deploy", 1);
    gate.requested_at = Timestamp::from_millis(T + 3);
    RunBundle {
        run,
        logs,
        artifacts,
        approvals: vec![gate],
    }
}

fn write_export(dir: &Path, bundles: &[RunBundle]) {
    for b in bundles {
        export::write_bundle(dir, b).unwrap();
    }
    let manifest: Manifest = export::write_manifest(dir).unwrap();
    assert_eq!(manifest.runs, bundles.len() as u64);
}

async fn count(db: &TestDb, collection: &str) -> u64 {
    db.driver()
        .await
        .collection::<Document>(collection)
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test]
async fn import_names_the_malformed_file_and_line_and_imports_the_rest() {
    let db = TestDb::new("import");
    let dir = tempfile::tempdir().unwrap();
    let bundles = [bundle("run-a", 120), bundle("run.b", 3), bundle("run-c", 7)];
    write_export(dir.path(), &bundles);
    let from = dir.path().to_str().unwrap().to_owned();

    // Not migrated yet: import says what to run first.
    let early = db.run(&["import", "--from", &from]);
    assert_eq!(early.code, 1, "{early:?}");
    assert!(early.stderr.contains("berth-migrate up"), "{early:?}");
    assert_eq!(db.run(&["up"]).code, 0);

    let bad = dir.path().join("runs").join("run-c").join("logs.ndjson");
    let text = std::fs::read_to_string(&bad).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = r#"{"runId": "run-c", "sequence": "two""#;
    std::fs::write(&bad, lines.join("\n")).unwrap();
    // Changed after export: the trailer no longer matches, and nothing is imported.
    let altered = db.run(&["import", "--from", &from]);
    assert_ne!(altered.code, 0, "{altered:?}");
    assert!(
        altered.stderr.contains("nothing was imported"),
        "{altered:?}"
    );
    assert_eq!(count(&db, "pack_runs").await, 0);
    assert_eq!(count(&db, "pack_run_logs").await, 0);
    // Exported that way (the trailer matches): that run folder is skipped whole.
    export::write_manifest(dir.path()).unwrap();

    let first = db.run(&["import", "--from", &from]);
    assert_eq!(first.code, 6, "{first:?}");
    let named = format!("{}:2:", bad.display());
    assert!(
        first.stdout.contains(&named),
        "names file and line: {first:?}"
    );
    assert!(first.stderr.contains(&named), "{first:?}");
    assert!(first.stdout.contains("imported 2 of 3 runs"), "{first:?}");
    assert!(
        first.stderr.contains("import 3/3 runs"),
        "plain progress lines: {first:?}"
    );
    assert_eq!(count(&db, "pack_runs").await, 2);
    assert_eq!(count(&db, "pack_run_logs").await, 123);
    assert_eq!(count(&db, "pack_artifacts").await, 2);
    assert_eq!(count(&db, "pack_run_approvals").await, 2);

    // Idempotent: a second import writes no new log entry and duplicates nothing.
    let (code, again) = db.json(&["import", "--from", &from]);
    assert_eq!(code, 6, "{again}");
    assert_eq!(again["imported"]["runs"], 2);
    assert_eq!(again["imported"]["logs"], 0, "{again}");
    assert_eq!(again["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(count(&db, "pack_runs").await, 2);
    assert_eq!(count(&db, "pack_run_logs").await, 123);

    // Fixed, everything is in, exactly as exported.
    std::fs::write(&bad, text).unwrap();
    export::write_manifest(dir.path()).unwrap();
    let (code, fixed) = db.json(&["import", "--from", &from]);
    assert_eq!(code, 0, "{fixed}");
    assert_eq!(fixed["imported"]["runs"], 3);
    assert_eq!(fixed["imported"]["logs"], 7, "only run-c's entries are new");
    assert_eq!(count(&db, "pack_run_logs").await, 130);
    let run = db
        .driver()
        .await
        .collection::<Document>("pack_runs")
        .find_one(doc! {"_id": "run.b"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        run.get_datetime("createdAt").unwrap().timestamp_millis(),
        T + 1
    );
    assert_eq!(run.get_str("status").unwrap(), "succeeded");
}

#[tokio::test]
async fn a_directory_without_a_manifest_is_refused_naming_the_file() {
    let db = TestDb::new("nomanifest");
    assert_eq!(db.run(&["up"]).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let out = db.run(&["import", "--from", dir.path().to_str().unwrap()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("manifest.json"), "{out:?}");
}
