//! `status`: applied, pending and drifted migrations.

use crate::connect::Target;
use crate::error::MigrateError;
use crate::exit::Exit;
use crate::ledger;
use crate::output::{Out, Report};
use crate::registry;
use serde_json::json;

/// Reports each migration's state; exit 5 when some are pending, 3 on drift.
pub async fn run(target: &Target, out: Out) -> Result<Report, MigrateError> {
    let all = registry::all();
    let records = ledger::read(&target.db, &target.names).await?;
    let drift = ledger::drift(&all, &records);
    let mut rows = Vec::new();
    let mut pending = 0;
    out.say(format!("database {:?}", target.db.name()));
    for spec in &all {
        let record = records.iter().find(|r| r.id == spec.id());
        let state = match record {
            None => {
                pending += 1;
                "pending"
            }
            Some(r) => match &r.checksum {
                Some(c) if *c != spec.checksum() => "drift",
                Some(_) => "applied",
                None => "applied (no checksum recorded; `up` adds it)",
            },
        };
        let applied_at = record
            .and_then(|r| r.applied_at)
            .map(|t| t.try_to_rfc3339_string().unwrap_or_default());
        let duration_ms = record.and_then(|r| r.duration_ms);
        out.say(format!(
            "  {state:<8} {}  {}{}",
            spec.id(),
            spec.migration.description,
            match (&applied_at, duration_ms) {
                (Some(t), Some(d)) => format!("  (applied {t} in {d} ms)"),
                (Some(t), None) => format!("  (applied {t})"),
                _ => String::new(),
            }
        ));
        rows.push(json!({
            "id": spec.id(),
            "description": spec.migration.description,
            "state": state.split(' ').next().unwrap_or(state),
            "checksum": spec.checksum(),
            "recordedChecksum": record.and_then(|r| r.checksum.clone()),
            "appliedAt": applied_at,
            "durationMs": duration_ms,
            "appliedBy": record.and_then(|r| r.applied_by.clone()),
        }));
    }
    for d in &drift {
        out.say(format!("  drift: {d}"));
    }
    let applied = all.len() - pending;
    out.say(format!(
        "{applied} applied, {pending} pending, {}",
        if drift.is_empty() {
            "no drift".to_owned()
        } else {
            format!("{} drifted", drift.len())
        }
    ));
    let exit = if !drift.is_empty() {
        Exit::Drift
    } else if pending > 0 {
        Exit::NotUpToDate
    } else {
        Exit::Ok
    };
    Ok(Report {
        exit,
        json: json!({
            "database": target.db.name(),
            "migrations": rows,
            "applied": applied,
            "pending": pending,
            "drift": drift,
        }),
    })
}
