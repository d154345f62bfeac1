//! `verify`: every collection, validator and index of the migrations present with the expected
//! options, every migration recorded, no drift.

use crate::cli::VerifyArgs;
use crate::config::Settings;
use crate::connect::Target;
use crate::error::MigrateError;
use crate::exit::Exit;
use crate::inspect::snapshot;
use crate::output::{Out, Report};
use crate::plan::plan;
use crate::{ledger, registry};
use serde_json::json;

/// Runs `verify`: exit 0 when all is in place, 5 when something is missing or different, 3 on
/// drift.
pub async fn run(
    target: &Target,
    settings: &Settings,
    args: &VerifyArgs,
    out: Out,
) -> Result<Report, MigrateError> {
    let all = registry::all();
    let records = ledger::read(&target.db, &target.names).await?;
    let drift = ledger::drift(&all, &records);
    let snap = snapshot(&target.db, &super::managed(target)).await?;
    let retention = args.log_retention_days.or(settings.file_log_retention_days);
    let plan = plan(&all, &snap, &target.names, retention);
    let mut problems: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| !a.finding.is_empty())
        .map(|a| a.finding.clone())
        .collect();
    problems.extend(plan.conflicts.iter().cloned());
    for spec in &all {
        if !records.iter().any(|r| r.id == spec.id()) {
            problems.push(format!(
                "migration {} is not recorded as applied",
                spec.id()
            ));
        }
    }
    let checked_collections = super::managed(target).len();
    let checked_indexes = all
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| matches!(s, registry::Step::Index(_)))
        .count();
    for d in &drift {
        out.say(format!("drift: {d}"));
    }
    for p in &problems {
        out.say(format!("problem: {p}"));
    }
    let exit = if !drift.is_empty() {
        Exit::Drift
    } else if !problems.is_empty() {
        Exit::NotUpToDate
    } else {
        Exit::Ok
    };
    if exit == Exit::Ok {
        out.say(format!(
            "database {:?} verified: {checked_collections} collections with their validators and \
             {checked_indexes} indexes as defined",
            target.db.name()
        ));
    } else {
        out.say(format!(
            "database {:?} does not match the migrations: {} problem(s), {} drift",
            target.db.name(),
            problems.len(),
            drift.len()
        ));
    }
    Ok(Report {
        exit,
        json: json!({
            "database": target.db.name(),
            "ok": exit == Exit::Ok,
            "problems": problems,
            "drift": drift,
            "collections": checked_collections,
            "indexes": checked_indexes,
        }),
    })
}
