//! What the API shows of a run: its plan without secret values.
//!
//! A plan's environment values and any value under a key that names a secret (password,
//! token, secret, credential, private key) are replaced, so a viewer never sees them.

use serde_json::Value;

/// What replaces a hidden value.
pub const REDACTED: &str = "<redacted>";

fn names_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "secret",
        "password",
        "passwd",
        "token",
        "credential",
        "private",
        "apikey",
        "api_key",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// `plan` with secret values replaced (walks without recursion, so depth is no risk).
pub fn plan(plan: &Value) -> Value {
    let mut out = plan.clone();
    let mut stack: Vec<&mut Value> = vec![&mut out];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if k == "env" {
                        if let Value::Object(env) = child {
                            for value in env.values_mut() {
                                *value = Value::String(REDACTED.into());
                            }
                            continue;
                        }
                    }
                    if names_secret(k) {
                        *child = Value::String(REDACTED.into());
                        continue;
                    }
                    stack.push(child);
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
    out
}
