//! Masking secret values in what a run stores and prints, as GitHub Actions masks secrets.
//!
//! A run's [`Masker`] knows the value of every environment value its plan marks secret
//! (literals and `fromEnv` variables, read when the run starts or resumes). Every log entry
//! (command output lines, step and run events, error messages) and every step error stored
//! on the run goes through it first: each occurrence of a secret value becomes `***`.
//!
//! Values shorter than [`MIN_MASKED_LEN`] characters are passed to the child but not
//! masked: masking `1` or `no` would garble every line and show the value by what went
//! missing. A multi-line value is masked whole and line by line, since output is stored
//! one line per entry.

use crate::plan::Plan;
use berth_core::{Secret, REDACTED};
use std::borrow::Cow;
use std::sync::Arc;

/// Secret values shorter than this many characters are not masked.
pub const MIN_MASKED_LEN: usize = 4;

/// Replaces secret values by `***`; cheap to clone.
#[derive(Clone, Default)]
pub struct Masker {
    /// Longest first, so a secret that contains another is masked whole.
    values: Arc<Vec<Secret<String>>>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} values)", self.values.len())
    }
}

impl Masker {
    /// A masker for `values` (those shorter than [`MIN_MASKED_LEN`] are left out).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut all: Vec<String> = Vec::new();
        for value in values {
            let lines = value.lines().map(|l| l.trim_end_matches('\r'));
            for v in std::iter::once(value).chain(lines) {
                if v.chars().count() >= MIN_MASKED_LEN && !all.iter().any(|a| a == v) {
                    all.push(v.to_owned());
                }
            }
        }
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        Masker {
            values: Arc::new(all.into_iter().map(Secret::new).collect()),
        }
    }

    /// A masker for every secret value of `plan`; a `fromEnv` variable that is not set
    /// has no value to mask (the step that needs it fails before it starts).
    pub fn for_plan(plan: &Plan) -> Masker {
        let mut values = Vec::new();
        for step in plan.run_steps() {
            for (key, value) in &step.env {
                if value.is_secret() {
                    if let Ok(v) = value.resolve(key) {
                        values.push(v.into_inner());
                    }
                }
            }
        }
        Masker::new(values.iter().map(String::as_str))
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value replaced by `***`.
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for v in self.values.iter() {
            if out.contains(v.expose().as_str()) {
                out = Cow::Owned(out.replace(v.expose().as_str(), REDACTED));
            }
        }
        out
    }

    /// [`Masker::mask`] into an owned string.
    pub fn masked(&self, text: String) -> String {
        match self.mask(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_is_masked_longest_first() {
        let m = Masker::new(["hunter22", "hunter22-extended", "abc", ""]);
        assert_eq!(
            m.mask("token=hunter22-extended and hunter22, hunter22"),
            "token=*** and ***, ***"
        );
        assert!(matches!(m.mask("nothing here"), Cow::Borrowed(_)));
        // Too short to mask: "abc" stays.
        assert_eq!(m.mask("abc"), "abc");
        assert!(Masker::new(["abc", ""]).is_empty());
        assert_eq!(format!("{m:?}"), "Masker(2 values)");
    }

    #[test]
    fn multi_line_values_are_masked_line_by_line() {
        let m = Masker::new(["-----BEGIN KEY-----\r\nMIIEsecretline\n-----END KEY-----"]);
        assert_eq!(m.mask("MIIEsecretline"), "***");
        assert_eq!(m.mask("-----END KEY-----"), "***");
    }

    #[test]
    fn a_plan_masks_its_secret_literals_only() {
        let plan = Plan::from_json(
            r#"{"name":"p","steps":[
                {"kind":"run","id":"a","program":"x","env":{"P":"plain-value","S":{"value":"s3cret-one","secret":true}}},
                {"kind":"map","id":"m","items":["i"],"step":{"id":"t","program":"x","env":{"S":{"value":"s3cret-{{item}}","secret":true}}}}
            ]}"#,
        )
        .unwrap();
        let m = Masker::for_plan(&plan);
        assert_eq!(
            m.mask("plain-value s3cret-one s3cret-i"),
            "plain-value *** ***"
        );
    }
}
