//! Key ranges of prefix scans as string bounds MongoDB can compare.
//!
//! MongoDB compares strings by their UTF-8 bytes (simple binary collation), which is the
//! order of code points, so bounds are computed on chars and stay valid UTF-8.

use berth_core::Scan;
use mongodb::bson::{doc, Document};

/// The smallest string greater than every string starting with `prefix`, if one exists.
pub(crate) fn upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = next_char(last) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn next_char(c: char) -> Option<char> {
    match c {
        '\u{D7FF}' => Some('\u{E000}'),
        char::MAX => None,
        c => char::from_u32(c as u32 + 1),
    }
}

/// The condition on `k` for keys of `scan` (prefix and cursor), or `None` if no key can match.
pub(crate) fn key_filter(scan: &Scan) -> Option<Document> {
    let mut cond = Document::new();
    if !scan.prefix.is_empty() {
        cond.insert("$gte", scan.prefix.as_str());
    }
    let upper = upper_bound(&scan.prefix);
    match (&scan.start_after, scan.reverse) {
        (Some(after), false) => {
            if upper.as_deref().is_some_and(|u| after.as_str() >= u) {
                return None;
            }
            cond.insert("$gt", after.as_str());
        }
        (Some(after), true) => {
            if after.as_str() <= scan.prefix.as_str() {
                return None;
            }
            match &upper {
                Some(u) if u.as_str() < after.as_str() => {
                    cond.insert("$lt", u.as_str());
                }
                _ => {
                    cond.insert("$lt", after.as_str());
                }
            }
            return Some(cond);
        }
        (None, _) => {}
    }
    if let Some(u) = upper {
        cond.insert("$lt", u);
    }
    Some(cond)
}

/// The filter of records of `collection` with keys starting with `prefix`.
pub(crate) fn prefix_filter(collection: &str, prefix: &str) -> Document {
    let mut filter = doc! {"c": collection};
    if let Some(k) = key_filter(&Scan::prefix(prefix)) {
        if !k.is_empty() {
            filter.insert("k", k);
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds_stay_utf8_and_bound_the_prefix() {
        assert_eq!(upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(upper_bound("\u{10FFFF}"), None);
        assert_eq!(upper_bound(""), None);
        assert_eq!(upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
        let u = upper_bound("é").unwrap();
        assert!("é\u{10FFFF}".as_bytes() < u.as_bytes());
    }

    #[test]
    fn cursors_outside_the_prefix_range() {
        assert!(key_filter(&Scan::prefix("ab").after("b")).is_none());
        assert!(key_filter(&Scan::prefix("ab").after("a").reversed()).is_none());
        assert!(key_filter(&Scan::prefix("ab").after("ab").reversed()).is_none());
        assert_eq!(
            key_filter(&Scan::prefix("ab").after("b").reversed()).unwrap(),
            doc! {"$gte": "ab", "$lt": "ac"}
        );
        assert_eq!(key_filter(&Scan::all()).unwrap(), Document::new());
    }
}
