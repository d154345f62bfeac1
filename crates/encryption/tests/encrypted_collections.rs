//! Encrypted collections: round trip, key rotation with re-encryption, typed errors for a
//! missing or wrong key, location binding, plain text left over, and pass-through of other
//! collections.

use berth_core::{Batch, Collection, ErrorKind, OpenOptions, Scan, Store};
use berth_encryption::{Collections, EncryptedRecords, EncryptionError, Keyring, MARKER};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ApiKey {
    token: String,
}

const K1: [u8; 32] = [1; 32];
const K2: [u8; 32] = [2; 32];

fn wrap(raw: &Store, keyring: Keyring) -> Store {
    EncryptedRecords::wrap_store(raw, keyring, Collections::matching(["api-keys:*"]))
}

fn keys(store: &Store) -> Collection<ApiKey> {
    store.collection("api-keys:p").unwrap()
}

async fn put(store: &Store, id: &str, token: &str) {
    keys(store)
        .put(
            id,
            &ApiKey {
                token: token.into(),
            },
        )
        .await
        .unwrap();
}

async fn raw_values(raw: &Store, collection: &str) -> Vec<Value> {
    raw.records()
        .scan(collection, &Scan::all())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.value)
        .collect()
}

fn encryption_error(e: &berth_core::Error) -> EncryptionError {
    assert_eq!(e.kind(), ErrorKind::Backend);
    assert!(!e.is_retryable());
    EncryptionError::of(e)
        .unwrap_or_else(|| panic!("not an encryption error: {e}"))
        .clone()
}

#[tokio::test]
async fn round_trip_stores_only_envelopes() {
    let raw = berth_state_memory::open(OpenOptions::default());
    let store = wrap(&raw, Keyring::new("k1", K1));
    put(&store, "a", "tok-aaaa").await;
    put(&store, "b", "tok-bbbb").await;
    assert_eq!(
        keys(&store).get("a").await.unwrap().unwrap().value.token,
        "tok-aaaa"
    );
    let many = keys(&store)
        .get_many(&["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(keys(&store).all().await.unwrap()[1].value.token, "tok-bbbb");
    assert_eq!(keys(&store).count().await.unwrap(), 2);
    for v in raw_values(&raw, "api-keys:p").await {
        assert_eq!(v[MARKER], 1);
        assert_eq!(v["kid"], "k1");
        assert!(!v.to_string().contains("tok-"), "plaintext stored: {v}");
    }
    // Two puts of the same value give different ciphertexts (fresh nonces).
    put(&store, "c", "tok-aaaa").await;
    let raw_a = raw
        .records()
        .get("api-keys:p", "a")
        .await
        .unwrap()
        .unwrap()
        .value;
    let raw_c = raw
        .records()
        .get("api-keys:p", "c")
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_ne!(raw_a["ciphertext"], raw_c["ciphertext"]);
}

#[tokio::test]
async fn other_collections_pass_through() {
    let raw = berth_state_memory::open(OpenOptions::default());
    let store = wrap(&raw, Keyring::new("k1", K1));
    let mut batch = Batch::new();
    batch.put("workers:p", "w", json!({"image": "x"}));
    store.commit(batch).await.unwrap();
    assert_eq!(
        raw_values(&raw, "workers:p").await,
        vec![json!({"image": "x"})]
    );
}

#[tokio::test]
async fn rotation_then_reencrypt_moves_every_value_to_the_new_key() {
    let raw = berth_state_memory::open(OpenOptions::default());
    let old = wrap(&raw, Keyring::new("k1", K1));
    for i in 0..300 {
        put(&old, &format!("key-{i:03}"), &format!("tok-{i}")).await;
    }
    let both = Keyring::new("k1", K1)
        .with_key("k2", K2)
        .activate("k2")
        .unwrap();
    let rotating = EncryptedRecords::new(
        raw.records().clone(),
        both.clone(),
        Collections::matching(["api-keys:*"]),
    );
    let rotated = wrap(&raw, both);
    // Old values still open; new ones are sealed with k2.
    assert_eq!(
        keys(&rotated)
            .get("key-007")
            .await
            .unwrap()
            .unwrap()
            .value
            .token,
        "tok-7"
    );
    put(&rotated, "key-new", "tok-new").await;

    let report = rotating.reencrypt("api-keys:p").await.unwrap();
    assert_eq!((report.rewritten, report.current), (300, 1));
    assert!(raw_values(&raw, "api-keys:p")
        .await
        .iter()
        .all(|v| v["kid"] == "k2"));
    let again = rotating.reencrypt("api-keys:p").await.unwrap();
    assert_eq!((again.rewritten, again.current), (0, 301));
    let record = raw
        .records()
        .get("api-keys:p", "key-007")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.version, 2, "a rewrite is a put");

    // Only k2 is needed now; k1 alone cannot open anything.
    let only_new = wrap(&raw, Keyring::new("k2", K2));
    assert_eq!(keys(&only_new).all().await.unwrap().len(), 301);
    let only_old = wrap(&raw, Keyring::new("k1", K1));
    let err = keys(&only_old).get("key-007").await.unwrap_err();
    assert!(matches!(
        encryption_error(&err),
        EncryptionError::MissingKey { kid, key, .. } if kid == "k2" && key == "key-007"
    ));
}

#[tokio::test]
async fn a_wrong_key_is_a_typed_error() {
    let raw = berth_state_memory::open(OpenOptions::default());
    put(&wrap(&raw, Keyring::new("k1", K1)), "a", "tok-a").await;
    let wrong = wrap(&raw, Keyring::new("k1", K2));
    let err = keys(&wrong).get("a").await.unwrap_err();
    assert!(matches!(encryption_error(&err), EncryptionError::WrongKey { kid, .. } if kid == "k1"));
    assert!(!err.to_string().contains("tok-a"));
    let err = keys(&wrong).all().await.unwrap_err();
    assert!(matches!(
        encryption_error(&err),
        EncryptionError::WrongKey { .. }
    ));
}

#[tokio::test]
async fn a_value_moved_to_another_key_does_not_open() {
    let raw = berth_state_memory::open(OpenOptions::default());
    let store = wrap(&raw, Keyring::new("k1", K1));
    put(&store, "a", "tok-a").await;
    let sealed = raw
        .records()
        .get("api-keys:p", "a")
        .await
        .unwrap()
        .unwrap()
        .value;
    let mut batch = Batch::new();
    batch.put("api-keys:p", "b", sealed);
    raw.commit(batch).await.unwrap();
    let err = keys(&store).get("b").await.unwrap_err();
    assert!(matches!(encryption_error(&err), EncryptionError::WrongKey { key, .. } if key == "b"));
}

#[tokio::test]
async fn plain_text_left_over_is_refused_until_reencrypted() {
    let raw = berth_state_memory::open(OpenOptions::default());
    let mut batch = Batch::new();
    batch.put("api-keys:p", "legacy", json!({"token": "tok-legacy"}));
    raw.commit(batch).await.unwrap();
    let records = EncryptedRecords::new(
        raw.records().clone(),
        Keyring::new("k1", K1),
        Collections::matching(["api-keys:*"]),
    );
    let store = wrap(&raw, Keyring::new("k1", K1));
    let err = keys(&store).get("legacy").await.unwrap_err();
    assert!(matches!(
        encryption_error(&err),
        EncryptionError::Unencrypted { .. }
    ));
    assert_eq!(records.reencrypt("api-keys:p").await.unwrap().rewritten, 1);
    assert_eq!(
        keys(&store)
            .get("legacy")
            .await
            .unwrap()
            .unwrap()
            .value
            .token,
        "tok-legacy"
    );
    assert!(!raw_values(&raw, "api-keys:p").await[0]
        .to_string()
        .contains("tok-legacy"));
    let err = records.reencrypt("workers:p").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn keyring_rules() {
    assert!(Keyring::new("k1", K1).activate("k9").is_err());
    assert!(Keyring::new("k1", K1).without_key("k1").is_err());
    assert!(Keyring::from_hex("k", &"ab".repeat(32)).is_ok());
    assert!(Keyring::from_hex("k", "abcd").is_err());
    assert!(!format!("{:?}", Keyring::new("k1", K1)).contains("1, 1"));
}
