//! A run with everything of it, restored as one write: the rules every backend's
//! [`RunStore::restore_bundle`](super::RunStore::restore_bundle) follows.

use super::{
    validate_artifact_name, validate_gate_id, validate_run_id, validate_tenant_id, Approval,
    Artifact, LogEntry, PackRun,
};
use crate::codec::to_json;
use crate::error::{Error, Result};
use crate::limits::validate_value;
use std::collections::HashMap;

/// Everything of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunBundle {
    /// The run document.
    pub run: PackRun,
    /// Its log entries, ascending sequence.
    pub logs: Vec<LogEntry>,
    /// Its artifacts.
    pub artifacts: Vec<Artifact>,
    /// Its approval gates.
    pub approvals: Vec<Approval>,
}

/// What [`restore_bundle`](super::RunStore::restore_bundle) stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Restored {
    /// The run as it is stored now, with its store version.
    pub run: PackRun,
    /// Log entries that were new (the others were stored already, equal).
    pub logs: u64,
}

impl RunBundle {
    /// Only the run document, nothing of it.
    pub fn of_run(run: PackRun) -> Self {
        RunBundle {
            run,
            logs: Vec::new(),
            artifacts: Vec::new(),
            approvals: Vec::new(),
        }
    }

    /// Checks the bundle before anything is written: its [shape](Self::validate_shape), names
    /// that follow the identifier rule, and every record within the value limits
    /// ([`crate::limits`]).
    pub fn validate(&self) -> Result<()> {
        self.validate_shape()?;
        validate_tenant_id(&self.run.tenant_id)?;
        for a in &self.artifacts {
            validate_artifact_name(&a.name)?;
        }
        for a in &self.approvals {
            validate_gate_id(&a.approval_id)?;
        }
        let sized = |v: Result<serde_json::Value>| v.and_then(|v| validate_value(&v).map(drop));
        sized(to_json(&self.run))?;
        self.logs.iter().try_for_each(|e| sized(to_json(e)))?;
        self.artifacts.iter().try_for_each(|a| sized(to_json(a)))?;
        self.approvals.iter().try_for_each(|a| sized(to_json(a)))
    }

    /// Checks what makes a bundle one run's: a valid run id, every record belonging to it, log
    /// sequences ascending without repeats. Reading an export checks this much (a file that
    /// fails it is damaged); what the store would refuse is judged per run when importing.
    pub fn validate_shape(&self) -> Result<()> {
        let id = &self.run.id;
        validate_run_id(id)?;
        let owners = self
            .logs
            .iter()
            .map(|l| &l.run_id)
            .chain(self.artifacts.iter().map(|a| &a.run_id))
            .chain(self.approvals.iter().map(|a| &a.run_id));
        for owner in owners {
            if owner != id {
                return Err(Error::invalid(
                    "run bundle",
                    format!("a record of run {owner:?} is in the bundle of run {id:?}"),
                ));
            }
        }
        if let Some(w) = self
            .logs
            .windows(2)
            .find(|w| w[0].sequence >= w[1].sequence)
        {
            return Err(Error::invalid(
                "run bundle",
                format!(
                    "log sequence {} follows {}: entries must ascend without repeats",
                    w[1].sequence, w[0].sequence
                ),
            ));
        }
        Ok(())
    }

    /// The log entries not stored yet, given those of their sequences that are (`stored`);
    /// a [`Conflict`](Error::Conflict) naming the first entry whose sequence holds a
    /// different one.
    pub fn new_logs<'a>(&'a self, stored: &[LogEntry]) -> Result<Vec<&'a LogEntry>> {
        let stored: HashMap<u64, &LogEntry> = stored.iter().map(|e| (e.sequence, e)).collect();
        let mut fresh = Vec::new();
        for (i, entry) in self.logs.iter().enumerate() {
            match stored.get(&entry.sequence) {
                None => fresh.push(entry),
                Some(old) if *old == entry => {}
                Some(_) => {
                    return Err(Error::conflict(
                        i,
                        "pack_run_logs",
                        &format!("{}/{}", entry.run_id, entry.sequence),
                        "a different entry is stored under this sequence",
                    ))
                }
            }
        }
        Ok(fresh)
    }
}

/// The version a restored run is stored with, or `None` when `stored` is already exactly
/// the bundle's run (nothing to write, so importing again changes nothing).
///
/// Into a store without the run, the exported version is kept (at least 1). Over a different
/// stored run it is `max(exported, stored + 1)`: versions never go backwards, and a
/// compare-and-set update made against the replaced document fails.
pub fn restored_version(run: &PackRun, stored: Option<&PackRun>) -> Option<u64> {
    match stored {
        None => Some(run.version.max(1)),
        Some(s) if s == run => None,
        Some(s) => Some(run.version.max(s.version + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_kept_and_never_go_back() {
        let mut run = PackRun::new("r", "h", serde_json::json!({}));
        run.version = 7;
        assert_eq!(restored_version(&run, None), Some(7));
        assert_eq!(restored_version(&run, Some(&run)), None);
        let mut newer = run.clone();
        newer.version = 9;
        newer.status = super::super::RunStatus::Running;
        assert_eq!(restored_version(&run, Some(&newer)), Some(10));
        let mut older = newer.clone();
        older.version = 2;
        assert_eq!(restored_version(&run, Some(&older)), Some(7));
        run.version = 0;
        assert_eq!(restored_version(&run, None), Some(1));
    }
}
