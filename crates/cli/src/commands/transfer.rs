//! `berth export --to DIR` and `berth import --from DIR`, in the one export format defined by
//! berth-core's `packrun::export` (shared with `berth-migrate`).

use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::output::{progress, progress_done};
use berth::packrun::export::{self, Counts};
use std::path::Path;

fn counts_text(c: &Counts) -> String {
    format!(
        "{} runs, {} log entries, {} artifacts, {} approvals",
        c.runs, c.logs, c.artifacts, c.approvals
    )
}

/// `berth export`.
pub async fn export(ctx: &Ctx, to: &Path) -> Result<u8, CliError> {
    if to.join("manifest.json").exists() {
        return Err(CliError::other(
            format!("{} already holds an export", to.display()),
            "pass a new or empty directory to --to",
            exit::REFUSED,
        ));
    }
    let store = ctx.store_read_only().await?;
    progress(&format!("exporting to {} …", to.display()));
    let counts = export::export_store(&store, to).await;
    progress_done();
    let counts = match counts {
        Err(export::ExportError::Unreadable { counts, unreadable }) => {
            // Everything readable is in the export; say exactly what is not, and fail.
            let names: Vec<String> = unreadable
                .iter()
                .map(|u| format!("{} ({})", u.run_id, u.reason))
                .collect();
            if ctx.out.json {
                ctx.out.json_line(&serde_json::json!({
                    "exported": counts, "to": to, "unreadable": unreadable,
                }));
            } else {
                ctx.out.line(format!(
                    "exported {} to {}",
                    counts_text(&counts),
                    to.display()
                ));
            }
            return Err(CliError::other(
                format!(
                    "{} run(s) could not be read and are NOT in the export: {}",
                    unreadable.len(),
                    names.join("; ")
                ),
                "the store holds damaged records; repair or delete those runs, or restore them from an older export",
                exit::FAILURE,
            ));
        }
        other => other?,
    };
    if ctx.out.json {
        ctx.out
            .json_line(&serde_json::json!({ "exported": counts, "to": to }));
    } else {
        ctx.out.line(format!(
            "exported {} to {}",
            counts_text(&counts),
            to.display()
        ));
        ctx.out.line(format!(
            "load it into another store with: berth --store URL import --from {}",
            to.display()
        ));
    }
    Ok(exit::OK)
}

/// `berth import`.
pub async fn import(ctx: &Ctx, from: &Path) -> Result<u8, CliError> {
    // Verified (trailer counts and checksum) and read before the store is opened: a wrong,
    // truncated or damaged export writes nothing.
    let (bundles, problems) = export::read_dir(from).map_err(|e| {
        if e.missing {
            CliError::File(e)
        } else {
            CliError::other(
                format!("{e}; nothing was imported"),
                "export again from the source store (`berth export --to NEW_DIR`)",
                exit::REFUSED,
            )
        }
    })?;
    if let Some(first) = problems.first() {
        return Err(CliError::other(
            format!(
                "{} run(s) of the export cannot be read; nothing was imported. First: {first}",
                problems.len()
            ),
            "repair or remove the named run directories, then import again",
            exit::REFUSED,
        ));
    }
    let store = ctx.store().await?;
    let mut written = Counts::default();
    let mut skipped: Vec<serde_json::Value> = Vec::new();
    let total = bundles.len();
    for (i, bundle) in bundles.iter().enumerate() {
        progress(&format!(
            "importing run {}/{total} ({})",
            i + 1,
            bundle.run.id
        ));
        // Each run is restored with its logs, artifacts and approvals in one atomic write;
        // one the store refuses is not written at all, and is named.
        match export::restore_bundle(&store, bundle).await {
            Ok(counts) => written.add(counts),
            Err(e) if e.is_retryable() || e.kind() == berth::ErrorKind::Backend => {
                progress_done();
                return Err(e.into());
            }
            Err(e) => skipped.push(serde_json::json!({
                "runId": bundle.run.id, "reason": e.to_string(),
            })),
        }
    }
    progress_done();
    if ctx.out.json {
        ctx.out.json_line(
            &serde_json::json!({ "imported": written, "from": from, "skipped": skipped }),
        );
    } else {
        ctx.out.line(format!(
            "imported {} from {} (importing again is safe: records are restored by id, versions kept)",
            counts_text(&written),
            from.display()
        ));
    }
    if !skipped.is_empty() {
        let names: Vec<String> = skipped
            .iter()
            .map(|s| {
                format!(
                    "{} ({})",
                    s["runId"].as_str().unwrap_or("?"),
                    s["reason"].as_str().unwrap_or("?")
                )
            })
            .collect();
        return Err(CliError::other(
            format!("{} run(s) were refused and NOT imported: {}", skipped.len(), names.join("; ")),
            "fix what the store refused, then import again (nothing of a refused run was written; runs already imported are left as they are)",
            exit::REFUSED,
        ));
    }
    Ok(exit::OK)
}
