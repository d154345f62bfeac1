//! Capturing a step's declared outputs into the run's artifacts directory.

use crate::owned::OwnedWrites;
use crate::plan::Output;
use berth_core::packrun::{Artifact, ArtifactStatus};
use std::path::Path;

/// Copies each declared output found under `workdir` to `<artifacts_dir>/<name>` and records
/// it `copied`; a missing (or unreadable, or non-file) output is recorded `skipped` with a
/// note. Returns the records.
pub async fn capture(
    owned: &OwnedWrites,
    run_id: &str,
    outputs: &[Output],
    workdir: &Path,
    artifacts_dir: &Path,
) -> Result<Vec<Artifact>, berth_core::Error> {
    let mut out = Vec::with_capacity(outputs.len());
    for o in outputs {
        let source = workdir.join(&o.path);
        let target = berth_core::ident::child_path(artifacts_dir, "artifact name", &o.name)?;
        let copied = match tokio::fs::metadata(&source).await {
            Ok(m) if m.is_file() => {
                let copy = async {
                    tokio::fs::create_dir_all(artifacts_dir).await?;
                    tokio::fs::copy(&source, &target).await
                };
                match copy.await {
                    Ok(bytes) => Ok(bytes),
                    Err(e) => Err(format!("copy to {} failed: {e}", target.display())),
                }
            }
            Ok(_) => Err(format!("{} is not a regular file", source.display())),
            Err(e) => Err(format!("not found at {}: {e}", source.display())),
        };
        let (status, stored_path, notes) = match copied {
            Ok(bytes) => (
                ArtifactStatus::Copied,
                Some(target.display().to_string()),
                Some(format!("{bytes} bytes")),
            ),
            Err(note) => (ArtifactStatus::Skipped, None, Some(note)),
        };
        let artifact = Artifact {
            run_id: run_id.to_owned(),
            name: o.name.clone(),
            kind: "file".into(),
            source_path: Some(source.display().to_string()),
            stored_path,
            status,
            notes,
            captured_at: owned.store().clock().now(),
        };
        owned.record_artifact(artifact.clone()).await?;
        out.push(artifact);
    }
    Ok(out)
}
