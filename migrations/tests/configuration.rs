//! Configuration from a config file in seed 002's shape, overridden by environment and flags;
//! a missing connection string is a usage error (exit 2).

mod common;

use common::{uri, write, TestDb};

#[tokio::test]
async fn the_seed_config_file_names_database_and_collections() {
    let db = TestDb::new("cfg");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appsettings.json");
    let config = serde_json::json!({"TaskRunner": {"Storage": {"Mode": "filesystem", "Mongo": {
        "ConnectionString": uri(),
        "Database": "ignored_by_the_flag",
        "RunsCollection": "tr_runs",
        "LogsCollection": "tr_logs",
        "ArtifactsCollection": "tr_artifacts",
        "ApprovalsCollection": "tr_approvals",
    }}}});
    write(&file, &config.to_string());
    let mut up = db.command(&["--config", file.to_str().unwrap(), "up"]);
    up.env_remove("BERTH_MONGODB_URI")
        .env("BERTH_MONGODB_LOGS_COLLECTION", "env_logs");
    let out = up.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let names = db.collections().await;
    for name in ["tr_runs", "env_logs", "tr_artifacts", "tr_approvals"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(!names.iter().any(|n| n == "pack_runs"), "{names:?}");

    let mut verify = db.command(&["--config", file.to_str().unwrap(), "verify"]);
    verify.env("BERTH_MONGODB_LOGS_COLLECTION", "env_logs");
    assert!(verify.status().unwrap().success());
    let mut verify = db.command(&["--config", file.to_str().unwrap(), "verify"]);
    verify.env_remove("BERTH_MONGODB_LOGS_COLLECTION");
    assert_eq!(
        verify.status().unwrap().code(),
        Some(5),
        "tr_logs was never made"
    );
}

#[test]
fn a_missing_connection_string_is_a_usage_error() {
    let db = TestDb::new("nouri");
    let mut c = db.command(&["status"]);
    c.env_remove("BERTH_MONGODB_URI");
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("BERTH_MONGODB_URI"), "{err}");
}

#[test]
fn the_password_of_a_failing_connection_never_shows_even_at_trace() {
    let secret = "hunter2-s3cret";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("appsettings.json");
    let config = serde_json::json!({"TaskRunner": {"Storage": {"Mongo": {
        "ConnectionString": format!("mongodb://ops:{secret}@127.0.0.1:1/x?serverSelectionTimeoutMS=300"),
    }}}});
    write(&file, &config.to_string());
    let uri = format!("mongodb://ops:{secret}@127.0.0.1:1/x?serverSelectionTimeoutMS=300");
    let bad_option =
        format!("mongodb://ops:{secret}@127.0.0.1:1/x?serverSelectionTimeoutMs=300&bogusOption=1");
    let cases: Vec<Vec<String>> = vec![
        vec!["-vv".into(), "--uri".into(), uri.clone(), "status".into()],
        vec![
            "-vv".into(),
            "--json".into(),
            "--uri".into(),
            uri,
            "status".into(),
        ],
        vec!["-vv".into(), "--uri".into(), bad_option, "status".into()],
        vec![
            "-vv".into(),
            "--config".into(),
            file.display().to_string(),
            "up".into(),
        ],
    ];
    for args in cases {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth-migrate"))
            .args(&args)
            .env_remove("BERTH_MONGODB_URI")
            .env("BERTH_LOG", "trace")
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{args:?}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("127.0.0.1") || stdout.contains("127.0.0.1"),
            "{stderr}"
        );
    }
}
