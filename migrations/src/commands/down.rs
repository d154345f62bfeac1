//! `down --to ID`: rolls back the migrations after `ID` (`0`: all). By default only their
//! records go (the collections and their data stay, as seed 002's rollback says: berth refuses
//! to open the database until `up` runs again); `--drop --confirm DATABASE` also drops what
//! they created.

use crate::cli::DownArgs;
use crate::config::Settings;
use crate::connect::Target;
use crate::error::MigrateError;
use crate::exit::Exit;
use crate::inspect::{snapshot, Snapshot};
use crate::output::{doc_json, Out, Report};
use crate::plan::Action;
use crate::registry::{self, Spec, Step};
use crate::{exec, failpoint, ledger, lock};
use mongodb::bson::doc;
use serde_json::json;

/// The migrations to roll back, newest first.
fn after(to: &str) -> Result<Vec<Spec>, MigrateError> {
    let all = registry::all();
    let keep = if to == "0" {
        0
    } else {
        all.iter()
            .position(|s| s.id() == to)
            .ok_or_else(|| MigrateError::UnknownMigration(to.to_owned()))?
            + 1
    };
    Ok(all.into_iter().skip(keep).rev().collect())
}

/// The drop commands of `spec` against `snap`: its indexes on collections it did not create,
/// then its collections.
fn drops(spec: &Spec, target: &Target, snap: &Snapshot) -> Vec<Action> {
    let names = &target.names;
    let created: Vec<&str> = spec
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Collection { role, .. } => Some(role.name(names)),
            Step::Index(_) => None,
        })
        .collect();
    let mut out = Vec::new();
    for step in spec.steps.iter().rev() {
        match step {
            Step::Index(def) => {
                let coll = def.role.name(names);
                let exists = snap
                    .collections
                    .get(coll)
                    .is_some_and(|c| c.indexes.iter().any(|i| i.name == def.name));
                if exists && !created.contains(&coll) {
                    out.push(Action {
                        migration: spec.id(),
                        summary: format!("drop index {} on {coll}", def.name),
                        finding: String::new(),
                        command: doc! {"dropIndexes": coll, "index": def.name},
                    });
                }
            }
            Step::Collection { role, .. } => {
                let name = role.name(names);
                if snap.collections.contains_key(name) {
                    out.push(Action {
                        migration: spec.id(),
                        summary: format!("drop collection {name} and its data"),
                        finding: String::new(),
                        command: doc! {"drop": name},
                    });
                }
            }
        }
    }
    out
}

/// Runs `down`.
pub async fn run(
    target: &Target,
    settings: &Settings,
    args: &DownArgs,
    out: Out,
) -> Result<Report, MigrateError> {
    let rollback = after(&args.to)?;
    let database = target.db.name().to_owned();
    if args.drop && args.confirm.as_deref() != Some(database.as_str()) {
        return Err(MigrateError::NotConfirmed { database });
    }
    let lock = if args.dry_run {
        None
    } else {
        Some(
            lock::acquire(
                &target.db,
                &target.names.migration_lock(),
                "down",
                settings.lock_timeout,
                settings.lock_ttl,
                &mut |m| out.notice(m),
            )
            .await?,
        )
    };
    let result = roll_back(target, &rollback, args, out).await;
    if let Some(lock) = lock {
        lock.release().await?;
    }
    let (actions, rolled) = result?;
    if args.dry_run {
        out.say(format!(
            "dry run on database {database:?}: {} command(s) would be sent, none sent",
            actions.len()
        ));
        for a in &actions {
            out.say(format!("  # {}", a.summary));
            out.say(format!("  db.runCommand({})", doc_json(&a.command)));
        }
    } else if rolled.is_empty() && actions.is_empty() {
        out.say(format!(
            "nothing to roll back after {} in database {database:?}",
            args.to
        ));
    } else {
        out.say(format!(
            "rolled back {} migration(s); {}",
            rolled.len(),
            if args.drop {
                "their collections are dropped"
            } else {
                "collections and data are kept (`up` records them again)"
            }
        ));
    }
    Ok(Report {
        exit: Exit::Ok,
        json: json!({
            "database": database,
            "dryRun": args.dry_run,
            "rolledBack": rolled,
            "dropped": args.drop,
            "commands": actions,
        }),
    })
}

async fn roll_back(
    target: &Target,
    rollback: &[Spec],
    args: &DownArgs,
    out: Out,
) -> Result<(Vec<Action>, Vec<&'static str>), MigrateError> {
    let records = ledger::read(&target.db, &target.names).await?;
    let mut actions = Vec::new();
    let mut rolled = Vec::new();
    for spec in rollback {
        let recorded = records.iter().any(|r| r.id == spec.id());
        let mut mine = Vec::new();
        if recorded {
            // Unrecord first: a crash in between leaves objects without a record, which `up`
            // completes and `down --drop` still finds.
            mine.push(ledger::unrecord(spec.id(), &target.names));
        }
        if args.drop {
            let snap = snapshot(&target.db, &super::managed(target)).await?;
            mine.extend(drops(spec, target, &snap));
        }
        if mine.is_empty() {
            continue;
        }
        rolled.push(spec.id());
        if !args.dry_run {
            out.say(format!("{} — rolling back", spec.id()));
            for a in &mine {
                out.say(format!("  {}", a.summary));
                exec::send(&target.db, a).await?;
                failpoint::after_command(actions.len() + 1).await;
                actions.push(a.clone());
            }
        } else {
            actions.extend(mine);
        }
    }
    Ok((actions, rolled))
}
