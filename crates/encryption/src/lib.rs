//! berth-encryption: encrypted collections for any berth backend.
//!
//! Some state must not sit in storage in plain text: API-key tokens, instance secrets.
//! [`EncryptedRecords`] is a decorator over the [`RecordStore`](berth_core::RecordStore)
//! contract that seals the values of chosen [`Collections`] (`api-keys:*`, `secrets:*`) with
//! XChaCha20-Poly1305 before they reach the backend, and opens them on the way back. Each
//! stored value names the id of the [`Keyring`] key that sealed it, so keys can rotate:
//! add a new active key, [`reencrypt`](EncryptedRecords::reencrypt), drop the old key. A
//! missing or wrong key fails the read with a typed [`EncryptionError`]; the plain text never
//! reaches the backend, its logs, or a trace recorded beneath the decorator.
//!
//! The crate depends on `berth-core` only, so every higher crate can use it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_core::{Batch, OpenOptions};
//! use berth_encryption::{Collections, EncryptedRecords, EncryptionError, Keyring};
//!
//! let plain = berth_state_memory::open(OpenOptions::default());
//! let keyring = Keyring::new("k1", [7; 32]);
//! let store = EncryptedRecords::wrap_store(&plain, keyring, Collections::matching(["secrets:*"]));
//!
//! let mut batch = Batch::new();
//! batch.put("secrets:p", "db-password", serde_json::json!({"value": "hunter2"}));
//! store.commit(batch).await?;
//!
//! // Through the decorator: plain text. Underneath: an envelope naming key "k1".
//! let read = store.records().get("secrets:p", "db-password").await?.map(|r| r.value);
//! assert_eq!(read, Some(serde_json::json!({"value": "hunter2"})));
//! let raw = plain.records().get("secrets:p", "db-password").await?.map(|r| r.value);
//! assert!(!raw.unwrap().to_string().contains("hunter2"));
//!
//! // Another key cannot open it, and says why.
//! let other = EncryptedRecords::wrap_store(&plain, Keyring::new("k1", [8; 32]),
//!     Collections::matching(["secrets:*"]));
//! let err = other.records().get("secrets:p", "db-password").await.unwrap_err();
//! assert!(matches!(EncryptionError::of(&err), Some(EncryptionError::WrongKey { .. })));
//! # Ok(()) }
//! ```

mod envelope;
mod error;
mod keyring;
mod random;
mod records;

pub use envelope::MARKER;
pub use error::EncryptionError;
pub use keyring::{Keyring, KEY_LEN};
pub use random::{random_hex, OsRandom, RandomSource};
pub use records::{Collections, EncryptedRecords, Reencrypted};
