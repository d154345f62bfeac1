//! `berth::open` picks backends by URL and fails clearly otherwise.

use berth::ErrorKind;

#[tokio::test]
async fn memory_url_opens_a_working_store() {
    let store = berth::open("memory://").await.unwrap();
    assert_eq!(store.backend(), "memory");
    let mut batch = berth::Batch::new();
    batch.put("c", "k", serde_json::json!(1));
    store.commit(batch).await.unwrap();
    assert_eq!(
        store
            .records()
            .get("c", "k")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

#[tokio::test]
async fn unknown_scheme_and_malformed_url_are_invalid_input() {
    for url in ["redis://localhost", "no-scheme-here", "sqlite:"] {
        let err = berth::open(url).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{url}: {err}");
        assert!(err.to_string().contains("url"), "{err}");
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_url_persists_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("berth.db").display());
    {
        let store = berth::open(&url).await.unwrap();
        assert_eq!(store.backend(), "sqlite");
        let mut batch = berth::Batch::new();
        batch.put("c", "k", serde_json::json!("kept"));
        store.commit(batch).await.unwrap();
    }
    let store = berth::open(&url).await.unwrap();
    let got = store.records().get("c", "k").await.unwrap().unwrap();
    assert_eq!(got.value, serde_json::json!("kept"));
    let private = berth::open("sqlite::memory:").await.unwrap();
    assert!(private.records().get("c", "k").await.unwrap().is_none());
}

#[cfg(feature = "sled")]
#[tokio::test]
async fn sled_url_opens_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sled:{}", dir.path().join("db").display());
    let store = berth::open(&url).await.unwrap();
    assert_eq!(store.backend(), "sled");
    let mut batch = berth::Batch::new();
    batch.put("c", "k", serde_json::json!(1));
    store.commit(batch).await.unwrap();
    assert_eq!(store.records().count("c", "").await.unwrap(), 1);
}

#[cfg(feature = "mongo")]
#[tokio::test]
async fn mongodb_url_reaches_the_server_and_asks_for_the_migration() {
    let Ok(uri) = std::env::var("BERTH_TEST_MONGODB_URI") else {
        panic!(
            "BERTH_TEST_MONGODB_URI is not set: run ./scripts/test.sh, which starts a test server"
        );
    };
    // A database nobody migrated: opening must refuse and name the command to run.
    let db = format!("berth_facade_{}", std::process::id());
    let (base, query) = uri.split_once('?').unwrap_or((&uri, ""));
    let url = format!("{}/{db}?{query}", base.trim_end_matches('/'));
    let err = berth::open(&url).await.unwrap_err();
    assert!(err.to_string().contains("berth-migrate"), "{err}");
}
