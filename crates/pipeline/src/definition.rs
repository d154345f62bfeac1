//! Pipeline, stage and step definitions.

use crate::address::ResumeAddress;
use crate::context::StepContext;
use crate::error::{PipelineError, StepError};
use crate::retry::RetryPolicy;
use crate::router::{Route, Router, RouterInput};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// A step's action: given its context, returns a state patch (see [`crate::patch`]).
pub type Action =
    Arc<dyn Fn(StepContext) -> BoxFuture<'static, Result<Value, StepError>> + Send + Sync>;

/// One unit of work of a stage.
#[derive(Clone)]
pub struct Step {
    /// Unique within its stage.
    pub id: String,
    /// For people.
    pub label: String,
    /// What it does.
    pub action: Action,
    /// How often it is tried.
    pub retry: RetryPolicy,
    /// Limit of one attempt; a timed-out attempt counts as a failed one.
    pub timeout: Option<Duration>,
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Step")
            .field("id", &self.id)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Step {
    /// A step running `action`, tried once, without a timeout.
    pub fn new<F, Fut>(id: impl Into<String>, action: F) -> Self
    where
        F: Fn(StepContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, StepError>> + Send + 'static,
    {
        let id = id.into();
        Step {
            label: id.clone(),
            id,
            action: Arc::new(move |ctx| action(ctx).boxed()),
            retry: RetryPolicy::default(),
            timeout: None,
        }
    }

    /// A step over a typed state: the committed state is decoded as `S` (a mismatch is a
    /// permanent step error) and the returned `P` is encoded as the patch.
    pub fn typed<S, P, F, Fut>(id: impl Into<String>, action: F) -> Self
    where
        S: DeserializeOwned + Send + 'static,
        P: Serialize + 'static,
        F: Fn(StepContext, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<P, StepError>> + Send + 'static,
    {
        let action = Arc::new(action);
        Step::new(id, move |ctx: StepContext| {
            let action = action.clone();
            async move {
                let state: S = ctx.state_as()?;
                let patch = action(ctx, state).await?;
                Ok(serde_json::to_value(patch)?)
            }
        })
    }

    /// This step with `label`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// This step with `retry`.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// This step with a per-attempt `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A child pipeline run by a stage, sharing the run's state under `namespace`.
#[derive(Debug, Clone)]
pub struct SubPipeline {
    /// The key of the parent's state the child reads and patches.
    pub namespace: String,
    /// The child.
    pub pipeline: Arc<Pipeline>,
}

/// A set of steps run concurrently and committed together, then routed.
#[derive(Clone)]
pub struct Stage {
    /// Unique within its pipeline.
    pub id: String,
    /// Stages advance in ascending `order` (ties: declaration order).
    pub order: i64,
    /// For people.
    pub label: String,
    /// Run concurrently.
    pub steps: Vec<Step>,
    /// Decides what comes next; none = [`Route::Advance`].
    pub router: Option<Router>,
    /// Child pipelines run one after another after the steps, before the router.
    pub sub_pipelines: Vec<SubPipeline>,
    /// Limit of the steps of the stage (all attempts); exceeding it fails the stage.
    pub timeout: Option<Duration>,
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage")
            .field("id", &self.id)
            .field("order", &self.order)
            .field("steps", &self.steps)
            .field("router", &self.router.is_some())
            .field("sub_pipelines", &self.sub_pipelines)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Stage {
    /// An empty stage; its order is its position unless set with [`Stage::order`].
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Stage {
            label: id.clone(),
            id,
            order: i64::MIN,
            steps: Vec::new(),
            router: None,
            sub_pipelines: Vec::new(),
            timeout: None,
        }
    }

    /// This stage with `label`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// This stage with `order`.
    pub fn order(mut self, order: i64) -> Self {
        self.order = order;
        self
    }

    /// This stage with one more step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// This stage routed by `router`.
    pub fn router<F>(mut self, router: F) -> Self
    where
        F: Fn(&RouterInput<'_>) -> Route + Send + Sync + 'static,
    {
        self.router = Some(Arc::new(router));
        self
    }

    /// This stage running `pipeline` as a child under `namespace` of the state.
    pub fn sub_pipeline(mut self, namespace: impl Into<String>, pipeline: Pipeline) -> Self {
        self.sub_pipelines.push(SubPipeline {
            namespace: namespace.into(),
            pipeline: Arc::new(pipeline),
        });
        self
    }

    /// This stage with a `timeout` over all its steps.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A routed sequence of stages.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Names the pipeline's stored runs and checkpoints (1–200 bytes, no NUL).
    pub id: String,
    /// For people.
    pub label: String,
    /// Sorted by order by [`Pipeline::new`]'s builder methods.
    stages: Vec<Stage>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Pipeline {
            label: id.clone(),
            id,
            stages: Vec::new(),
        }
    }

    /// This pipeline with `label`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// This pipeline with one more stage (kept sorted by order, then declaration).
    pub fn stage(mut self, mut stage: Stage) -> Self {
        if stage.order == i64::MIN {
            stage.order = self.stages.last().map_or(0, |s| s.order.saturating_add(1));
        }
        let at = self.stages.partition_point(|s| s.order <= stage.order);
        self.stages.insert(at, stage);
        self
    }

    /// The stages in execution order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The index of stage `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.id == id)
    }

    /// Checks that `address` names a stage (and step, and sub-pipeline, recursively) of
    /// this pipeline; the error says what is missing.
    pub fn check_address(&self, address: &ResumeAddress) -> Result<(), String> {
        let Some(idx) = self.index_of(&address.stage) else {
            return Err(format!(
                "pipeline {} has no stage {}",
                self.id, address.stage
            ));
        };
        let stage = &self.stages[idx];
        if let Some(step) = &address.step {
            if !stage.steps.iter().any(|s| &s.id == step) {
                return Err(format!("stage {} has no step {step}", stage.id));
            }
        }
        if let Some(child) = &address.child {
            let Some(sub) = stage
                .sub_pipelines
                .iter()
                .find(|c| c.namespace == child.namespace)
            else {
                return Err(format!(
                    "stage {} has no sub-pipeline {}",
                    stage.id, child.namespace
                ));
            };
            if let Some(at) = &child.at {
                sub.pipeline.check_address(at)?;
            }
        }
        Ok(())
    }

    /// Checks ids (non-empty, unique, no `/` or control characters) here and in every child.
    pub fn validate(&self) -> Result<(), PipelineError> {
        check_id("pipeline", &self.id)?;
        if self.id.len() > 200 {
            return Err(PipelineError::Definition(format!(
                "pipeline id {:?} is longer than 200 bytes",
                self.id
            )));
        }
        let mut stages = HashSet::new();
        for stage in &self.stages {
            check_id("stage", &stage.id)?;
            if !stages.insert(stage.id.as_str()) {
                return Err(PipelineError::Definition(format!(
                    "stage id {:?} appears twice in pipeline {:?}",
                    stage.id, self.id
                )));
            }
            let mut steps = HashSet::new();
            for step in &stage.steps {
                check_id("step", &step.id)?;
                if !steps.insert(step.id.as_str()) {
                    return Err(PipelineError::Definition(format!(
                        "step id {:?} appears twice in stage {:?}",
                        step.id, stage.id
                    )));
                }
            }
            let mut namespaces = HashSet::new();
            for child in &stage.sub_pipelines {
                check_id("namespace", &child.namespace)?;
                if !namespaces.insert(child.namespace.as_str()) {
                    return Err(PipelineError::Definition(format!(
                        "namespace {:?} appears twice in stage {:?}",
                        child.namespace, stage.id
                    )));
                }
                child.pipeline.validate()?;
            }
        }
        Ok(())
    }
}

fn check_id(what: &str, id: &str) -> Result<(), PipelineError> {
    if id.is_empty() || id.len() > 200 || id.contains('/') || id.chars().any(char::is_control) {
        return Err(PipelineError::Definition(format!(
            "{what} id {id:?} must be 1–200 bytes without '/' or control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(id: &str) -> Step {
        Step::new(id, |_| async { Ok(Value::Null) })
    }

    #[test]
    fn stages_sort_by_order_then_declaration() {
        let p = Pipeline::new("p")
            .stage(Stage::new("c").order(5))
            .stage(Stage::new("a").order(1))
            .stage(Stage::new("b").order(1))
            .stage(Stage::new("d"));
        let ids: Vec<_> = p.stages().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        assert_eq!(p.index_of("c"), Some(2));
    }

    #[test]
    fn duplicate_and_bad_ids_are_rejected() {
        let dup = Pipeline::new("p")
            .stage(Stage::new("a"))
            .stage(Stage::new("a"));
        assert!(matches!(dup.validate(), Err(PipelineError::Definition(_))));
        let steps = Pipeline::new("p").stage(Stage::new("a").step(noop("x")).step(noop("x")));
        assert!(steps.validate().is_err());
        assert!(Pipeline::new("p/q").validate().is_err());
        assert!(Pipeline::new("").validate().is_err());
        let child = Pipeline::new("p").stage(
            Stage::new("a").sub_pipeline("ns", Pipeline::new("c").stage(Stage::new("bad\n"))),
        );
        assert!(child.validate().is_err());
        assert!(Pipeline::new("ok")
            .stage(Stage::new("a").step(noop("x")))
            .validate()
            .is_ok());
    }

    #[test]
    fn addresses_are_checked_recursively() {
        let p = Pipeline::new("p").stage(
            Stage::new("a")
                .step(noop("x"))
                .sub_pipeline("kid", Pipeline::new("c").stage(Stage::new("inner"))),
        );
        assert!(p.check_address(&ResumeAddress::step("a", "x")).is_ok());
        assert!(p.check_address(&ResumeAddress::step("a", "y")).is_err());
        assert!(p.check_address(&ResumeAddress::stage("b")).is_err());
        let inner = Some(ResumeAddress::stage("inner"));
        assert!(p
            .check_address(&ResumeAddress::in_child("a", "kid", inner))
            .is_ok());
        assert!(p
            .check_address(&ResumeAddress::in_child("a", "kid", None))
            .is_ok());
        let wrong = Some(ResumeAddress::stage("nope"));
        assert!(p
            .check_address(&ResumeAddress::in_child("a", "kid", wrong))
            .is_err());
        assert!(p
            .check_address(&ResumeAddress::in_child("a", "other", None))
            .is_err());
    }
}
