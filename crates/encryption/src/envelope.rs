//! The stored form of an encrypted value: key id, nonce and ciphertext as JSON.

use crate::error::EncryptionError;
use crate::keyring::Keyring;
use crate::random::RandomSource;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde_json::{json, Value};

/// Marker field of an envelope; its value is the format version.
pub const MARKER: &str = "$berthEncrypted";
const VERSION: u64 = 1;
const NONCE_LEN: usize = 24;

/// Binds a ciphertext to its place, so a value copied to another key fails to open.
fn aad(collection: &str, key: &str) -> Vec<u8> {
    format!("berth-encryption/v1\0{collection}\0{key}").into_bytes()
}

/// `value` with every object's keys in sorted order, so the plaintext (and, with a given
/// nonce, the ciphertext) does not depend on whether serde_json keeps insertion order (its
/// `preserve_order` feature, which any crate in a build may enable).
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&map[k.as_str()])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Whether `value` is an envelope.
pub(crate) fn is_envelope(value: &Value) -> bool {
    value.get(MARKER).is_some()
}

/// The key id an envelope was sealed with.
pub(crate) fn kid(value: &Value) -> Option<&str> {
    value.get("kid").and_then(Value::as_str)
}

/// Seals `value` stored at `collection`/`key` with the keyring's active key.
pub(crate) fn seal(
    keyring: &Keyring,
    random: &dyn RandomSource,
    collection: &str,
    key: &str,
    value: &Value,
) -> Result<Value, EncryptionError> {
    let (kid, secret) = keyring.active_key()?;
    let mut nonce = [0u8; NONCE_LEN];
    random.fill(&mut nonce)?;
    let plaintext =
        serde_json::to_vec(&canonical(value)).map_err(|e| EncryptionError::Malformed {
            collection: collection.to_owned(),
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    let cipher = XChaCha20Poly1305::new(secret.into());
    let aad = aad(collection, key);
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| EncryptionError::Keyring("encryption failed".to_owned()))?;
    Ok(json!({
        MARKER: VERSION,
        "kid": kid,
        "nonce": hex::encode(nonce),
        "ciphertext": hex::encode(ciphertext),
    }))
}

/// Opens the envelope `value` stored at `collection`/`key`.
pub(crate) fn open(
    keyring: &Keyring,
    collection: &str,
    key: &str,
    value: &Value,
) -> Result<Value, EncryptionError> {
    let malformed = |reason: &str| EncryptionError::Malformed {
        collection: collection.to_owned(),
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if !is_envelope(value) {
        return Err(EncryptionError::Unencrypted {
            collection: collection.to_owned(),
            key: key.to_owned(),
        });
    }
    if value.get(MARKER).and_then(Value::as_u64) != Some(VERSION) {
        return Err(malformed("unknown format version"));
    }
    let kid = kid(value).ok_or_else(|| malformed("no key id"))?;
    let field = |name: &str| -> Result<Vec<u8>, EncryptionError> {
        let text = value
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&format!("no {name}")))?;
        hex::decode(text).map_err(|_| malformed(&format!("{name} is not hex")))
    };
    let nonce = field("nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(malformed("nonce length"));
    }
    let ciphertext = field("ciphertext")?;
    let secret = keyring
        .key(kid)
        .ok_or_else(|| EncryptionError::MissingKey {
            kid: kid.to_owned(),
            collection: collection.to_owned(),
            key: key.to_owned(),
        })?;
    let cipher = XChaCha20Poly1305::new(secret.into());
    let aad = aad(collection, key);
    let plaintext = cipher
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| EncryptionError::WrongKey {
            kid: kid.to_owned(),
            collection: collection.to_owned(),
            key: key.to_owned(),
        })?;
    serde_json::from_slice(&plaintext).map_err(|_| malformed("plaintext is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Zeros;

    impl RandomSource for Zeros {
        fn fill(&self, buf: &mut [u8]) -> Result<(), EncryptionError> {
            buf.fill(0);
            Ok(())
        }
    }

    #[test]
    fn key_order_does_not_change_the_ciphertext() {
        let keyring = Keyring::new("k", [9; 32]);
        let mut forward = serde_json::Map::new();
        forward.insert("a".into(), json!(1));
        forward.insert("b".into(), json!({"y": 1, "x": 2}));
        let mut backward = serde_json::Map::new();
        backward.insert("b".into(), json!({"x": 2, "y": 1}));
        backward.insert("a".into(), json!(1));
        let seal = |v: serde_json::Map<String, Value>| {
            seal(&keyring, &Zeros, "c", "k", &Value::Object(v)).map(|e| e["ciphertext"].clone())
        };
        assert_eq!(seal(forward).ok(), seal(backward).ok());
    }
}
