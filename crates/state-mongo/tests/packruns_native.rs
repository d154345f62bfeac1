//! Pack runs on seed 002's collections: document shapes, indexes, server-side uniqueness,
//! configurable names and the database fallback to the connection string.

mod common;

use berth_core::packrun::*;
use berth_core::{OpenOptions, Timestamp};
use berth_state_mongo::schema::{indexes, CollectionNames, Role};
use berth_state_mongo::{LeaseClock, MongoConfig};
use common::{unique_name, uri, TestDb};
use mongodb::bson::{doc, Bson, Document};
use serde_json::json;
use std::collections::BTreeMap;

const T: Timestamp = Timestamp::from_millis(1_735_689_600_000);

fn run(id: &str) -> PackRun {
    let mut r = PackRun::new(
        id,
        "sha256:abc",
        json!({"steps": [{"id": "build", "n": 1}]}),
    );
    r.requested_at = T;
    r.tenant_id = Some("t1".into());
    r.steps = vec![StepState {
        step_id: "build".into(),
        status: StepStatus::Failed,
        attempts: 1,
        next_attempt_at: Some(T),
        last_error: Some("exit 1".into()),
    }];
    r
}

fn entry(run: &str, seq: u64) -> LogEntry {
    let mut metadata = BTreeMap::new();
    metadata.insert("stream".to_owned(), "stdout".to_owned());
    LogEntry {
        run_id: run.into(),
        sequence: seq,
        timestamp: T,
        level: LogLevel::Warn,
        event_type: "step.output".into(),
        message: "hello".into(),
        step_id: Some("build".into()),
        metadata,
    }
}

fn artifact(run: &str, name: &str) -> Artifact {
    Artifact {
        run_id: run.into(),
        name: name.into(),
        kind: "file".into(),
        source_path: Some("out/a.txt".into()),
        stored_path: None,
        status: ArtifactStatus::Copied,
        notes: None,
        captured_at: T,
    }
}

fn is_date(d: &Document, field: &str) -> bool {
    matches!(d.get(field), Some(Bson::DateTime(_)))
}

#[tokio::test]
async fn documents_have_the_seed_shapes() {
    let db = TestDb::new("shape");
    let store = db
        .open(LeaseClock::Server, OpenOptions::default())
        .await
        .unwrap();
    store.runs().create(run("r1")).await.unwrap();
    store.logs().append(&[entry("r1", 7)]).await.unwrap();
    store
        .artifacts()
        .record(artifact("r1", "report"))
        .await
        .unwrap();
    let mut gate = Approval::pending("r1", "release", 1);
    gate.required_grants = vec!["deploy".into()];
    store.approvals().create(gate).await.unwrap();
    store
        .approvals()
        .decide(
            "r1",
            "release",
            DecisionRequest {
                actor: "ann".into(),
                grants: vec!["deploy".into()],
                decision: Decision::Approve,
                reason: None,
            },
        )
        .await
        .unwrap();

    let d = db.driver().await;
    let r = d
        .collection::<Document>("pack_runs")
        .find_one(doc! {"_id": "r1"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.get_str("planHash").unwrap(), "sha256:abc");
    assert!(r.get_document("plan").is_ok() && r.get_document("failurePolicy").is_ok());
    for f in ["requestedAt", "createdAt", "updatedAt"] {
        assert!(is_date(&r, f), "pack_runs.{f} is a BSON date");
    }
    assert_eq!(r.get_str("tenantId").unwrap(), "t1");
    assert!(r.get("id").is_none(), "the run id is the _id");
    let step = r.get_array("steps").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(step.get_str("stepId").unwrap(), "build");
    assert_eq!(step.get_str("status").unwrap(), "failed");
    assert!(is_date(&step, "nextAttemptAt"));

    let l = d
        .collection::<Document>("pack_run_logs")
        .find_one(doc! {"runId": "r1"})
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(l.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(
        l.get("sequence"),
        Some(&Bson::Int64(7)),
        "sequence is a long"
    );
    assert!(is_date(&l, "timestamp"));
    assert_eq!(
        (l.get_str("level").unwrap(), l.get_str("eventType").unwrap()),
        ("warn", "step.output")
    );
    assert_eq!(l.get_str("stepId").unwrap(), "build");
    assert_eq!(
        l.get_document("metadata")
            .unwrap()
            .get_str("stream")
            .unwrap(),
        "stdout"
    );

    let a = d
        .collection::<Document>("pack_artifacts")
        .find_one(doc! {"runId": "r1"})
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(a.get("_id"), Some(Bson::ObjectId(_))));
    assert_eq!(
        (a.get_str("name").unwrap(), a.get_str("type").unwrap()),
        ("report", "file")
    );
    assert_eq!(a.get_str("status").unwrap(), "copied");
    assert_eq!(a.get_str("sourcePath").unwrap(), "out/a.txt");
    assert_eq!(a.get("storedPath"), Some(&Bson::Null));
    assert!(is_date(&a, "capturedAt"));

    let g = d
        .collection::<Document>("pack_run_approvals")
        .find_one(doc! {"runId": "r1"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.get_str("approvalId").unwrap(), "release");
    assert_eq!(g.get_str("status").unwrap(), "approved");
    assert!(is_date(&g, "requestedAt") && is_date(&g, "decidedAt"));
    let decision = g.get_array("decisions").unwrap()[0]
        .as_document()
        .unwrap()
        .clone();
    assert_eq!(decision.get_str("actor").unwrap(), "ann");
    assert!(is_date(&decision, "decidedAt"));

    // And everything reads back as written.
    assert_eq!(
        store.logs().read("r1", None, 10).await.unwrap(),
        vec![entry("r1", 7)]
    );
    assert_eq!(
        store.artifacts().get("r1", "report").await.unwrap(),
        Some(artifact("r1", "report"))
    );
    let back = store.runs().get("r1").await.unwrap().unwrap();
    assert_eq!(back.steps[0].next_attempt_at, Some(T));
    assert_eq!(back.plan, json!({"steps": [{"id": "build", "n": 1}]}));
}

#[tokio::test]
async fn indexes_follow_the_seed_and_the_server_refuses_duplicates() {
    let db = TestDb::new("idx");
    let _store = db
        .open(LeaseClock::Server, OpenOptions::default())
        .await
        .unwrap();
    let d = db.driver().await;
    let names = CollectionNames::default();
    for def in indexes() {
        let specs = d
            .collection::<Document>(def.role.name(&names))
            .list_indexes()
            .await
            .unwrap();
        let mut specs = specs;
        let mut found = None;
        while specs.advance().await.unwrap() {
            let model = specs.deserialize_current().unwrap();
            if model.keys == def.keys {
                found = Some(model);
            }
        }
        let model =
            found.unwrap_or_else(|| panic!("index {} on {:?} is missing", def.name, def.role));
        let unique = model
            .options
            .as_ref()
            .and_then(|o| o.unique)
            .unwrap_or(false);
        assert_eq!(unique, def.unique, "uniqueness of {}", def.name);
    }
    let seed: Vec<(Role, Document, bool)> = vec![
        (Role::Runs, doc! {"updatedAt": -1}, false),
        (Role::Runs, doc! {"tenantId": 1, "updatedAt": -1}, false),
        (Role::Logs, doc! {"runId": 1, "sequence": 1}, true),
        (Role::Logs, doc! {"runId": 1, "timestamp": 1}, false),
        (Role::Logs, doc! {"timestamp": 1}, false),
        (Role::Artifacts, doc! {"runId": 1, "name": 1}, true),
        (Role::Artifacts, doc! {"runId": 1}, false),
    ];
    for (role, keys, unique) in seed {
        assert!(
            indexes()
                .iter()
                .any(|i| i.role == role && i.keys == keys && i.unique == unique),
            "seed 002 index {keys} on {role:?}"
        );
    }

    // The server itself refuses a second (runId, sequence) and a second (runId, name).
    let logs = d.collection::<Document>("pack_run_logs");
    let log = doc! {"runId": "r1", "sequence": 1_i64, "timestamp": mongodb::bson::DateTime::now(), "level": "info", "eventType": "e", "message": "m"};
    logs.insert_one(log.clone()).await.unwrap();
    let err = logs.insert_one(log).await.unwrap_err();
    assert!(err.to_string().contains("E11000"), "{err}");
    let arts = d.collection::<Document>("pack_artifacts");
    let art = doc! {"runId": "r1", "name": "a", "type": "file", "status": "pending", "capturedAt": mongodb::bson::DateTime::now()};
    arts.insert_one(art.clone()).await.unwrap();
    let err = arts.insert_one(art).await.unwrap_err();
    assert!(err.to_string().contains("E11000"), "{err}");
    // The log store turns a different entry under a used sequence into a conflict.
    let mut other = entry("r1", 1);
    other.message = "different".into();
    assert_eq!(
        _store.logs().append(&[other]).await.unwrap_err().kind(),
        berth_core::ErrorKind::Conflict
    );
}

#[tokio::test]
async fn collection_names_and_database_come_from_the_seed_configuration() {
    let name = unique_name("cfg");
    let db = TestDb { name: name.clone() };
    // The seed's configuration section, without Database: it falls back to the URI's.
    let base = uri();
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h.to_owned(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let connection = format!("{}/{name}{query}", head.trim_end_matches('/'));
    let mut config: MongoConfig = serde_json::from_value(json!({
        "ConnectionString": connection,
        "RunsCollection": "tr_runs",
        "LogsCollection": "tr_logs",
        "ArtifactsCollection": "tr_artifacts",
        "ApprovalsCollection": "tr_approvals"
    }))
    .unwrap();
    config.auto_migrate = true;
    let store = berth_state_mongo::open(config, OpenOptions::default())
        .await
        .unwrap();
    store.runs().create(run("r1")).await.unwrap();
    store.logs().append(&[entry("r1", 1)]).await.unwrap();
    let d = db.driver().await;
    assert_eq!(
        d.collection::<Document>("tr_runs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        d.collection::<Document>("tr_logs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        d.collection::<Document>("pack_runs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        0
    );
    let collections = d.list_collection_names().await.unwrap();
    for c in [
        "tr_artifacts",
        "tr_approvals",
        "berth_records",
        "berth_leases",
    ] {
        assert!(
            collections.iter().any(|x| x == c),
            "{c} created in {collections:?}"
        );
    }
}
