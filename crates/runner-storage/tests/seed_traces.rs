//! The two scenarios whose traces seed 000 contains, held against the seed: the same sequence
//! of operations, lock links, collections, keys, log messages and value shapes, with ids
//! normalised (ours come from our own generator).
//!
//! `tests/traces/seed/*.md` are the seed's traces as extracted from its package diff (its
//! JSON lost its indentation there). Where our trace differs by design it is said here:
//! values of `api-keys:*` are stored encrypted, so the recorder beneath the encryption sees an
//! envelope — the test opens it with the test key and compares the plaintext's shape; `meta`
//! of items read back carries our `version` too, so only its presence is compared; and which
//! write commits the raw index `put` is not compared: ours commits it in the registration's
//! batch (atomically), the seed's recorder showed it outside any batch.

mod trace_support;

use berth_core::{Batch, OpenOptions};
use berth_encryption::{EncryptedRecords, MARKER};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, PartialEq)]
struct Step {
    header: String,
    collection: Option<String>,
    keys: Vec<String>,
    message: Option<String>,
    values: Vec<String>,
}

fn normalise_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let candidate: String = chars[i..chars.len().min(i + 36)].iter().collect();
        if candidate.len() == 36 && uuid_like(&candidate) {
            out.push_str("<id>");
            i += 36;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn uuid_like(s: &str) -> bool {
    s.chars().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// The shape of a JSON value: leaves become their type; `meta` only its presence.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let s = if k == "meta" {
                        Value::from("meta")
                    } else {
                        shape(v)
                    };
                    (k.clone(), s)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::Null,
    }
}

/// Opens an encrypted item (id, meta and envelope fields) with the test key.
async fn decrypt(collection: &str, item: &Value) -> Value {
    let Some(map) = item.as_object() else {
        return item.clone();
    };
    if !map.contains_key(MARKER) {
        return item.clone();
    }
    let id = map["id"].as_str().unwrap().to_owned();
    let envelope: serde_json::Map<String, Value> = map
        .iter()
        .filter(|(k, _)| *k != "id" && *k != "meta")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let raw = berth_state_memory::open(OpenOptions::default());
    let mut batch = Batch::new();
    batch.put(collection, &id, Value::Object(envelope));
    raw.commit(batch).await.unwrap();
    let store =
        EncryptedRecords::wrap_store(&raw, trace_support::keyring(), trace_support::encrypted());
    let plain = store
        .records()
        .get(collection, &id)
        .await
        .unwrap()
        .unwrap()
        .value;
    let mut out = serde_json::Map::new();
    out.insert("id".into(), map["id"].clone());
    out.insert("meta".into(), map["meta"].clone());
    out.extend(plain.as_object().unwrap().clone());
    Value::Object(out)
}

fn inline_or_block(lines: &[&str], i: &mut usize, label: &str, values: &mut Vec<String>) -> bool {
    let line = lines[*i];
    let Some(rest) = line.strip_prefix(label) else {
        return false;
    };
    let rest = rest.trim();
    if let Some(inline) = rest.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        values.push(inline.to_owned());
        return true;
    }
    // Following lines: ```js blocks or inline `…` values, until the next label.
    while *i + 1 < lines.len() && !lines[*i + 1].starts_with("**") {
        *i += 1;
        let l = lines[*i];
        if l == "```js" {
            let mut block = String::new();
            while *i + 1 < lines.len() && lines[*i + 1] != "```" {
                *i += 1;
                block.push_str(lines[*i]);
                block.push('\n');
            }
            *i += 1;
            values.push(block);
        } else if let Some(v) = l.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
            values.push(v.to_owned());
        }
    }
    true
}

fn parse(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for block in text.split("\n### ").skip(1) {
        let lines: Vec<&str> = block.lines().collect();
        let title = lines[0].split_once(". ").map(|x| x.1).unwrap_or_default();
        // Drop the icon (one token) and, for writes, the linked ops.
        let mut header = title
            .split_once(' ')
            .map(|x| x.1)
            .unwrap_or_default()
            .to_owned();
        if header.starts_with("write") {
            header = "write".into();
        }
        let mut step = Step {
            header,
            collection: None,
            keys: Vec::new(),
            message: None,
            values: Vec::new(),
        };
        let mut i = 1;
        while i < lines.len() {
            let line = lines[i];
            if let Some(c) = line.strip_prefix("**Collection:** ") {
                step.collection = Some(normalise_ids(c.trim_matches('`')));
            } else if let Some(k) = line.strip_prefix("**Key:** ") {
                step.keys.push(normalise_ids(k.trim_matches('`')));
            } else if line.starts_with("**Keys:**") {
                let mut keys = Vec::new();
                inline_or_block(&lines, &mut i, "**Keys:**", &mut keys);
                step.keys
                    .extend(keys.iter().filter(|k| *k != "[]").map(|k| normalise_ids(k)));
            } else if line.starts_with("**Batch ID:**") {
                // Batch membership is not compared (see the module docs).
            } else if inline_or_block(&lines, &mut i, "**Value:**", &mut step.values)
                || inline_or_block(&lines, &mut i, "**Result:**", &mut step.values)
                || inline_or_block(&lines, &mut i, "**Data:**", &mut step.values)
                || inline_or_block(&lines, &mut i, "**Args:**", &mut step.values)
            {
            } else if step.message.is_none() && line.starts_with('`') && step.header == "info" {
                step.message = Some(normalise_ids(line));
            }
            i += 1;
        }
        steps.push(step);
    }
    steps
}

async fn shapes(step: &Step) -> Vec<Value> {
    let mut out = Vec::new();
    for v in &step.values {
        let value: Value = serde_json::from_str(v).unwrap_or_else(|e| panic!("{v}: {e}"));
        let value = match &step.collection {
            Some(c) if c.starts_with("api-keys:") => decrypt(c, &value).await,
            _ => value,
        };
        out.push(shape(&value));
    }
    out
}

async fn same_as_seed(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/traces");
    let seed = std::fs::read_to_string(dir.join("seed").join(format!("{name}.md"))).unwrap();
    let ours = std::fs::read_to_string(
        dir.join("update-unit-registrations")
            .join(format!("{name}.md")),
    )
    .unwrap();
    let (seed, ours) = (parse(&seed), parse(&ours));
    assert!(!seed.is_empty());
    assert_eq!(seed.len(), ours.len(), "number of steps");
    let values: usize = seed.iter().map(|s| s.values.len()).sum();
    assert!(
        values >= seed.len() / 2,
        "only {values} values parsed from the seed"
    );
    for (n, (s, o)) in seed.iter().zip(&ours).enumerate() {
        let at = n + 1;
        assert_eq!(s.header, o.header, "step {at}: operation");
        assert_eq!(s.collection, o.collection, "step {at}: collection");
        assert_eq!(s.keys, o.keys, "step {at}: keys");
        assert_eq!(s.message, o.message, "step {at}: log message");
        assert_eq!(shapes(s).await, shapes(o).await, "step {at}: value shapes");
    }
}

#[tokio::test]
async fn create_multiple_workers_with_different_identities_matches_the_seed() {
    same_as_seed("create-multiple-workers-with-different-identities").await;
}

#[tokio::test]
async fn handle_nonexistent_registration_id_gracefully_matches_the_seed() {
    same_as_seed("handle-nonexistent-registration-id-gracefully").await;
}

#[test]
fn the_parser_notices_a_changed_step() {
    let seed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/traces/seed/handle-nonexistent-registration-id-gracefully.md"),
    )
    .unwrap();
    let changed = seed.replacen("`workers:test`", "`workers:other`", 1);
    assert_ne!(parse(&seed), parse(&changed));
    let unlocked = seed.replacen("🔒 locked", "🔒 lockd", 1);
    assert_ne!(parse(&seed), parse(&unlocked));
}
