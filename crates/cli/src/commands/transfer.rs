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
    let store = ctx.store().await?;
    progress(&format!("exporting to {} …", to.display()));
    let counts = export::export_store(&store, to).await;
    progress_done();
    let counts = counts?;
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
    // Read and checked before the store is opened: a wrong or damaged export writes nothing.
    let (bundles, problems) = export::read_dir(from)?;
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
    let total = bundles.len();
    for (i, bundle) in bundles.iter().enumerate() {
        progress(&format!(
            "importing run {}/{total} ({})",
            i + 1,
            bundle.run.id
        ));
        written.add(export::restore_bundle(&store, bundle).await?);
    }
    progress_done();
    if ctx.out.json {
        ctx.out
            .json_line(&serde_json::json!({ "imported": written, "from": from }));
    } else {
        ctx.out.line(format!(
            "imported {} from {} (importing again is safe: records are restored by id)",
            counts_text(&written),
            from.display()
        ));
    }
    Ok(exit::OK)
}
