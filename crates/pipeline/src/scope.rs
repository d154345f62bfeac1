//! The emitting scope of a run at one place in its pipeline tree.

use crate::events::{Emitter, EventKind, PathNode};
use std::sync::Arc;

/// Who and where events come from.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub emitter: Emitter,
    pub run_id: Arc<str>,
    pub root_id: Arc<str>,
    pub path: Vec<PathNode>,
}

impl Scope {
    pub fn emit(&self, kind: impl FnOnce() -> EventKind) {
        self.emitter
            .emit(&self.run_id, &self.root_id, || self.path.clone(), kind);
    }

    /// This scope narrowed to `stage` of its innermost pipeline.
    pub fn at_stage(&self, stage: &str) -> Scope {
        let mut s = self.clone();
        if let Some(last) = s.path.last_mut() {
            last.stage = Some(stage.to_owned());
        }
        s
    }

    /// This scope (at a stage) extended into a child pipeline.
    pub fn child_scope(&self, pipeline: &str, namespace: &str) -> Scope {
        let mut s = self.clone();
        s.path.push(PathNode {
            pipeline: pipeline.to_owned(),
            stage: None,
            namespace: Some(namespace.to_owned()),
        });
        s
    }
}
