//! Files berth must refuse: each case gives its error kind and leaves the file untouched.

use berth_core::{Batch, ErrorKind, OpenOptions};
use serde_json::json;
use std::path::{Path, PathBuf};

async fn berth_file(dir: &Path) -> PathBuf {
    let path = dir.join("berth.db");
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let mut b = Batch::new();
    for i in 0..200 {
        b.put(
            "c",
            &format!("k{i:04}"),
            json!({"i": i, "pad": "y".repeat(200)}),
        );
    }
    store.commit(b).await.unwrap();
    drop(store);
    assert!(
        !wal_of(&path).exists(),
        "closing checkpoints and removes the WAL"
    );
    path
}

fn wal_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// Opens `path` and returns the error kind, checking the file is byte-for-byte unchanged.
async fn refused(path: &Path) -> (ErrorKind, String) {
    let before = std::fs::read(path).ok();
    let err = berth_state_sqlite::open(path, OpenOptions::default())
        .await
        .expect_err("the file must be refused");
    assert_eq!(
        std::fs::read(path).ok(),
        before,
        "the refused file was modified"
    );
    (err.kind(), err.to_string())
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the pages you are looking for\n".repeat(200),
    )
    .unwrap();
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::Corrupt, "{message}");
}

#[tokio::test]
async fn a_damaged_berth_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = berth_file(dir.path()).await;
    // Scribble over the first page's b-tree (the schema) after the 100-byte file header.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[100..1500] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::Corrupt, "{message}");
}

#[tokio::test]
async fn a_truncated_berth_file_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = berth_file(dir.path()).await;
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..60]).unwrap();
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::Corrupt, "{message}");
}

#[tokio::test]
async fn a_newer_schema_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let path = berth_file(dir.path()).await;
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::Unsupported, "{message}");
    assert!(message.contains("99"), "{message}");
}

#[tokio::test]
async fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);")
            .unwrap();
    }
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::Corrupt, "{message}");
    assert!(message.contains("not a berth"), "{message}");
}

#[tokio::test]
async fn a_read_only_file_is_invalid_input() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = berth_file(dir.path()).await;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let (kind, message) = refused(&path).await;
    assert_eq!(kind, ErrorKind::InvalidInput, "{message}");
}

#[tokio::test]
async fn a_directory_or_unreachable_path_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let err = berth_state_sqlite::open(dir.path(), OpenOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let missing = dir.path().join("no-such-dir").join("berth.db");
    let err = berth_state_sqlite::open(&missing, OpenOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!missing.exists());
}

#[tokio::test]
async fn a_good_file_still_opens_after_the_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let path = berth_file(dir.path()).await;
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(store.records().count("c", "k").await.unwrap(), 200);
}
