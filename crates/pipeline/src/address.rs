//! Where a run is: the durable cursor and the resume address of a checkpoint.

use serde::{Deserialize, Serialize};

/// A position in a pipeline: a stage, optionally a step to start from, and when the stage's
/// steps are already committed, the position inside one of its sub-pipelines.
///
/// The run's cursor is an `Option<ResumeAddress>`; `None` means the pipeline has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeAddress {
    /// The stage id.
    pub stage: String,
    /// Start the stage's steps at this step (declaration order) instead of the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The stage's steps are committed; the run is inside this child pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<Box<ChildAddress>>,
}

/// The position inside a sub-pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildAddress {
    /// The sub-pipeline's namespace in its stage.
    pub namespace: String,
    /// Where the child is; `None` means the child has ended.
    pub at: Option<ResumeAddress>,
}

impl ResumeAddress {
    /// The start of stage `stage`.
    pub fn stage(stage: impl Into<String>) -> Self {
        ResumeAddress {
            stage: stage.into(),
            step: None,
            child: None,
        }
    }

    /// The start of stage `stage` at step `step`.
    pub fn step(stage: impl Into<String>, step: impl Into<String>) -> Self {
        ResumeAddress {
            stage: stage.into(),
            step: Some(step.into()),
            child: None,
        }
    }

    /// `at` inside the child `namespace` of stage `stage`.
    pub fn in_child(
        stage: impl Into<String>,
        namespace: impl Into<String>,
        at: Option<ResumeAddress>,
    ) -> Self {
        ResumeAddress {
            stage: stage.into(),
            step: None,
            child: Some(Box::new(ChildAddress {
                namespace: namespace.into(),
                at,
            })),
        }
    }

    /// The innermost stage id (inside sub-pipelines).
    pub fn innermost_stage(&self) -> &str {
        match self.child.as_ref().and_then(|c| c.at.as_ref()) {
            Some(inner) => inner.innermost_stage(),
            None => &self.stage,
        }
    }
}

impl std::fmt::Display for ResumeAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.stage)?;
        if let Some(step) = &self.step {
            write!(f, "#{step}")?;
        }
        if let Some(child) = &self.child {
            write!(f, "/{}:", child.namespace)?;
            match &child.at {
                Some(at) => write!(f, "{at}")?,
                None => f.write_str("(end)")?,
            }
        }
        Ok(())
    }
}

/// A frame's way up: the (stage, namespace) pairs of its ancestors, outermost first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ancestry(pub Vec<(String, String)>);

impl Ancestry {
    /// Turns a frame-level cursor into the run-level cursor.
    pub fn wrap(&self, at: Option<ResumeAddress>) -> Option<ResumeAddress> {
        self.0.iter().rev().fold(at, |inner, (stage, ns)| {
            Some(ResumeAddress::in_child(stage.clone(), ns.clone(), inner))
        })
    }

    pub fn child(&self, stage: &str, ns: &str) -> Ancestry {
        let mut v = self.0.clone();
        v.push((stage.to_owned(), ns.to_owned()));
        Ancestry(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_nests_outermost_first() {
        let a = Ancestry(vec![("s1".into(), "a".into()), ("t1".into(), "b".into())]);
        let w = a.wrap(Some(ResumeAddress::stage("u1"))).unwrap();
        assert_eq!(w.to_string(), "s1/a:t1/b:u1");
        assert_eq!(w.innermost_stage(), "u1");
        assert_eq!(a.wrap(None).unwrap().to_string(), "s1/a:t1/b:(end)");
        assert_eq!(Ancestry::default().wrap(None), None);
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(serde_json::from_value::<ResumeAddress>(json).unwrap(), w);
    }
}
