//! Markdown rendering in the format of seed 000's traces.

use super::recorder::State;
use super::step::{LogLevel, StagedKind, Step};
use berth_core::Record;
use serde_json::{Map, Value};
use std::fmt::Write;

/// The steps of `state` as markdown.
pub(crate) fn render(state: &State) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut sections = state.sections.iter().peekable();
    for (i, step) in state.steps.iter().enumerate() {
        while let Some((_, name)) = sections.next_if(|(at, _)| *at <= i) {
            blocks.push(format!("## {name}"));
        }
        render_step(&mut blocks, i + 1, step);
    }
    for (_, name) in sections {
        blocks.push(format!("## {name}"));
    }
    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

fn link(index: usize) -> String {
    format!("[{n}](#trace-{n})", n = index + 1)
}

fn header(n: usize, title: &str) -> String {
    format!("### <a id=\"trace-{n}\"></a> {n}. {title}")
}

fn quoted(s: &str) -> String {
    format!("`{}`", Value::String(s.to_owned()))
}

fn keys_block(blocks: &mut Vec<String>, keys: &[String]) {
    if keys.is_empty() {
        blocks.push("**Keys:** `[]`".to_owned());
        return;
    }
    blocks.push("**Keys:**".to_owned());
    blocks.extend(keys.iter().map(|k| quoted(k)));
}

fn js(value: &str) -> String {
    format!("```js\n{value}\n```")
}

/// A record as the typed layer sees it: `id`, `meta`, then the value's fields.
fn item(record: &Record) -> Value {
    let meta = serde_json::json!({
        "createdAt": record.created_at.millis(),
        "updatedAt": record.updated_at.millis(),
        "version": record.version,
    });
    staged_item(&record.key, meta, &record.value)
}

fn staged_item(key: &str, meta: Value, value: &Value) -> Value {
    let mut map = Map::new();
    map.insert("id".to_owned(), Value::String(key.to_owned()));
    map.insert("meta".to_owned(), meta);
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                map.insert(k.clone(), v.clone());
            }
        }
        other => {
            map.insert("value".to_owned(), other.clone());
        }
    }
    Value::Object(map)
}

/// Pretty JSON like `serde_json::to_string_pretty`, but with `id` and `meta` first.
pub(crate) fn pretty(value: &Value) -> String {
    let mut out = String::new();
    write_pretty(&mut out, value, 0);
    out
}

fn write_pretty(out: &mut String, value: &Value, indent: usize) {
    let pad = "  ".repeat(indent + 1);
    let end = "  ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            // Sorted explicitly: serde_json keeps insertion order when any crate in the build
            // enables its `preserve_order` feature (bson does), and traces must not depend on that.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| {
                let rank = match k.as_str() {
                    "id" => 0,
                    "meta" => 1,
                    _ => 2,
                };
                (rank, k.as_str())
            });
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                let _ = write!(out, "{pad}{}: ", Value::String((*k).clone()));
                write_pretty(out, &map[k.as_str()], indent + 1);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{end}}}");
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                out.push_str(&pad);
                write_pretty(out, v, indent + 1);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{end}]");
        }
        other => out.push_str(&other.to_string()),
    }
}

fn fields(data: &[(String, Value)]) -> String {
    let mut out = String::from("{\n");
    for (i, (k, v)) in data.iter().enumerate() {
        let _ = write!(out, "  {}: ", Value::String(k.clone()));
        write_pretty(&mut out, v, 1);
        out.push_str(if i + 1 < data.len() { ",\n" } else { "\n" });
    }
    out.push('}');
    out
}

fn records_block(blocks: &mut Vec<String>, records: &[Record]) {
    if records.is_empty() {
        blocks.push("**Result:** `[]`".to_owned());
        return;
    }
    blocks.push("**Result:**".to_owned());
    blocks.extend(records.iter().map(|r| js(&pretty(&item(r)))));
}

fn render_step(blocks: &mut Vec<String>, n: usize, step: &Step) {
    match step {
        Step::Locked { keys, released_at } => {
            let end = match released_at {
                Some(at) => format!("released at {}", link(*at)),
                None => "never released".to_owned(),
            };
            blocks.push(header(n, &format!("🔒 locked, {end}")));
            keys_block(blocks, keys);
        }
        Step::Released { keys, locked_at } => {
            blocks.push(header(
                n,
                &format!("🔓 released, locked at {}", link(*locked_at)),
            ));
            keys_block(blocks, keys);
        }
        Step::GetItem {
            collection,
            key,
            result,
        } => {
            blocks.push(header(n, "📖 getItem"));
            blocks.push(format!("**Collection:** `{collection}`"));
            blocks.push(format!("**Key:** {}", quoted(key)));
            match result {
                Some(r) => {
                    blocks.push("**Result:**".to_owned());
                    blocks.push(js(&pretty(&item(r))));
                }
                None => blocks.push("**Result:** `null`".to_owned()),
            }
        }
        Step::GetMany {
            collection,
            keys,
            result,
        } => {
            blocks.push(header(n, "📖 getManyRecord"));
            blocks.push(format!("**Collection:** `{collection}`"));
            keys_block(blocks, keys);
            if result.is_empty() {
                blocks.push("**Result:** `{}`".to_owned());
            } else {
                let map: Map<String, Value> =
                    result.iter().map(|r| (r.key.clone(), item(r))).collect();
                blocks.push("**Result:**".to_owned());
                blocks.push(js(&pretty(&Value::Object(map))));
            }
        }
        Step::Scan {
            collection,
            all,
            description,
            result,
        } => {
            blocks.push(header(
                n,
                if *all {
                    "📖 getAllItems"
                } else {
                    "📖 scan"
                },
            ));
            blocks.push(format!("**Collection:** `{collection}`"));
            if !*all {
                blocks.push(format!("**Scan:** `{description}`"));
            }
            records_block(blocks, result);
        }
        Step::Count {
            collection,
            prefix,
            result,
        } => {
            blocks.push(header(n, "📖 count"));
            blocks.push(format!("**Collection:** `{collection}`"));
            if !prefix.is_empty() {
                blocks.push(format!("**Prefix:** {}", quoted(prefix)));
            }
            blocks.push(format!("**Result:** `{result}`"));
        }
        Step::Staged {
            kind,
            collection,
            key,
            value,
            batch,
            written_at,
        } => {
            let title = match kind {
                StagedKind::PutItem => "💾 putItem",
                StagedKind::Put => "💾 put",
                StagedKind::DeleteItem => "🗑️ deleteItem",
                StagedKind::Delete => "🗑️ delete",
                StagedKind::Check => "🔎 check",
            };
            blocks.push(header(n, title));
            blocks.push(format!("**Collection:** `{collection}`"));
            let written = match written_at {
                Some(at) => format!("written at {}", link(*at)),
                None => "not written".to_owned(),
            };
            blocks.push(format!("**Batch ID:** `{batch}`, {written}"));
            blocks.push(format!("**Key:** {}", quoted(key)));
            match (kind, value) {
                (StagedKind::PutItem, Some(v)) => {
                    blocks.push("**Value:**".to_owned());
                    blocks.push(js(&pretty(&staged_item(key, Value::Object(Map::new()), v))));
                }
                (_, Some(v @ (Value::Object(_) | Value::Array(_)))) => {
                    blocks.push("**Value:**".to_owned());
                    blocks.push(js(&pretty(v)));
                }
                (_, Some(v)) => {
                    blocks.push("**Value:**".to_owned());
                    blocks.push(format!("`{v}`"));
                }
                (_, None) => {}
            }
        }
        Step::Write { ops, error } => {
            let links: Vec<String> = ops.iter().map(|&i| link(i)).collect();
            let icon = if error.is_some() { "❌" } else { "💾" };
            blocks.push(header(n, &format!("{icon} write {}", links.join(", "))));
            if let Some(e) = error {
                blocks.push(format!("**Error:** `{e}`"));
            }
        }
        Step::Call { name, args, error } => {
            let icon = if error.is_some() { "❌" } else { "✅" };
            blocks.push(header(n, &format!("{icon} {name}")));
            if !args.is_empty() {
                blocks.push("**Args:**".to_owned());
                blocks.extend(args.iter().map(|a| format!("`{a}`")));
            }
            if let Some(e) = error {
                blocks.push(format!("**Error:** `{e}`"));
            }
        }
        Step::Log {
            level,
            message,
            data,
        } => {
            let title = match level {
                LogLevel::Info => "ℹ️ info",
                LogLevel::Warn => "⚠️ warn",
            };
            blocks.push(header(n, title));
            blocks.push(format!("`{message}`"));
            if !data.is_empty() {
                blocks.push("**Data:**".to_owned());
                blocks.push(js(&fields(data)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_matches_serde_layout_with_id_first() {
        let v = serde_json::json!({"b": [1, {"x": []}], "id": "i", "a": {}, "meta": {}});
        assert_eq!(
            pretty(&v),
            "{\n  \"id\": \"i\",\n  \"meta\": {},\n  \"a\": {},\n  \"b\": [\n    1,\n    {\n      \"x\": []\n    }\n  ]\n}"
        );
    }
}
