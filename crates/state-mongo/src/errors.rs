//! Mapping of driver errors to berth's [`Error`] kinds.

use berth_core::Error;
use mongodb::bson::Document;
use mongodb::error::{
    Error as DriverError, ErrorKind as DriverKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR,
    UNKNOWN_TRANSACTION_COMMIT_RESULT,
};

/// Duplicate key, in the codes servers use for it.
const DUPLICATE_KEY: [i32; 3] = [11000, 11001, 12582];

/// Server codes after which the same call may succeed (elections, shutdowns, write conflicts,
/// timeouts, aborted transactions).
const RETRYABLE_CODES: [i32; 16] = [
    6, 7, 89, 91, 112, 189, 251, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 24,
];

/// Whether `code` is a duplicate-key error code.
pub(crate) fn is_duplicate_code(code: i32) -> bool {
    DUPLICATE_KEY.contains(&code)
}

/// Whether `e` reports a duplicate key, in any of the forms the driver reports it.
pub(crate) fn is_duplicate_key(e: &DriverError) -> bool {
    match e.kind.as_ref() {
        DriverKind::Write(WriteFailure::WriteError(w)) => is_duplicate_code(w.code),
        DriverKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().any(|w| is_duplicate_code(w.code))),
        DriverKind::BulkWrite(b) => b.write_errors.values().any(|w| is_duplicate_code(w.code)),
        DriverKind::Command(c) => is_duplicate_code(c.code),
        _ => false,
    }
}

/// Whether `e` is a transient transaction error: the whole transaction may be run again.
pub(crate) fn is_transient_transaction(e: &DriverError) -> bool {
    e.contains_label(TRANSIENT_TRANSACTION_ERROR)
}

/// Whether a commit's outcome is unknown: the commit may be sent again.
pub(crate) fn is_unknown_commit(e: &DriverError) -> bool {
    e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT)
}

/// Whether the same call may succeed if tried again.
pub(crate) fn is_retryable(e: &DriverError) -> bool {
    if is_transient_transaction(e)
        || is_unknown_commit(e)
        || e.contains_label("RetryableWriteError")
    {
        return true;
    }
    match e.kind.as_ref() {
        DriverKind::Io(_)
        | DriverKind::ConnectionPoolCleared { .. }
        | DriverKind::ServerSelection { .. }
        | DriverKind::DnsResolve { .. } => true,
        DriverKind::Command(c) => RETRYABLE_CODES.contains(&c.code),
        DriverKind::Write(WriteFailure::WriteConcernError(w)) => RETRYABLE_CODES.contains(&w.code),
        DriverKind::Write(WriteFailure::WriteError(w)) => RETRYABLE_CODES.contains(&w.code),
        _ => false,
    }
}

/// Maps a driver error met while doing `what`; a duplicate key becomes a conflict on op 0.
pub(crate) fn map(what: &str, e: DriverError) -> Error {
    if is_duplicate_key(&e) {
        return Error::conflict(0, what, "", format!("duplicate key: {e}"));
    }
    let retryable = is_retryable(&e);
    Error::backend(format!("mongodb {what}"), retryable, e)
}

/// A closure mapping driver errors met while doing `what`.
pub(crate) fn ctx(what: &'static str) -> impl Fn(DriverError) -> Error {
    move |e| map(what, e)
}

/// One write error of a raw `update`/`delete`/`insert` command reply.
#[derive(Debug, Clone)]
pub(crate) struct RawWriteError {
    /// Index of the statement.
    pub index: usize,
    /// Server error code.
    pub code: i32,
    /// Server message.
    pub message: String,
}

/// The write errors of a raw write command reply (`writeErrors`), plus a write concern error.
pub(crate) fn raw_write_errors(reply: &Document) -> Result<Vec<RawWriteError>, Error> {
    if let Ok(wce) = reply.get_document("writeConcernError") {
        let code = wce.get_i32("code").unwrap_or(0);
        return Err(Error::backend_msg(
            format!(
                "mongodb write concern error {code}: {}",
                wce.get_str("errmsg").unwrap_or("")
            ),
            RETRYABLE_CODES.contains(&code) || code == 64 || code == 91,
        ));
    }
    let Ok(errors) = reply.get_array("writeErrors") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(errors.len());
    for e in errors {
        let Some(d) = e.as_document() else {
            return Err(Error::Corrupt(
                "mongodb writeErrors entry is not a document".into(),
            ));
        };
        out.push(RawWriteError {
            index: number(d, "index")
                .and_then(|i| usize::try_from(i).ok())
                .unwrap_or(0),
            code: number(d, "code")
                .and_then(|c| i32::try_from(c).ok())
                .unwrap_or(0),
            message: d.get_str("errmsg").unwrap_or("").to_owned(),
        });
    }
    Ok(out)
}

/// Reads an integer field stored as Int32, Int64 or Double.
pub(crate) fn number(doc: &Document, field: &str) -> Option<i64> {
    match doc.get(field)? {
        mongodb::bson::Bson::Int32(i) => Some(i64::from(*i)),
        mongodb::bson::Bson::Int64(i) => Some(*i),
        mongodb::bson::Bson::Double(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

/// A write error that is neither a duplicate key nor expected, as a berth error.
pub(crate) fn raw_error(what: &str, e: &RawWriteError) -> Error {
    Error::backend_msg(
        format!(
            "mongodb {what}: error {} at statement {}: {}",
            e.code, e.index, e.message
        ),
        RETRYABLE_CODES.contains(&e.code),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn raw_write_errors_are_read() {
        let reply = doc! {"n": 1, "writeErrors": [{"index": 1, "code": 11000, "errmsg": "E11000"}]};
        let errs = raw_write_errors(&reply).unwrap();
        assert_eq!((errs[0].index, errs[0].code), (1, 11000));
        assert!(is_duplicate_code(errs[0].code));
        assert!(raw_write_errors(&doc! {"n": 1}).unwrap().is_empty());
        let wce = doc! {"writeConcernError": {"code": 64, "errmsg": "timeout"}};
        assert!(raw_write_errors(&wce).unwrap_err().is_retryable());
    }
}
