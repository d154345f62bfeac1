//! [`EncryptionError`]: why a value could not be sealed or opened.

/// Why an encrypted value could not be written or read.
///
/// It reaches callers inside a [`berth_core::Error`] of kind `Backend` (not retryable); get it
/// back with [`EncryptionError::of`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptionError {
    /// The value was sealed with a key id the keyring does not hold.
    #[error("missing key {kid:?} for {collection}/{key}")]
    MissingKey {
        /// The key id stored with the value.
        kid: String,
        /// Collection of the value.
        collection: String,
        /// Key of the value.
        key: String,
    },
    /// Authentication failed: the key under that id is not the one that sealed the value, or
    /// the value (or its location) was tampered with.
    #[error("wrong key {kid:?} or tampered value at {collection}/{key}")]
    WrongKey {
        /// The key id stored with the value.
        kid: String,
        /// Collection of the value.
        collection: String,
        /// Key of the value.
        key: String,
    },
    /// A value in an encrypted collection is stored in plain text (run a re-encrypt).
    #[error("unencrypted value at {collection}/{key}")]
    Unencrypted {
        /// Collection of the value.
        collection: String,
        /// Key of the value.
        key: String,
    },
    /// The stored envelope is not one this crate writes.
    #[error("malformed envelope at {collection}/{key}: {reason}")]
    Malformed {
        /// Collection of the value.
        collection: String,
        /// Key of the value.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The keyring is unusable (no active key, a key of the wrong length).
    #[error("invalid keyring: {0}")]
    Keyring(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

impl EncryptionError {
    /// The encryption error inside `error`, if that is what it carries.
    pub fn of(error: &berth_core::Error) -> Option<&EncryptionError> {
        std::error::Error::source(error)?.downcast_ref::<EncryptionError>()
    }
}

impl From<EncryptionError> for berth_core::Error {
    fn from(e: EncryptionError) -> Self {
        let message = e.to_string();
        berth_core::Error::backend(message, false, e)
    }
}
