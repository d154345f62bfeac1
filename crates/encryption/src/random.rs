//! [`RandomSource`]: where nonces and tokens come from, injectable for reproducible tests.

use crate::error::EncryptionError;
use std::fmt;

/// A source of random bytes.
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), EncryptionError>;
}

/// The operating system's cryptographically secure random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), EncryptionError> {
        getrandom::fill(buf).map_err(|e| EncryptionError::Random(e.to_string()))
    }
}

/// `n` random bytes from `random` as lower-case hex (an API token: `n = 32` gives 64 chars).
pub fn random_hex(random: &dyn RandomSource, n: usize) -> Result<String, EncryptionError> {
    let mut bytes = vec![0u8; n];
    random.fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}
