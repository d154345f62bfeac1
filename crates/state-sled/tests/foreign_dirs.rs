//! Directories that are not berth's sled database are refused and left byte-for-byte alone.

use berth_core::{ErrorKind, OpenOptions};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every file and directory under `root` with its bytes (directories: `None`).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Opens `path`, expects `Corrupt`, and checks nothing under `path` changed.
async fn refused_untouched(path: &Path) -> String {
    let root = if path.is_dir() {
        path
    } else {
        path.parent().unwrap()
    };
    let before = snapshot(root);
    let err = berth_state_sled::open(path, OpenOptions::default())
        .await
        .expect_err("must be refused");
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(before == snapshot(root), "{} was modified", path.display());
    err.to_string()
}

/// A berth database with some data, closed again.
async fn berth_db(path: &Path) {
    let store = berth_state_sled::open(path, OpenOptions::default())
        .await
        .unwrap();
    let mut batch = berth_core::Batch::new();
    for i in 0..200 {
        batch.put("c", &format!("k{i}"), serde_json::json!({"i": i}));
    }
    store.commit(batch).await.unwrap();
}

#[tokio::test]
async fn directory_with_other_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"my notes").unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let msg = refused_untouched(dir.path()).await;
    assert!(msg.contains("not a sled database"), "{msg}");
}

#[tokio::test]
async fn a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    fs::write(&file, b"not a directory").unwrap();
    refused_untouched(&file).await;
}

#[tokio::test]
async fn corrupt_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    berth_db(dir.path()).await;
    let conf = dir.path().join("conf");
    let mut bytes = fs::read(&conf).unwrap();
    bytes[5] ^= 0x20;
    fs::write(&conf, &bytes).unwrap();
    refused_untouched(dir.path()).await;
    // Truncated below sled's own "rewrite it" threshold.
    fs::write(&conf, &bytes[..6]).unwrap();
    refused_untouched(dir.path()).await;
}

#[tokio::test]
async fn missing_sled_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    berth_db(dir.path()).await;
    fs::remove_dir_all(dir.path().join("blobs")).unwrap();
    refused_untouched(dir.path()).await;
}

#[tokio::test]
async fn garbled_data_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    berth_db(dir.path()).await;
    let data = dir.path().join("db");
    let mut bytes = fs::read(&data).unwrap();
    bytes[..4096].fill(0x55);
    fs::write(&data, &bytes).unwrap();
    refused_untouched(dir.path()).await;
}

#[tokio::test]
async fn sled_database_of_someone_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"theirs", b"value").unwrap();
        db.flush().unwrap();
    }
    let msg = refused_untouched(dir.path()).await;
    assert!(msg.contains("not one created by berth"), "{msg}");
}

#[tokio::test]
async fn empty_directory_becomes_a_database() {
    let dir = tempfile::tempdir().unwrap();
    berth_db(dir.path()).await;
    let store = berth_state_sled::open(dir.path(), OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(store.records().count("c", "").await.unwrap(), 200);
}
