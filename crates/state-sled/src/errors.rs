//! Mapping of sled's errors and transaction outcomes to berth's [`Error`].

use berth_core::Error;
use sled::transaction::TransactionError;

/// The message prefix sled 0.34 uses when another process holds the directory's file lock.
const LOCK_MESSAGE: &str = "could not acquire lock";

/// Converts a sled error; corruption stays corruption, I/O failures are retryable.
pub(crate) fn from_sled(e: sled::Error) -> Error {
    match e {
        sled::Error::Corruption { at, .. } => match at {
            Some(at) => Error::Corrupt(format!("sled reports corruption at {at:?}")),
            None => Error::Corrupt("sled reports corruption".into()),
        },
        sled::Error::Io(io) if is_lock_error(&io) => locked(io),
        sled::Error::Io(io) => Error::backend("sled i/o failed", true, io),
        sled::Error::Unsupported(msg) => Error::Unsupported(format!("sled: {msg}")),
        sled::Error::CollectionNotFound(name) => Error::Corrupt(format!(
            "sled tree {} vanished",
            String::from_utf8_lossy(&name)
        )),
        other => Error::backend("sled failed", false, other),
    }
}

/// Whether `io` is sled's "directory is locked by another process" failure.
pub(crate) fn is_lock_error(io: &std::io::Error) -> bool {
    io.to_string().contains(LOCK_MESSAGE)
}

/// The typed error for a directory another process holds: not retryable right away.
fn locked(io: std::io::Error) -> Error {
    Error::backend(
        "sled directory is locked by another process (sled allows one process at a time)",
        false,
        io,
    )
}

/// Flattens a transaction's outcome: an abort carries our own error.
pub(crate) fn from_transaction(e: TransactionError<Error>) -> Error {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => from_sled(e),
    }
}

/// A panic or cancellation of a blocking task.
pub(crate) fn from_join(e: tokio::task::JoinError) -> Error {
    Error::backend("sled task did not complete", false, e)
}
