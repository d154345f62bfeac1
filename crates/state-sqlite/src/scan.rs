//! Ordered range reads of records: prefix, cursor, limit and direction as one key range.

use crate::sql_error::SqlResult;
use crate::values::{parse_json, text_of, timestamp, to_u64};
use berth_core::{prefix_upper_bound, Record, Result, Scan};
use rusqlite::{params, Connection, Row};

/// The key range of a scan: one lower bound and an optional exclusive upper bound, so that
/// SQLite seeks straight to the first row and stops at the last one.
#[derive(Debug, PartialEq, Eq)]
struct Range {
    lower: Vec<u8>,
    lower_inclusive: bool,
    upper: Option<Vec<u8>>,
}

fn range(scan: &Scan) -> Range {
    let prefix = scan.prefix.as_bytes();
    let prefix_end = prefix_upper_bound(&scan.prefix);
    match (&scan.start_after, scan.reverse) {
        // Ascending after a cursor: strictly after it, unless the prefix starts later.
        (Some(after), false) if after.as_bytes() >= prefix => Range {
            lower: after.as_bytes().to_vec(),
            lower_inclusive: false,
            upper: prefix_end,
        },
        // Descending after a cursor: strictly before it and before the prefix's end.
        (Some(after), true) => {
            let after = after.as_bytes().to_vec();
            let upper = match prefix_end {
                Some(end) if end < after => end,
                _ => after,
            };
            Range {
                lower: prefix.to_vec(),
                lower_inclusive: true,
                upper: Some(upper),
            }
        }
        _ => Range {
            lower: prefix.to_vec(),
            lower_inclusive: true,
            upper: prefix_end,
        },
    }
}

/// Reads one `records` row selected as `key, value, version, created_at, updated_at`.
pub(crate) fn record_row(row: &Row<'_>) -> Result<Record> {
    let key = text_of(row.get_ref(0).sql()?, "record key")?;
    let value = parse_json(&text_of(row.get_ref(1).sql()?, "record value")?, &key)?;
    Ok(Record {
        version: to_u64("version", row.get(2).sql()?)?,
        created_at: timestamp(row.get(3).sql()?),
        updated_at: timestamp(row.get(4).sql()?),
        key,
        value,
    })
}

/// The records of `collection` that `scan` selects, in key-byte order.
pub(crate) fn scan(conn: &Connection, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
    let r = range(scan);
    let limit = scan
        .limit
        .map(|n| i64::try_from(n).unwrap_or(i64::MAX))
        .unwrap_or(-1);
    let lower_op = if r.lower_inclusive { ">=" } else { ">" };
    let upper = if r.upper.is_some() {
        " AND key < ?4"
    } else {
        ""
    };
    let order = if scan.reverse { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT key, value, version, created_at, updated_at FROM records \
         WHERE collection = ?1 AND key {lower_op} ?2{upper} ORDER BY key {order} LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql).sql()?;
    let mut rows = match &r.upper {
        Some(upper) => stmt.query(params![collection, r.lower, limit, upper]),
        None => stmt.query(params![collection, r.lower, limit]),
    }
    .sql()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().sql()? {
        out.push(record_row(row)?);
    }
    Ok(out)
}

/// How many keys of `collection` start with `prefix`.
pub(crate) fn count(conn: &Connection, collection: &str, prefix: &str) -> Result<u64> {
    let n: i64 = match prefix_upper_bound(prefix) {
        Some(end) => conn
            .prepare_cached(
                "SELECT COUNT(*) FROM records WHERE collection = ?1 AND key >= ?2 AND key < ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![collection, prefix.as_bytes(), end], |r| r.get(0))
            }),
        None => conn
            .prepare_cached("SELECT COUNT(*) FROM records WHERE collection = ?1")
            .and_then(|mut s| s.query_row(params![collection], |r| r.get(0))),
    }
    .sql()?;
    to_u64("count", n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_before_prefix_keeps_prefix_bound() {
        let r = range(&Scan::prefix("b").after("a"));
        assert_eq!((r.lower.as_slice(), r.lower_inclusive), (&b"b"[..], true));
        let r = range(&Scan::prefix("b").after("bb"));
        assert_eq!((r.lower.as_slice(), r.lower_inclusive), (&b"bb"[..], false));
        assert_eq!(r.upper, Some(b"c".to_vec()));
    }

    #[test]
    fn reverse_cursor_is_an_exclusive_upper_bound() {
        let r = range(&Scan::prefix("b").after("bm").reversed());
        assert_eq!(r.upper, Some(b"bm".to_vec()));
        let r = range(&Scan::prefix("b").after("z").reversed());
        assert_eq!(r.upper, Some(b"c".to_vec()));
        let r = range(&Scan::all().after("k").reversed());
        assert_eq!(
            (r.lower.as_slice(), r.upper),
            (&b""[..], Some(b"k".to_vec()))
        );
    }
}
