//! [`Keyring`]: the encryption keys by id, one of them active.

use crate::error::EncryptionError;
use std::collections::BTreeMap;
use std::fmt;

/// Length of a key in bytes (XChaCha20-Poly1305).
pub const KEY_LEN: usize = 32;

/// Keys by id; new values are sealed with the active key, old ones opened with theirs.
///
/// Rotate by building a keyring that holds the old keys and a new active one, then
/// [`re-encrypt`](crate::EncryptedRecords::reencrypt) the collections; once nothing is sealed
/// with an old key, drop it from the keyring. Debug output never shows key bytes.
#[derive(Clone)]
pub struct Keyring {
    keys: BTreeMap<String, [u8; KEY_LEN]>,
    active: String,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl Keyring {
    /// A keyring holding `key` under `kid`, active.
    pub fn new(kid: impl Into<String>, key: [u8; KEY_LEN]) -> Self {
        let kid = kid.into();
        Keyring {
            keys: BTreeMap::from([(kid.clone(), key)]),
            active: kid,
        }
    }

    /// A keyring from `key` given as 64 hex characters (for keys read from configuration).
    pub fn from_hex(kid: impl Into<String>, key: &str) -> Result<Self, EncryptionError> {
        Ok(Keyring::new(kid, parse_hex(key)?))
    }

    /// This keyring also holding `key` under `kid` (replacing a key of that id), not active.
    pub fn with_key(mut self, kid: impl Into<String>, key: [u8; KEY_LEN]) -> Self {
        self.keys.insert(kid.into(), key);
        self
    }

    /// This keyring sealing new values with the key `kid`, which it must hold.
    pub fn activate(mut self, kid: &str) -> Result<Self, EncryptionError> {
        if !self.keys.contains_key(kid) {
            return Err(EncryptionError::Keyring(format!(
                "no key {kid:?} to activate"
            )));
        }
        kid.clone_into(&mut self.active);
        Ok(self)
    }

    /// This keyring without the key `kid` (the active key cannot be removed).
    pub fn without_key(mut self, kid: &str) -> Result<Self, EncryptionError> {
        if kid == self.active {
            return Err(EncryptionError::Keyring(format!(
                "key {kid:?} is active and cannot be removed"
            )));
        }
        self.keys.remove(kid);
        Ok(self)
    }

    /// The id of the active key.
    pub fn active(&self) -> &str {
        &self.active
    }

    /// The active key and its id.
    pub(crate) fn active_key(&self) -> Result<(&str, &[u8; KEY_LEN]), EncryptionError> {
        self.keys
            .get(&self.active)
            .map(|key| (self.active.as_str(), key))
            .ok_or_else(|| EncryptionError::Keyring(format!("no active key {:?}", self.active)))
    }

    /// The key with id `kid`.
    pub(crate) fn key(&self, kid: &str) -> Option<&[u8; KEY_LEN]> {
        self.keys.get(kid)
    }
}

fn parse_hex(key: &str) -> Result<[u8; KEY_LEN], EncryptionError> {
    let bytes = hex::decode(key.trim())
        .map_err(|e| EncryptionError::Keyring(format!("key is not hex: {e}")))?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        EncryptionError::Keyring(format!("key has {} bytes, {KEY_LEN} needed", bytes.len()))
    })
}
