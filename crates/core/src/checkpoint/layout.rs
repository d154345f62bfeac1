//! Where checkpoints live: collection names, keys, and the rules for the names in them.
//!
//! Every namespace shares five collections; keys start with the namespace's key and the run,
//! separated by U+001F (which no namespace, run, checkpoint or task id may contain), so every
//! read of one run or one namespace is a single ordered prefix range:
//!
//! | collection | key | value |
//! |---|---|---|
//! | `checkpoint-heads` | `ns␟run` | [`Head`]: the run's namespace, whether it is paused, its expiry |
//! | `checkpoint-history` | `ns␟run␟id` | the [`Checkpoint`](super::Checkpoint) |
//! | `checkpoint-writes` | `ns␟run␟id␟task␟index` | a [`PendingWrite`](super::PendingWrite) |
//! | `checkpoint-metadata` | `ns␟run␟"field"=value␟id` | `null`: the metadata index |
//! | `checkpoint-expiry` | `millis␟ns␟run` | `null`: runs by expiry time, for the sweeper |

use crate::error::{Error, Result};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) const HEADS: &str = "checkpoint-heads";
pub(crate) const HISTORY: &str = "checkpoint-history";
pub(crate) const WRITES: &str = "checkpoint-writes";
pub(crate) const METADATA: &str = "checkpoint-metadata";
pub(crate) const EXPIRY: &str = "checkpoint-expiry";

/// Separates the parts of a key.
pub(crate) const SEP: char = '\u{1f}';
/// Starts the key of a namespace too long to be spelled out in keys.
const HASHED: char = '\u{1e}';
/// Namespaces up to this many bytes are spelled out in keys; longer ones are hashed.
const SPELLED_OUT: usize = 128;
/// A namespace may be this long (a nested sub-pipeline path of any practical depth).
pub const MAX_NAMESPACE: usize = 64 * 1024;
/// An encoded metadata field or value longer than this is indexed by its hash.
const INDEXED_VALUE: usize = 160;

/// The run's entry in `checkpoint-heads`: written (blindly) by every checkpoint write, so its
/// version moves with every change to the run and whole-run operations can guard on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Head {
    /// The namespace, spelled out even where its key is a hash (so namespaces stay listable).
    pub namespace: String,
    /// The run.
    pub run: String,
    /// Whether the newest checkpoint is the run's current one (false after a clear).
    pub active: bool,
    /// When the run's checkpoints expire, if they do.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// Checks a namespace (a pipeline id, or the path of a nested sub-pipeline): 1 to 64 KiB,
/// without NUL, U+001E or U+001F.
pub fn validate_namespace(namespace: &str) -> Result<()> {
    if namespace.is_empty()
        || namespace.len() > MAX_NAMESPACE
        || namespace.contains(['\0', HASHED, SEP])
    {
        return Err(Error::invalid(
            "checkpoint namespace",
            format!("must be 1–{MAX_NAMESPACE} bytes without NUL, U+001E or U+001F"),
        ));
    }
    Ok(())
}

/// Checks a checkpoint id or task id: the rule of run ids (1–200 bytes, no NUL or U+001F).
pub(crate) fn validate_id(what: &'static str, id: &str) -> Result<()> {
    if id.is_empty() || id.len() > crate::packrun::MAX_RUN_ID || id.contains(['\0', SEP]) {
        return Err(Error::invalid(
            what,
            format!(
                "must be 1–{} bytes without NUL or U+001F",
                crate::packrun::MAX_RUN_ID
            ),
        ));
    }
    Ok(())
}

/// The keys of one run of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct RunKeys {
    /// `ns␟run`: the head's key.
    pub head: String,
    /// `ns␟run␟`: the prefix of the run's history, writes and metadata index.
    pub prefix: String,
}

fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The key of `namespace`: itself, or a hash if it is long.
pub(crate) fn namespace_key(namespace: &str) -> String {
    if namespace.len() <= SPELLED_OUT {
        namespace.to_owned()
    } else {
        format!("{HASHED}{}", digest(namespace))
    }
}

/// The prefix of every key of `namespace` in the per-run collections.
pub(crate) fn namespace_prefix(namespace: &str) -> String {
    format!("{}{SEP}", namespace_key(namespace))
}

/// The first key after every head key of the namespace whose key is `key`.
pub(crate) fn after_namespace(key: &str) -> String {
    // ' ' (0x20) sorts right after the separator (0x1f).
    format!("{key} ")
}

/// The namespace key of a head key.
pub(crate) fn namespace_key_of(head_key: &str) -> &str {
    head_key.split(SEP).next().unwrap_or(head_key)
}

impl RunKeys {
    /// The keys of `run` in `namespace` (both already validated).
    pub fn new(namespace: &str, run: &str) -> Self {
        let head = format!("{}{SEP}{run}", namespace_key(namespace));
        let prefix = format!("{head}{SEP}");
        RunKeys { head, prefix }
    }

    /// The history key of checkpoint `id`.
    pub fn entry(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The prefix of the pending writes of checkpoint `id`.
    pub fn writes_of(&self, id: &str) -> String {
        format!("{}{id}{SEP}", self.prefix)
    }

    /// The key of write `index` of `task` to checkpoint `id`.
    pub fn write(&self, id: &str, task: &str, index: usize) -> String {
        format!("{}{id}{SEP}{task}{SEP}{index:010}", self.prefix)
    }

    /// The prefix of the metadata index entries of `field` = `value`.
    pub fn metadata_of(&self, field: &str, value: &Value) -> String {
        format!("{}{}{SEP}", self.prefix, metadata_term(field, value))
    }

    /// The expiry index key of this run at `at`.
    pub fn expiry(&self, at: Timestamp) -> String {
        format!("{}{SEP}{}", expiry_prefix(at), self.head)
    }
}

/// `"field"=value` as JSON text (which never holds U+001F raw), hashed if long.
fn metadata_term(field: &str, value: &Value) -> String {
    let field = Value::String(field.to_owned()).to_string();
    let value = value.to_string();
    let term = format!("{field}={value}");
    if term.len() <= INDEXED_VALUE {
        term
    } else {
        format!("{HASHED}{}", digest(&term))
    }
}

/// Expiry keys sort by time: milliseconds as 13+ digits (zero-padded, negative clamped to 0).
pub(crate) fn expiry_prefix(at: Timestamp) -> String {
    format!("{:015}", at.millis().max(0))
}

/// The head key inside an expiry key.
pub(crate) fn head_of_expiry(key: &str) -> Option<&str> {
    key.split_once(SEP).map(|(_, head)| head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn long_namespaces_are_hashed_and_short_ones_spelled_out() {
        assert_eq!(namespace_key("orders"), "orders");
        let long = "a/".repeat(5_000);
        let key = namespace_key(&long);
        assert!(key.len() < 80 && key.starts_with(HASHED));
        assert_ne!(key, namespace_key(&format!("{long}b")));
        assert!(validate_namespace(&long).is_ok());
        assert!(validate_namespace("a\u{1f}b").is_err());
        assert!(validate_namespace(&"x".repeat(MAX_NAMESPACE + 1)).is_err());
    }

    #[test]
    fn metadata_terms_are_unambiguous_and_bounded() {
        let keys = RunKeys::new("ns", "r");
        assert_ne!(
            keys.metadata_of("a=", &json!("b")),
            keys.metadata_of("a", &json!("=b"))
        );
        assert_ne!(
            keys.metadata_of("step", &json!(1)),
            keys.metadata_of("step", &json!("1"))
        );
        let long = keys.metadata_of("blob", &json!("x".repeat(10_000)));
        assert!(long.len() < 120);
    }

    #[test]
    fn expiry_keys_sort_by_time() {
        let keys = RunKeys::new("ns", "r");
        let early = keys.expiry(Timestamp::from_millis(999));
        let late = keys.expiry(Timestamp::from_millis(1_000_000));
        assert!(early < late);
        assert_eq!(head_of_expiry(&early), Some(keys.head.as_str()));
    }
}
