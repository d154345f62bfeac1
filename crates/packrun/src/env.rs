//! A step's environment values: plain text, a secret literal, or a variable of berth's own
//! environment.
//!
//! In a plan an environment value is one of:
//! - `"text"`: plain; stored and shown as written;
//! - `{"value": "text", "secret": true}`: a secret literal. It is held as a
//!   [`Secret`] from parsing to the child's environment, stored and shown as `***`;
//! - `{"fromEnv": "NAME", "secret": true}`: the value of `NAME` in berth's environment,
//!   read when a run starts or resumes, so the value need not be in the plan file at all.
//!   Only the variable's name is stored.
//!
//! `secret` defaults to `false`: `{"value": "x"}` is the same as `"x"`, and
//! `{"fromEnv": "NAME"}` is a plain value (passed on, not masked). The child process gets
//! every value unchanged; what a run stores and prints has every secret value masked
//! (see [`mask`](crate::mask)).

use berth_core::{Secret, REDACTED};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// One environment value of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Plain text.
    Plain(String),
    /// A secret literal from the plan; serialised as `{"secret": true, "value": "***"}`.
    Secret(Secret<String>),
    /// Read from berth's own environment; serialised with the variable's name only.
    FromEnv {
        /// The variable of berth's environment.
        name: String,
        /// Whether its value is masked.
        secret: bool,
    },
}

/// A `fromEnv` variable that berth's environment lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{key} is read from berth's environment variable {variable}, which is not set (or not UTF-8)"
)]
pub struct MissingVariable {
    /// The step's environment name.
    pub key: String,
    /// The variable of berth's environment.
    pub variable: String,
}

impl EnvValue {
    /// Whether the plan marks the value secret.
    pub fn is_secret(&self) -> bool {
        match self {
            EnvValue::Plain(_) => false,
            EnvValue::Secret(_) => true,
            EnvValue::FromEnv { secret, .. } => *secret,
        }
    }

    /// The value the child gets; `fromEnv` reads berth's environment now.
    pub fn resolve(&self, key: &str) -> Result<Secret<String>, MissingVariable> {
        match self {
            EnvValue::Plain(v) => Ok(Secret::new(v.clone())),
            EnvValue::Secret(v) => Ok(v.clone()),
            EnvValue::FromEnv { name, .. } => {
                std::env::var(name)
                    .map(Secret::new)
                    .map_err(|_| MissingVariable {
                        key: key.to_owned(),
                        variable: name.clone(),
                    })
            }
        }
    }

    /// `fill` applied to the text written in the plan: the value, or the `fromEnv` name (so
    /// a map can read `TOKEN_{{item}}`).
    pub fn map_text(&self, fill: impl Fn(&str) -> String) -> EnvValue {
        match self {
            EnvValue::Plain(v) => EnvValue::Plain(fill(v)),
            EnvValue::Secret(v) => EnvValue::Secret(Secret::new(fill(v.expose()))),
            EnvValue::FromEnv { name, secret } => EnvValue::FromEnv {
                name: fill(name),
                secret: *secret,
            },
        }
    }
}

impl From<&str> for EnvValue {
    fn from(value: &str) -> Self {
        EnvValue::Plain(value.to_owned())
    }
}

/// A step's environment resolved for its child process: plain values and secret ones apart,
/// so only the secret ones are ever masked and none is ever formatted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedEnv {
    /// Values shown as they are.
    pub plain: BTreeMap<String, String>,
    /// Values marked secret.
    pub secret: BTreeMap<String, Secret<String>>,
}

/// Resolves every value of `env` (reading `fromEnv` variables now).
pub fn resolve(env: &BTreeMap<String, EnvValue>) -> Result<ResolvedEnv, MissingVariable> {
    let mut out = ResolvedEnv::default();
    for (key, value) in env {
        let resolved = value.resolve(key)?;
        if value.is_secret() {
            out.secret.insert(key.clone(), resolved);
        } else {
            out.plain.insert(key.clone(), resolved.into_inner());
        }
    }
    Ok(out)
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvValue::Plain(v) => serializer.serialize_str(v),
            EnvValue::Secret(_) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("secret", &true)?;
                map.serialize_entry("value", REDACTED)?;
                map.end()
            }
            EnvValue::FromEnv { name, secret } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("fromEnv", name)?;
                map.serialize_entry("secret", secret)?;
                map.end()
            }
        }
    }
}

/// Reads one value; `key` (when known) names it in errors.
struct ValueVisitor<'a> {
    key: Option<&'a str>,
}

impl ValueVisitor<'_> {
    fn err<E: de::Error>(&self, why: &str) -> E {
        match self.key {
            Some(k) => E::custom(format!("environment value of {k}: {why}")),
            None => E::custom(format!("environment value: {why}")),
        }
    }
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = EnvValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, or an object with `value` or `fromEnv` and optionally `secret`")?;
        if let Some(k) = self.key {
            write!(f, " (environment value of {k})")?;
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvValue, E> {
        Ok(EnvValue::Plain(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<EnvValue, E> {
        Ok(EnvValue::Plain(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EnvValue, A::Error> {
        let mut value: Option<String> = None;
        let mut from_env: Option<String> = None;
        let mut secret: Option<bool> = None;
        while let Some(field) = map.next_key::<String>()? {
            let duplicate = match field.as_str() {
                "value" => value.replace(map.next_value::<Text>()?.0).is_some(),
                "fromEnv" => from_env.replace(map.next_value()?).is_some(),
                "secret" => secret.replace(map.next_value()?).is_some(),
                other => {
                    return Err(self.err(&format!(
                        "unknown field `{other}`, expected `value`, `fromEnv` or `secret`"
                    )))
                }
            };
            if duplicate {
                return Err(self.err(&format!("field `{field}` appears twice")));
            }
        }
        let secret = secret.unwrap_or(false);
        match (value, from_env) {
            (Some(v), None) if secret => Ok(EnvValue::Secret(Secret::new(v))),
            (Some(v), None) => Ok(EnvValue::Plain(v)),
            (None, Some(name)) => Ok(EnvValue::FromEnv { name, secret }),
            (Some(_), Some(_)) => Err(self.err("give either `value` or `fromEnv`, not both")),
            (None, None) => Err(self.err("needs `value` or `fromEnv`")),
        }
    }
}

/// The `value` field: a string. Anything else is refused without quoting it, since it may
/// be a secret (serde's usual message shows the number or boolean it got).
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text, E> {
                Err(E::custom("`value` must be a string"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text, E> {
                Err(E::custom("`value` must be a string"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text, E> {
                Err(E::custom("`value` must be a string"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text, E> {
                Err(E::custom("`value` must be a string"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor { key: None })
    }
}

struct KeyedValue<'a>(&'a str);

impl<'de> de::DeserializeSeed<'de> for KeyedValue<'_> {
    type Value = EnvValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<EnvValue, D::Error> {
        deserializer.deserialize_any(ValueVisitor { key: Some(self.0) })
    }
}

struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = BTreeMap<String, EnvValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of environment values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(KeyedValue(&key))?;
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// Deserialises a step's `env`, naming the key of a malformed value in the error.
pub(crate) fn deserialize_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, EnvValue>, D::Error> {
    deserializer.deserialize_map(MapVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<EnvValue, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn every_shape_parses_and_serialises_without_the_secret() {
        assert_eq!(parse(r#""a""#).unwrap(), EnvValue::from("a"));
        assert_eq!(parse(r#"{"value":"a"}"#).unwrap(), EnvValue::from("a"));
        let s = parse(r#"{"value":"hunter22","secret":true}"#).unwrap();
        assert!(s.is_secret());
        assert_eq!(s.resolve("K").unwrap().expose(), "hunter22");
        let shown = format!("{s:?} {}", serde_json::to_string(&s).unwrap());
        assert!(!shown.contains("hunter22"), "{shown}");
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"secret": true, "value": "***"})
        );
        let f = parse(r#"{"secret":true,"fromEnv":"HOME"}"#).unwrap();
        assert_eq!(
            f,
            EnvValue::FromEnv {
                name: "HOME".into(),
                secret: true
            }
        );
        assert_eq!(
            serde_json::to_value(&f).unwrap(),
            serde_json::json!({"fromEnv": "HOME", "secret": true})
        );
        assert!(!parse(r#"{"fromEnv":"HOME"}"#).unwrap().is_secret());
    }

    #[test]
    fn malformed_values_are_refused_by_key() {
        let env = |json: &str| -> String {
            let mut d = serde_json::Deserializer::from_str(json);
            deserialize_map(&mut d).unwrap_err().to_string()
        };
        for (json, says) in [
            (r#"{"K":{"value":"a","fromEnv":"B"}}"#, "not both"),
            (r#"{"K":{"secret":true}}"#, "needs `value` or `fromEnv`"),
            (r#"{"K":{"vaule":"a"}}"#, "unknown field `vaule`"),
            (r#"{"K":{"value":"a","value":"b"}}"#, "appears twice"),
            (r#"{"K":7}"#, "a string, or an object"),
        ] {
            let e = env(json);
            assert!(e.contains(says), "{json}: {e}");
            assert!(e.contains("environment value of K"), "{json}: {e}");
        }
        // A field of the wrong type is named by its position.
        let e = env(r#"{"K":{"value":"a","secret":"yes"}}"#);
        assert!(e.contains("expected a boolean at line 1"), "{e}");
        // A value that is not a string is refused without being quoted.
        let e = env(r#"{"K":{"value":987654321,"secret":true}}"#);
        assert!(e.contains("`value` must be a string at line 1"), "{e}");
        assert!(!e.contains("987654321"), "{e}");
    }

    #[test]
    fn from_env_is_read_when_resolved() {
        let missing = EnvValue::FromEnv {
            name: "BERTH_TEST_SURELY_UNSET_VARIABLE".into(),
            secret: true,
        };
        let e = missing.resolve("TOKEN").unwrap_err();
        assert_eq!(e.key, "TOKEN");
        assert!(e.to_string().contains("BERTH_TEST_SURELY_UNSET_VARIABLE"));
        let mut env = BTreeMap::new();
        env.insert("A".to_owned(), EnvValue::from("1"));
        env.insert(
            "B".to_owned(),
            EnvValue::Secret(Secret::new("two-two".to_owned())),
        );
        let r = resolve(&env).unwrap();
        assert_eq!(r.plain["A"], "1");
        assert_eq!(r.secret["B"].expose(), "two-two");
        assert!(!r.plain.contains_key("B"));
    }
}
