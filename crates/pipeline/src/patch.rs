//! Deep merge of JSON state patches.
//!
//! The rules, applied by [`merge`] (close to RFC 7396 JSON Merge Patch):
//!
//! - an object patch merges into an object key by key, recursively;
//! - `null` as a value in a patch object deletes that key;
//! - arrays, strings, numbers and booleans replace what was there (arrays are never
//!   concatenated or merged element-wise);
//! - a patch that is not an object replaces the whole target (a top-level `null` patch is
//!   "no change", so a step can return `null` to patch nothing);
//! - an object patch applied to a non-object target first turns it into an empty object.
//!
//! The patches of one stage are applied in the order the steps are declared, so when two
//! steps of a stage write the same key, the later-declared step wins, whatever order they
//! finished in.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place, following the module's rules.
///
/// ```
/// use serde_json::json;
/// let mut state = json!({"a": {"x": 1, "y": 2}, "list": [1, 2], "gone": true});
/// berth_pipeline::patch::merge(&mut state, &json!({"a": {"y": 3}, "list": [9], "gone": null}));
/// assert_eq!(state, json!({"a": {"x": 1, "y": 3}, "list": [9]}));
/// ```
pub fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Null => {}
        Value::Object(fields) => merge_object(target, fields),
        other => *target = other.clone(),
    }
}

fn merge_object(target: &mut Value, fields: &Map<String, Value>) {
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in fields {
        match value {
            Value::Null => {
                map.remove(key);
            }
            Value::Object(inner) => {
                let slot = map.entry(key.clone()).or_insert(Value::Null);
                merge_object(slot, inner);
            }
            other => {
                map.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Wraps `patch` so that it applies under the object path `namespace` (outermost first).
///
/// A top-level `null` patch stays `null` (no change).
pub fn nest(namespace: &[String], patch: Value) -> Value {
    if patch.is_null() {
        return patch;
    }
    namespace.iter().rev().fold(patch, |inner, key| {
        let mut map = Map::new();
        map.insert(key.clone(), inner);
        Value::Object(map)
    })
}

/// The part of `state` under the object path `namespace`, or `null` if absent.
pub fn view<'a>(state: &'a Value, namespace: &[String]) -> &'a Value {
    static NULL: Value = Value::Null;
    let mut at = state;
    for key in namespace {
        match at.get(key) {
            Some(v) => at = v,
            None => return &NULL,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_merge_recursively() {
        let mut s = json!({"a": {"b": {"c": 1, "d": 2}}, "k": 0});
        merge(&mut s, &json!({"a": {"b": {"d": 3, "e": 4}}}));
        assert_eq!(s, json!({"a": {"b": {"c": 1, "d": 3, "e": 4}}, "k": 0}));
    }

    #[test]
    fn arrays_replace_and_null_deletes() {
        let mut s = json!({"list": [1, 2, 3], "x": 1, "keep": 2});
        merge(&mut s, &json!({"list": [4], "x": null, "missing": null}));
        assert_eq!(s, json!({"list": [4], "keep": 2}));
    }

    #[test]
    fn null_patch_changes_nothing_and_scalars_replace() {
        let mut s = json!({"a": 1});
        merge(&mut s, &Value::Null);
        assert_eq!(s, json!({"a": 1}));
        merge(&mut s, &json!(5));
        assert_eq!(s, json!(5));
        merge(&mut s, &json!({"b": {"c": null, "d": 1}}));
        assert_eq!(s, json!({"b": {"d": 1}}));
    }

    #[test]
    fn object_replaces_scalar_under_key() {
        let mut s = json!({"a": 1});
        merge(&mut s, &json!({"a": {"x": 1}}));
        assert_eq!(s, json!({"a": {"x": 1}}));
    }

    #[test]
    fn nest_and_view_are_inverse() {
        let ns = vec!["child".to_string(), "inner".to_string()];
        let mut s = json!({"top": 1});
        merge(&mut s, &nest(&ns, json!({"v": 2})));
        assert_eq!(s, json!({"top": 1, "child": {"inner": {"v": 2}}}));
        assert_eq!(view(&s, &ns), &json!({"v": 2}));
        assert_eq!(view(&s, &["nope".to_string()]), &Value::Null);
        assert_eq!(nest(&ns, Value::Null), Value::Null);
    }
}
