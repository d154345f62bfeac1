//! Conversions between JSON values, berth timestamps and BSON documents.

use berth_core::{Error, Result, Timestamp};
use mongodb::bson::{Bson, DateTime, Document};
use serde_json::Value;

/// A JSON object as a BSON document; anything BSON cannot hold is invalid input.
pub(crate) fn json_to_doc(value: &Value, what: &'static str) -> Result<Document> {
    match mongodb::bson::to_bson(value) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(Error::invalid(what, "must encode to a JSON object")),
        Err(e) => Err(Error::invalid(
            what,
            format!("cannot be stored as BSON: {e}"),
        )),
    }
}

/// A stored BSON document as JSON; anything JSON cannot hold means the data is corrupt.
pub(crate) fn doc_to_json(doc: Document, what: &str) -> Result<Value> {
    mongodb::bson::from_bson::<Value>(Bson::Document(doc))
        .map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// A timestamp as a BSON date.
pub(crate) fn date(t: Timestamp) -> DateTime {
    DateTime::from_millis(t.millis())
}

/// Turns the epoch-millisecond numbers at `paths` into BSON dates. A path `a.b` reaches into
/// every document of the array or document at `a`.
pub(crate) fn millis_to_dates(doc: &mut Document, paths: &[&str]) {
    for path in paths {
        convert(doc, path, &|b| match b {
            Bson::Int64(ms) => Bson::DateTime(DateTime::from_millis(*ms)),
            Bson::Int32(ms) => Bson::DateTime(DateTime::from_millis(i64::from(*ms))),
            other => other.clone(),
        });
    }
}

/// Turns the BSON dates at `paths` back into epoch-millisecond numbers.
pub(crate) fn dates_to_millis(doc: &mut Document, paths: &[&str]) {
    for path in paths {
        convert(doc, path, &|b| match b {
            Bson::DateTime(d) => Bson::Int64(d.timestamp_millis()),
            other => other.clone(),
        });
    }
}

fn convert(doc: &mut Document, path: &str, f: &dyn Fn(&Bson) -> Bson) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(value) = doc.get_mut(head) else {
        return;
    };
    match (rest, value) {
        (None, v) => *v = f(v),
        (Some(rest), Bson::Document(inner)) => convert(inner, rest, f),
        (Some(rest), Bson::Array(items)) => {
            for item in items {
                if let Bson::Document(inner) = item {
                    convert(inner, rest, f);
                }
            }
        }
        _ => {}
    }
}

/// A `u64` as BSON Int64; values past `i64::MAX` are invalid input.
pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(what, format!("{v} exceeds the BSON Int64 range")))
}

/// A stored integer as `u64`; negative or missing means the data is corrupt.
pub(crate) fn stored_u64(doc: &Document, field: &str, what: &str) -> Result<u64> {
    crate::errors::number(doc, field)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "{what}: field {field} is not a non-negative integer"
            ))
        })
}

/// A stored BSON date (or epoch-millisecond number) as a timestamp.
pub(crate) fn stored_ts(doc: &Document, field: &str, what: &str) -> Result<Timestamp> {
    match doc.get(field) {
        Some(Bson::DateTime(d)) => Ok(Timestamp::from_millis(d.timestamp_millis())),
        Some(Bson::Int64(ms)) => Ok(Timestamp::from_millis(*ms)),
        _ => Err(Error::Corrupt(format!(
            "{what}: field {field} is not a date"
        ))),
    }
}

/// A stored string field.
pub(crate) fn stored_str<'a>(doc: &'a Document, field: &str, what: &str) -> Result<&'a str> {
    doc.get_str(field)
        .map_err(|_| Error::Corrupt(format!("{what}: field {field} is not a string")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;
    use serde_json::json;

    #[test]
    fn dates_convert_both_ways_at_paths() {
        let mut d = doc! {"at": 5_i64, "steps": [{"next": 7_i64}, {"other": 1}], "keep": 3_i64};
        millis_to_dates(&mut d, &["at", "steps.next", "missing.x"]);
        assert_eq!(d.get_datetime("at").unwrap().timestamp_millis(), 5);
        assert!(matches!(
            d.get_array("steps").unwrap()[0]
                .as_document()
                .unwrap()
                .get("next"),
            Some(Bson::DateTime(_))
        ));
        assert_eq!(d.get_i64("keep").unwrap(), 3);
        dates_to_millis(&mut d, &["at", "steps.next"]);
        assert_eq!(d.get_i64("at").unwrap(), 5);
    }

    #[test]
    fn json_round_trips_and_rejects_what_bson_cannot_hold() {
        let v = json!({"a": 1, "b": [0.0, 1.5, "x", null, true], "c": {"d": -3}});
        let d = json_to_doc(&v, "plan").unwrap();
        assert_eq!(doc_to_json(d, "plan").unwrap(), v);
        assert!(json_to_doc(&json!({"big": u64::MAX}), "plan").is_err());
        assert!(json_to_doc(&json!([1]), "plan").is_err());
        assert!(to_i64(u64::MAX, "sequence").is_err());
    }
}
