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
