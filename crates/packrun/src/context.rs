//! A loaded plan and the run's execution context (where it runs, where artifacts go).

use crate::error::PackRunError;
use crate::hash::plan_hash;
use crate::plan::Plan;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A checked plan with its hash and origin.
#[derive(Debug, Clone)]
pub struct LoadedPlan {
    /// The plan.
    pub plan: Plan,
    /// `sha256:<hex>` of the normalised plan.
    pub hash: String,
    /// The file it came from.
    pub path: Option<PathBuf>,
    /// Relative working directories start here (the plan file's directory).
    pub base_dir: PathBuf,
}

impl LoadedPlan {
    /// Reads and checks the JSON plan at `path`.
    pub fn from_file(path: &Path) -> Result<LoadedPlan, PackRunError> {
        let text = std::fs::read_to_string(path).map_err(|source| PackRunError::PlanRead {
            path: path.to_owned(),
            source,
        })?;
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let base_dir = abs
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut loaded = LoadedPlan::from_json(&text, base_dir, &path.display().to_string())?;
        loaded.path = Some(abs);
        Ok(loaded)
    }

    /// Checks a JSON plan; `name` names it in errors.
    pub fn from_json(
        text: &str,
        base_dir: PathBuf,
        name: &str,
    ) -> Result<LoadedPlan, PackRunError> {
        let plan = Plan::from_json(text).map_err(|e| PackRunError::Plan {
            source_name: name.to_owned(),
            reason: e.0,
        })?;
        Ok(LoadedPlan::from_plan(plan, base_dir))
    }

    /// A plan already parsed (it is validated by [`PackRunner`](crate::PackRunner)).
    pub fn from_plan(plan: Plan, base_dir: PathBuf) -> LoadedPlan {
        LoadedPlan {
            hash: plan_hash(&plan),
            plan,
            path: None,
            base_dir,
        }
    }
}

/// Where a run executes; stored in the pipeline state so a resume in another process or
/// directory finds the same places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunContext {
    /// Relative working directories start here.
    pub base_dir: PathBuf,
    /// The plan file the run started from, checked again on resume.
    #[serde(default)]
    pub plan_path: Option<PathBuf>,
    /// Declared outputs are copied here.
    pub artifacts_dir: PathBuf,
}

impl RunContext {
    /// The working directory of a step.
    pub fn workdir(&self, dir: Option<&str>) -> PathBuf {
        match dir {
            Some(d) => self.base_dir.join(d),
            None => self.base_dir.clone(),
        }
    }
}
