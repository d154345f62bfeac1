//! The task-pack plan: what a pack run executes, parsed from JSON and checked before any write.

use crate::env::{EnvValue, MissingVariable};
use berth_core::packrun::FailurePolicy;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// A task pack: named steps run in order, with a default failure policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    /// The pack's name.
    pub name: String,
    /// What it does, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Applies to every command step without its own policy (defaults 1 attempt, 0 s, false).
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// Executed in order.
    pub steps: Vec<PlanStep>,
}

/// One step of a plan, by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PlanStep {
    /// Runs a program.
    Run(RunStep),
    /// Waits for people to approve.
    Approval(ApprovalStep),
    /// Runs command steps concurrently.
    Parallel(ParallelStep),
    /// Runs a command template once per item.
    Map(MapStep),
}

/// A command: program, arguments, environment, working directory, timeout, outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunStep {
    /// Unique in the plan.
    pub id: String,
    /// The program (a path, or a name looked up in `PATH`).
    pub program: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment variables: text, a secret literal or read from berth's own
    /// environment (see [`EnvValue`]).
    #[serde(default, deserialize_with = "crate::env::deserialize_map")]
    pub env: BTreeMap<String, EnvValue>,
    /// Relative to the plan file's directory; default: that directory.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Limit of one attempt, in seconds (default: the runner's step timeout, one hour
    /// unless changed).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Files the step produces, captured as artifacts.
    #[serde(default)]
    pub outputs: Vec<Output>,
    /// Overrides the plan's failure policy.
    #[serde(default)]
    pub failure_policy: Option<FailurePolicy>,
}

/// A declared output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Output {
    /// Artifact name, unique in the plan.
    pub name: String,
    /// Relative to the step's working directory.
    pub path: String,
}

/// An approval gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApprovalStep {
    /// Unique in the plan; also the gate id unless `gate` is set.
    pub id: String,
    /// The gate id people approve.
    #[serde(default)]
    pub gate: Option<String>,
    /// What approvers are asked.
    #[serde(default)]
    pub message: Option<String>,
    /// Approvals needed (default 1).
    #[serde(default = "one")]
    pub required: u32,
}

fn one() -> u32 {
    1
}

/// Command steps run concurrently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParallelStep {
    /// Unique in the plan.
    pub id: String,
    /// At most this many at once (default: all).
    #[serde(default)]
    pub max_parallel: Option<u32>,
    /// A failing child does not fail the block.
    #[serde(default)]
    pub continue_on_error: bool,
    /// The children: `run` steps.
    pub steps: Vec<PlanStep>,
}

/// A command template run once per item; `{{item}}` and `{{index}}` are replaced in the
/// program, arguments, environment values, working directory and output paths. Item `i`
/// runs as step `<id>.<i>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MapStep {
    /// Unique in the plan.
    pub id: String,
    /// The items.
    pub items: Vec<String>,
    /// At most this many at once (default 1: one after another).
    #[serde(default = "one_opt")]
    pub max_parallel: Option<u32>,
    /// A failing item does not fail the map.
    #[serde(default)]
    pub continue_on_error: bool,
    /// The template; its `id` is ignored.
    pub step: RunStep,
}

fn one_opt() -> Option<u32> {
    Some(1)
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

impl Plan {
    /// Parses and checks a JSON plan; the error names the line and column or the step.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| PlanError(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Checks ids, kinds, counts and names.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.name.trim().is_empty() {
            return Err(PlanError("plan name is empty".into()));
        }
        if self.steps.is_empty() {
            return Err(PlanError("plan has no steps".into()));
        }
        let mut ids = HashSet::new();
        let mut outputs = HashSet::new();
        let mut gates = HashSet::new();
        for step in &self.steps {
            let id = step.id();
            check_id("step id", id)?;
            if !ids.insert(id.to_owned()) {
                return Err(PlanError(format!("step id {id:?} appears twice")));
            }
            match step {
                PlanStep::Run(r) => check_run(r, &mut outputs)?,
                PlanStep::Approval(a) => {
                    let gate = a.gate_id();
                    check_id("gate id", gate)?;
                    if a.required == 0 {
                        return Err(PlanError(format!(
                            "approval {id:?}: required must be at least 1"
                        )));
                    }
                    if !gates.insert(gate.to_owned()) {
                        return Err(PlanError(format!("gate {gate:?} appears twice")));
                    }
                }
                PlanStep::Parallel(p) => {
                    if p.steps.is_empty() {
                        return Err(PlanError(format!("parallel {id:?} has no steps")));
                    }
                    if p.max_parallel == Some(0) {
                        return Err(PlanError(format!("parallel {id:?}: maxParallel is 0")));
                    }
                    for child in &p.steps {
                        let PlanStep::Run(r) = child else {
                            return Err(PlanError(format!(
                                "parallel {id:?}: child {:?} is a {} step; only run steps may be children",
                                child.id(),
                                child.kind()
                            )));
                        };
                        check_id("step id", &r.id)?;
                        if !ids.insert(r.id.clone()) {
                            return Err(PlanError(format!("step id {:?} appears twice", r.id)));
                        }
                        check_run(r, &mut outputs)?;
                    }
                }
                PlanStep::Map(m) => {
                    if m.items.is_empty() {
                        return Err(PlanError(format!("map {id:?} has no items")));
                    }
                    if m.max_parallel == Some(0) {
                        return Err(PlanError(format!("map {id:?}: maxParallel is 0")));
                    }
                    for (i, _) in m.items.iter().enumerate() {
                        let leaf = format!("{id}.{i}");
                        if !ids.insert(leaf.clone()) {
                            return Err(PlanError(format!("step id {leaf:?} appears twice")));
                        }
                    }
                    for r in m.expand() {
                        check_run(&r, &mut outputs)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Plan {
    /// Every command step as it runs: top-level ones, parallel children and map items.
    pub fn run_steps(&self) -> Vec<RunStep> {
        let mut out = Vec::new();
        for step in &self.steps {
            match step {
                PlanStep::Run(r) => out.push(r.clone()),
                PlanStep::Parallel(p) => out.extend(p.steps.iter().filter_map(|c| match c {
                    PlanStep::Run(r) => Some(r.clone()),
                    _ => None,
                })),
                PlanStep::Map(m) => out.extend(m.expand()),
                PlanStep::Approval(_) => {}
            }
        }
        out
    }

    /// (step, key) of every secret literal: values a stored plan does not hold.
    pub fn secret_literals(&self) -> Vec<(String, String)> {
        self.run_steps()
            .into_iter()
            .flat_map(|s| {
                s.env
                    .iter()
                    .filter(|(_, v)| matches!(v, EnvValue::Secret(_)))
                    .map(|(k, _)| (s.id.clone(), k.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The first `fromEnv` variable berth's environment lacks, with its step.
    pub fn missing_variable(&self) -> Option<(String, MissingVariable)> {
        self.run_steps().into_iter().find_map(|s| {
            s.env
                .iter()
                .find_map(|(k, v)| v.resolve(k).err())
                .map(|e| (s.id.clone(), e))
        })
    }
}

/// Step, gate and output ids become keys and file names: the one identifier rule applies.
fn check_id(field: &str, id: &str) -> Result<(), PlanError> {
    if berth_core::ident::is_valid_id(id) {
        return Ok(());
    }
    Err(PlanError(format!(
        "{field} {id:?} must be {}",
        berth_core::ident::ID_RULE
    )))
}

/// Text handed to the operating system (program, arguments, environment) cannot hold NUL.
fn check_os_text(step: &str, field: &str, text: &str) -> Result<(), PlanError> {
    if text.contains('\0') {
        return Err(PlanError(format!("step {step:?}: {field} contains NUL")));
    }
    Ok(())
}

fn check_run(r: &RunStep, outputs: &mut HashSet<String>) -> Result<(), PlanError> {
    if r.program.trim().is_empty() {
        return Err(PlanError(format!("step {:?}: program is empty", r.id)));
    }
    check_os_text(&r.id, "program", &r.program)?;
    for arg in &r.args {
        check_os_text(&r.id, "an argument", arg)?;
    }
    for (key, value) in &r.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(PlanError(format!(
                "step {:?}: environment name {key:?} must be non-empty without '=' or NUL",
                r.id
            )));
        }
        match value {
            EnvValue::Plain(v) => check_os_text(&r.id, &format!("environment value of {key}"), v)?,
            // The message never quotes a secret.
            EnvValue::Secret(v) => check_os_text(
                &r.id,
                &format!("secret environment value of {key}"),
                v.expose(),
            )?,
            EnvValue::FromEnv { name, .. } => {
                if name.is_empty() || name.contains('=') || name.contains('\0') {
                    return Err(PlanError(format!(
                        "step {:?}: environment value of {key}: fromEnv {name:?} must be a variable name, non-empty without '=' or NUL",
                        r.id
                    )));
                }
            }
        }
    }
    if let Some(dir) = &r.working_dir {
        check_os_text(&r.id, "workingDir", dir)?;
    }
    if r.timeout_seconds == Some(0) {
        return Err(PlanError(format!(
            "step {:?}: timeoutSeconds is 0; leave it out for the default limit",
            r.id
        )));
    }
    if let Some(p) = &r.failure_policy {
        if p.max_attempts == 0 {
            return Err(PlanError(format!("step {:?}: maxAttempts is 0", r.id)));
        }
    }
    for o in &r.outputs {
        check_id("output name", &o.name).map_err(|e| PlanError(format!("step {:?}: {e}", r.id)))?;
        check_os_text(&r.id, "output path", &o.path)?;
        if !outputs.insert(o.name.clone()) {
            return Err(PlanError(format!("output name {:?} appears twice", o.name)));
        }
    }
    Ok(())
}

impl PlanStep {
    /// The step's id.
    pub fn id(&self) -> &str {
        match self {
            PlanStep::Run(s) => &s.id,
            PlanStep::Approval(s) => &s.id,
            PlanStep::Parallel(s) => &s.id,
            PlanStep::Map(s) => &s.id,
        }
    }

    /// The step's kind as written in plans.
    pub fn kind(&self) -> &'static str {
        match self {
            PlanStep::Run(_) => "run",
            PlanStep::Approval(_) => "approval",
            PlanStep::Parallel(_) => "parallel",
            PlanStep::Map(_) => "map",
        }
    }

    /// The records this step contributes to a run's flattened step list: command steps
    /// (children and map items included) and gates.
    pub fn leaf_ids(&self) -> Vec<String> {
        match self {
            PlanStep::Run(s) => vec![s.id.clone()],
            PlanStep::Approval(s) => vec![s.id.clone()],
            PlanStep::Parallel(p) => p.steps.iter().map(|c| c.id().to_owned()).collect(),
            PlanStep::Map(m) => (0..m.items.len())
                .map(|i| format!("{}.{i}", m.id))
                .collect(),
        }
    }
}

impl ApprovalStep {
    /// The gate id people approve.
    pub fn gate_id(&self) -> &str {
        self.gate.as_deref().unwrap_or(&self.id)
    }
}

impl MapStep {
    /// One command step per item, `{{item}}`/`{{index}}` replaced.
    pub fn expand(&self) -> Vec<RunStep> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let fill = |s: &str| {
                    s.replace("{{item}}", item)
                        .replace("{{index}}", &i.to_string())
                };
                let t = &self.step;
                RunStep {
                    id: format!("{}.{i}", self.id),
                    program: fill(&t.program),
                    args: t.args.iter().map(|a| fill(a)).collect(),
                    env: t
                        .env
                        .iter()
                        .map(|(k, v)| (k.clone(), v.map_text(fill)))
                        .collect(),
                    working_dir: t.working_dir.as_deref().map(fill),
                    timeout_seconds: t.timeout_seconds,
                    outputs: t
                        .outputs
                        .iter()
                        .map(|o| Output {
                            name: fill(&o.name),
                            path: fill(&o.path),
                        })
                        .collect(),
                    failure_policy: t.failure_policy.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_kinds() {
        let plan = Plan::from_json(
            r#"{"name":"p","steps":[
                {"kind":"run","id":"a","program":"/bin/true"},
                {"kind":"approval","id":"g"},
                {"kind":"parallel","id":"par","steps":[{"kind":"run","id":"b","program":"true"}]},
                {"kind":"map","id":"m","items":["x","y"],"step":{"id":"t","program":"echo","args":["{{item}}-{{index}}"]}}
            ]}"#,
        )
        .unwrap();
        assert_eq!(plan.failure_policy, FailurePolicy::default());
        assert_eq!(plan.failure_policy.max_attempts, 1);
        let PlanStep::Map(m) = &plan.steps[3] else {
            panic!()
        };
        assert_eq!(m.expand()[1].args, ["y-1"]);
        assert_eq!(m.expand()[1].id, "m.1");
        assert_eq!(plan.steps[2].leaf_ids(), ["b"]);
    }

    #[test]
    fn unknown_kind_and_fields_are_named() {
        let e = Plan::from_json(r#"{"name":"p","steps":[{"kind":"shell","id":"a"}]}"#).unwrap_err();
        assert!(e.0.contains("unknown variant `shell`"), "{e}");
        let e = Plan::from_json(
            r#"{"name":"p","steps":[{"kind":"run","id":"a","program":"x","argz":[]}]}"#,
        )
        .unwrap_err();
        assert!(e.0.contains("argz"), "{e}");
        let e = Plan::from_json(r#"{"name":"p","steps":[{"kind":"run","id":"a","program":"x"},{"kind":"run","id":"a","program":"y"}]}"#).unwrap_err();
        assert!(e.0.contains("twice"), "{e}");
        let e = Plan::from_json(r#"{"name":"p","steps":[{"kind":"parallel","id":"p","steps":[{"kind":"approval","id":"g"}]}]}"#).unwrap_err();
        assert!(e.0.contains("only run steps"), "{e}");
        assert!(Plan::from_json("{not json").is_err());
    }

    fn run_step(extra: &str) -> Result<Plan, PlanError> {
        Plan::from_json(&format!(
            r#"{{"name":"p","steps":[{{"kind":"run","id":"a","program":"x"{extra}}}]}}"#
        ))
    }

    #[test]
    fn text_for_the_os_and_limits_are_checked() {
        assert!(run_step(r#","args":["ok"],"env":{"A":"1"},"timeoutSeconds":1"#).is_ok());
        for (extra, says) in [
            (r#","args":["a\u0000b"]"#, "argument contains NUL"),
            (r#","env":{"":"1"}"#, "environment name"),
            (r#","env":{"A=B":"1"}"#, "environment name"),
            (r#","env":{"A":"\u0000"}"#, "environment value of A"),
            (r#","timeoutSeconds":0"#, "timeoutSeconds is 0"),
            (r#","workingDir":"a\u0000""#, "workingDir"),
            (r#","outputs":[{"name":"../x","path":"f"}]"#, "output name"),
        ] {
            let e = run_step(extra).unwrap_err();
            assert!(e.0.contains(says), "{extra}: {e}");
        }
        let e = Plan::from_json(
            r#"{"name":"p","steps":[{"kind":"run","id":"a\u0000","program":"x"}]}"#,
        )
        .unwrap_err();
        assert!(e.0.contains("step id"), "{e}");
        let e = Plan::from_json(
            r#"{"name":"p","steps":[{"kind":"run","id":"a","program":"x\u0000"}]}"#,
        )
        .unwrap_err();
        assert!(e.0.contains("program contains NUL"), "{e}");
        for (extra, says) in [
            (
                r#","env":{"K":{"value":"a\u0000b","secret":true}}"#,
                "step \"a\": secret environment value of K contains NUL",
            ),
            (
                r#","env":{"K":{"fromEnv":"","secret":true}}"#,
                "step \"a\": environment value of K: fromEnv",
            ),
            (
                r#","env":{"K":{"fromEnv":"A=B"}}"#,
                "step \"a\": environment value of K: fromEnv",
            ),
            (
                r#","env":{"K":{"value":"v","fromEnv":"B"}}"#,
                "environment value of K: give either",
            ),
        ] {
            let e = run_step(extra).unwrap_err();
            assert!(e.0.contains(says), "{extra}: {e}");
        }
        let e = Plan::from_json(r#"{"name":"p","steps":[{"kind":"map","id":"m","items":["../../x"],"step":{"id":"t","program":"x","outputs":[{"name":"o-{{item}}","path":"f"}]}}]}"#).unwrap_err();
        assert!(e.0.contains("output name"), "{e}");
    }

    #[test]
    fn secrets_are_kept_out_of_the_stored_plan_and_its_hash() {
        let with = |secret: &str| {
            run_step(&format!(
                r#","env":{{"PLAIN":"p","S":{{"value":"{secret}","secret":true}},"F":{{"fromEnv":"TOKEN_VAR","secret":true}}}}"#
            ))
            .unwrap()
        };
        let plan = with("hunter22");
        let stored = crate::hash::normalised(&plan).to_string();
        assert!(!stored.contains("hunter22"), "{stored}");
        assert!(stored.contains("TOKEN_VAR"), "{stored}");
        assert!(!format!("{plan:?}").contains("hunter22"));
        // Rotating a secret literal does not change the hash (a hash of it would be a
        // guessing oracle); the plan's structure does.
        assert_eq!(
            crate::hash::plan_hash(&plan),
            crate::hash::plan_hash(&with("other-value"))
        );
        assert_eq!(plan.secret_literals(), [("a".to_owned(), "S".to_owned())]);
        let back: Plan = serde_json::from_value(crate::hash::normalised(&plan)).unwrap();
        assert_eq!(crate::hash::plan_hash(&back), crate::hash::plan_hash(&plan));
        // A plain value written as an object is the plain value.
        assert_eq!(
            crate::hash::plan_hash(&run_step(r#","env":{"A":{"value":"1"}}"#).unwrap()),
            crate::hash::plan_hash(&run_step(r#","env":{"A":"1"}"#).unwrap())
        );
    }

    #[test]
    fn missing_from_env_variables_are_named_with_their_step() {
        let plan = Plan::from_json(
            r#"{"name":"p","steps":[{"kind":"parallel","id":"par","steps":[
                {"kind":"run","id":"b","program":"x","env":{"K":{"fromEnv":"BERTH_TEST_SURELY_UNSET_VARIABLE","secret":true}}}
            ]}]}"#,
        )
        .unwrap();
        let (step, missing) = plan.missing_variable().unwrap();
        assert_eq!(step, "b");
        assert_eq!(missing.key, "K");
        assert_eq!(missing.variable, "BERTH_TEST_SURELY_UNSET_VARIABLE");
        // A map item reads the variable its template names for it.
        let plan = Plan::from_json(
            r#"{"name":"p","steps":[{"kind":"map","id":"m","items":["eu"],"step":{"id":"t","program":"x",
                "env":{"K":{"fromEnv":"BERTH_TEST_UNSET_{{item}}","secret":true}}}}]}"#,
        )
        .unwrap();
        let (step, missing) = plan.missing_variable().unwrap();
        assert_eq!(
            (&step[..], &missing.variable[..]),
            ("m.0", "BERTH_TEST_UNSET_eu")
        );
    }
}
