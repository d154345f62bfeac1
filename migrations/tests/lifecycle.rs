//! Fresh database → `up` → `status` → `verify`; a second `up` changes nothing; `--dry-run`
//! prints every command and sends none.

mod common;

use common::TestDb;

#[tokio::test]
async fn fresh_database_up_status_verify_then_up_again_is_a_no_op() {
    let db = TestDb::new("life");

    let (code, status) = db.json(&["status"]);
    assert_eq!(code, 5, "pending migrations: exit 5 ({status})");
    assert_eq!(status["pending"], 1);
    assert_eq!(status["migrations"][0]["state"], "pending");

    let (code, dry) = db.json(&["up", "--dry-run"]);
    assert_eq!(code, 0, "{dry}");
    let planned = dry["commands"].as_array().unwrap().len();
    assert!(db.collections().await.is_empty(), "a dry run sends nothing");
    let human = db.run(&["up", "--dry-run"]);
    assert_eq!(human.code, 0);
    assert_eq!(human.stdout.matches("db.runCommand(").count(), planned);
    assert!(
        human.stdout.contains(r#""createIndexes":"pack_run_logs""#),
        "{}",
        human.stdout
    );

    let up = db.run(&["up"]);
    assert_eq!(up.code, 0, "{up:?}");
    assert!(
        up.stdout
            .contains("record migration 20251106-task-runner-baseline"),
        "{up:?}"
    );
    let collections = db.collections().await;
    for name in [
        "pack_runs",
        "pack_run_logs",
        "pack_artifacts",
        "pack_run_approvals",
    ] {
        assert!(
            collections.iter().any(|c| c == name),
            "{name} in {collections:?}"
        );
    }
    let records = db.records().await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(
        record.get_str("_id").unwrap(),
        "20251106-task-runner-baseline"
    );
    assert!(record.get_str("checksum").unwrap().starts_with("fnv1a128:"));
    assert!(record.get_datetime("appliedAt").is_ok());
    assert!(record.get_i64("durationMs").is_ok());
    // The dry run announced exactly what `up` sent: its commands plus the record.
    let (code, again_dry) = db.json(&["up", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(again_dry["commands"].as_array().unwrap().len(), 0);

    let (code, status) = db.json(&["status"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["migrations"][0]["state"], "applied");
    assert_eq!(status["applied"], 1);
    let (code, verify) = db.json(&["verify"]);
    assert_eq!(code, 0, "{verify}");
    assert_eq!(verify["ok"], true);

    let again = db.run(&["up"]);
    assert_eq!(again.code, 0);
    assert!(again.stdout.contains("nothing changed"), "{again:?}");
    let (code, again) = db.json(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(again["changed"], false);
    assert_eq!(db.records().await.len(), 1);
}

#[tokio::test]
async fn log_retention_is_a_ttl_set_changed_and_removed_in_place() {
    let db = TestDb::new("ttl");
    assert_eq!(db.run(&["up", "--log-retention-days", "30"]).code, 0);
    let ttl = |expected: Option<i64>| {
        let db = &db;
        async move {
            let d = db.driver().await;
            let mut cursor = d
                .collection::<mongodb::bson::Document>("pack_run_logs")
                .list_indexes()
                .await
                .unwrap();
            while cursor.advance().await.unwrap() {
                let m = cursor.deserialize_current().unwrap();
                let o = m.options.unwrap_or_default();
                if o.name.as_deref() == Some("timestamp_1") {
                    assert_eq!(o.expire_after.map(|e| e.as_secs() as i64), expected);
                    return;
                }
            }
            panic!("timestamp_1 missing");
        }
    };
    ttl(Some(30 * 86_400)).await;
    assert_eq!(db.run(&["verify", "--log-retention-days", "30"]).code, 0);
    let wrong = db.run(&["verify", "--log-retention-days", "7"]);
    assert_eq!(wrong.code, 5, "{wrong:?}");
    assert!(wrong.stdout.contains("TTL"), "{wrong:?}");
    // Without the flag the TTL stays.
    assert!(db.run(&["up"]).stdout.contains("nothing changed"));
    ttl(Some(30 * 86_400)).await;
    assert_eq!(db.run(&["up", "--log-retention-days", "7"]).code, 0);
    ttl(Some(7 * 86_400)).await;
    assert_eq!(db.run(&["up", "--log-retention-days", "0"]).code, 0);
    ttl(None).await;
    assert_eq!(db.run(&["verify", "--log-retention-days", "0"]).code, 0);
}
