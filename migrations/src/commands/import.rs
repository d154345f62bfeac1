//! `import --from DIR`: loads a berth export (`berth export`, format of
//! [`berth_core::packrun::export`]: one folder per run) into the collections through the
//! backend's own stores, idempotently (runs and approvals restored exactly, versions kept,
//! logs appended on (run, sequence), artifacts upserted on (run, name)).
//!
//! The export's trailer (counts and checksum in `manifest.json`) is verified before anything is
//! written: a truncated or altered export imports nothing. A run folder with a malformed file
//! is reported with file and line and skipped whole, as is a run the store refuses (never
//! half-imported: each run is restored with everything of it in one transaction, so a
//! standalone server without transactions refuses every run); the rest go on, and the exit
//! code is 6.

use crate::cli::ImportArgs;
use crate::connect::Target;
use crate::error::MigrateError;
use crate::exit::Exit;
use crate::output::{Out, Report};
use crate::progress::Progress;
use berth_core::packrun::export::{self, Counts};
use berth_core::{OpenOptions, Store};
use berth_state_mongo::MongoConfig;
use futures::StreamExt;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Run folders imported at once.
const PARALLEL: usize = 8;

/// Reads and restores one run folder; a problem is `Err(message naming the file)`.
async fn import_one(store: &Store, run_dir: PathBuf) -> Result<Counts, String> {
    let read = tokio::task::spawn_blocking(move || export::read_bundle(&run_dir))
        .await
        .map_err(|e| format!("reading a run folder failed: {e}"))?;
    let bundle = read.map_err(|e| e.to_string())?;
    export::restore_bundle(store, &bundle)
        .await
        .map_err(|e| format!("run {:?}: the store refused it: {e}", bundle.run.id))
}

/// Runs `import`.
pub async fn run(
    target: &Target,
    uri: &str,
    args: &ImportArgs,
    out: Out,
) -> Result<Report, MigrateError> {
    let started = Instant::now();
    let from = args.from.clone();
    let verified = tokio::task::spawn_blocking(move || {
        export::verify_dir(&from).and_then(|_| export::run_dirs(&from))
    })
    .await
    .map_err(|e| MigrateError::Import(format!("verifying the export failed: {e}")))?;
    let dirs = verified.map_err(|e| MigrateError::Import(format!("{e}; nothing was imported")))?;
    let config = MongoConfig::new(uri)
        .database(target.db.name())
        .collections(target.names.clone());
    let store = berth_state_mongo::open(config, OpenOptions::default()).await?;
    let total = dirs.len() as u64;
    let mut progress = Progress::new(total, "runs");
    let mut imported = Counts::default();
    let mut problems: Vec<String> = Vec::new();
    let mut done = 0_u64;
    let mut results = futures::stream::iter(dirs.into_iter().map(|d| import_one(&store, d)))
        .buffer_unordered(PARALLEL);
    while let Some(result) = results.next().await {
        done += 1;
        match result {
            Ok(counts) => imported.add(counts),
            Err(problem) => {
                out.notice(format!("skipped: {problem}"));
                problems.push(problem);
            }
        }
        progress.update(
            done,
            &format!("{} imported, {} skipped", imported.runs, problems.len()),
        );
    }
    progress.finish();
    let elapsed = started.elapsed();
    let secs = elapsed.as_secs_f64().max(1e-3);
    out.say(format!(
        "imported {} of {total} runs from {} in {:.1} s ({:.0} runs/s): {} new log entries, {} \
         artifacts, {} approvals; {} run folder(s) skipped",
        imported.runs,
        args.from.display(),
        elapsed.as_secs_f64(),
        imported.runs as f64 / secs,
        imported.logs,
        imported.artifacts,
        imported.approvals,
        problems.len()
    ));
    for p in &problems {
        out.say(format!("  skipped: {p}"));
    }
    Ok(Report {
        exit: if problems.is_empty() {
            Exit::Ok
        } else {
            Exit::Partial
        },
        json: json!({
            "database": target.db.name(),
            "from": args.from.display().to_string(),
            "runFolders": total,
            "imported": imported,
            "skipped": problems,
            "durationMs": elapsed.as_millis() as u64,
        }),
    })
}
