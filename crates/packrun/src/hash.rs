//! The plan hash: SHA-256 of the normalised plan.
//!
//! Normalised = parsed into [`Plan`] (so every default is explicit and unknown fields are
//! gone) and written back as canonical JSON: object keys sorted by their bytes, no
//! whitespace, numbers and strings as `serde_json` writes them. Two plans that differ only in key order, whitespace or spelled-out
//! defaults hash alike; any change that alters what runs changes the hash.

use crate::plan::Plan;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The normalised plan as JSON (defaults explicit).
pub fn normalised(plan: &Plan) -> Value {
    // A plan is plain data (strings, numbers, maps, lists): serialising it cannot fail.
    serde_json::to_value(plan).unwrap_or(Value::Null)
}

/// Writes `value` as canonical JSON: sorted keys, no whitespace.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `sha256:<hex>` of the canonical normalised plan.
pub fn plan_hash(plan: &Plan) -> String {
    hash_value(&normalised(plan))
}

/// `sha256:<hex>` of the canonical form of `value`.
pub fn hash_value(value: &Value) -> String {
    let digest = Sha256::digest(canonical(value).as_bytes());
    let mut hex = String::with_capacity(71);
    hex.push_str("sha256:");
    for b in digest.iter() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_whitespace_and_defaults_do_not_change_the_hash() {
        let a = Plan::from_json(r#"{"name":"p","steps":[{"kind":"run","id":"a","program":"x"}]}"#)
            .unwrap();
        let b = Plan::from_json(
            r#"{ "steps": [ {"program":"x", "id":"a", "kind":"run", "args": []} ],
                 "name": "p", "failurePolicy": {"maxAttempts": 1} }"#,
        )
        .unwrap();
        assert_eq!(plan_hash(&a), plan_hash(&b));
        let c = Plan::from_json(r#"{"name":"p","steps":[{"kind":"run","id":"a","program":"y"}]}"#)
            .unwrap();
        assert_ne!(plan_hash(&a), plan_hash(&c));
        assert!(plan_hash(&a).starts_with("sha256:"));
        assert_eq!(plan_hash(&a).len(), 71);
        assert_eq!(
            canonical(&serde_json::json!({"b":1,"a":[true,null]})),
            r#"{"a":[true,null],"b":1}"#
        );
    }
}
