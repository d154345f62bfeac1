//! `up`: applies pending migrations under the lock, completing half-applied ones; with
//! `--dry-run`, prints every command instead.

use crate::cli::UpArgs;
use crate::config::Settings;
use crate::connect::Target;
use crate::error::MigrateError;
use crate::exit::Exit;
use crate::inspect::snapshot;
use crate::output::{doc_json, Out, Report};
use crate::plan::{plan, Action};
use crate::registry::{self, Spec};
use crate::{exec, failpoint, ledger, lock};
use serde_json::json;
use std::time::{Duration, Instant};

/// Runs `up`.
pub async fn run(
    target: &Target,
    settings: &Settings,
    args: &UpArgs,
    out: Out,
) -> Result<Report, MigrateError> {
    let specs = registry::up_to(args.to.as_deref())
        .ok_or_else(|| MigrateError::UnknownMigration(args.to.clone().unwrap_or_default()))?;
    let retention = args.log_retention_days.or(settings.file_log_retention_days);
    check_drift(target).await?;
    if args.dry_run {
        return dry_run(target, &specs, retention, out).await;
    }
    let started = Instant::now();
    let lock = lock::acquire(
        &target.db,
        &target.names.migration_lock(),
        "up",
        settings.lock_timeout,
        settings.lock_ttl,
        &mut |m| out.notice(m),
    )
    .await?;
    let result = apply(target, &specs, retention, out).await;
    let released = lock.release().await;
    let (sent, recorded) = result?;
    released?;
    let elapsed = started.elapsed();
    if sent.is_empty() && recorded.is_empty() {
        out.say(format!(
            "database {:?} is up to date: nothing changed",
            target.db.name()
        ));
    } else {
        out.say(format!(
            "done in {} ms: {} command(s) sent, {} migration(s) recorded",
            elapsed.as_millis(),
            sent.len(),
            recorded.len(),
        ));
    }
    Ok(Report {
        exit: Exit::Ok,
        json: json!({
            "database": target.db.name(),
            "changed": !(sent.is_empty() && recorded.is_empty()),
            "applied": recorded,
            "commands": sent,
            "durationMs": elapsed.as_millis() as u64,
        }),
    })
}

async fn check_drift(target: &Target) -> Result<(), MigrateError> {
    let records = ledger::read(&target.db, &target.names).await?;
    let drift = ledger::drift(&registry::all(), &records);
    if drift.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::Drift(drift))
    }
}

/// The commands of `specs` against the database as it is now.
async fn commands(
    target: &Target,
    spec: &Spec,
    retention: Option<u32>,
) -> Result<Vec<Action>, MigrateError> {
    let snap = snapshot(&target.db, &super::managed(target)).await?;
    let plan = plan(std::slice::from_ref(spec), &snap, &target.names, retention);
    if !plan.conflicts.is_empty() {
        return Err(MigrateError::Conflict(plan.conflicts.join("; ")));
    }
    Ok(plan.actions)
}

async fn dry_run(
    target: &Target,
    specs: &[Spec],
    retention: Option<u32>,
    out: Out,
) -> Result<Report, MigrateError> {
    let records = ledger::read(&target.db, &target.names).await?;
    let mut all = Vec::new();
    for spec in specs {
        let mut actions = commands(target, spec, retention).await?;
        if !ledger::is_recorded(spec, &records) {
            actions.push(ledger::record(spec, &target.names, Duration::ZERO));
        }
        all.extend(actions);
    }
    out.say(format!(
        "dry run on database {:?}: {} command(s) would be sent (after taking the lock in {}), none sent",
        target.db.name(),
        all.len(),
        target.names.migration_lock()
    ));
    for a in &all {
        out.say(format!("  # {}", a.summary));
        out.say(format!("  db.runCommand({})", doc_json(&a.command)));
    }
    Ok(Report {
        exit: Exit::Ok,
        json: json!({"database": target.db.name(), "dryRun": true, "commands": all}),
    })
}

/// Applies `specs` (under the lock); returns the commands sent and the migrations recorded.
async fn apply(
    target: &Target,
    specs: &[Spec],
    retention: Option<u32>,
    out: Out,
) -> Result<(Vec<Action>, Vec<&'static str>), MigrateError> {
    // Read again under the lock: another operator may have finished meanwhile.
    check_drift(target).await?;
    let records = ledger::read(&target.db, &target.names).await?;
    let mut sent = Vec::new();
    let mut recorded = Vec::new();
    for spec in specs {
        let started = Instant::now();
        let actions = commands(target, spec, retention).await?;
        let needs_record = !ledger::is_recorded(spec, &records);
        if actions.is_empty() && !needs_record {
            continue;
        }
        out.say(format!("{} — {}", spec.id(), spec.migration.description));
        for action in actions {
            out.say(format!("  {}", action.summary));
            exec::send(&target.db, &action).await?;
            sent.push(action);
            failpoint::after_command(sent.len()).await;
        }
        if needs_record {
            let record = ledger::record(spec, &target.names, started.elapsed());
            exec::send(&target.db, &record).await?;
            out.say(format!("  {}", record.summary));
            recorded.push(spec.id());
        }
    }
    Ok((sent, recorded))
}
