//! The berth export format: pack runs as a directory of plain files.
//!
//! `berth export` writes it, `berth import` and `berth-migrate import` read it; moving a store
//! from one backend to another is an export followed by an import.
//!
//! ```text
//! DIR/
//!   manifest.json                 the trailer, written last: {"format": "berth-export",
//!                                 "version": 2, "runs": 2, "counts": {…}, "checksum": "sha256:…"}
//!   runs/<run dir>/run.json       the run document (camelCase fields, times in epoch ms)
//!   runs/<run dir>/logs.ndjson    one log entry per line, ascending sequence
//!   runs/<run dir>/artifacts.ndjson  one artifact record per line, by name
//!   runs/<run dir>/approvals.ndjson  one approval gate per line, by id
//! ```
//!
//! `<run dir>` is the run id with every byte outside `[A-Za-z0-9._-]` written as `%XX` (and a
//! leading `.` as `%2E`), so any run id is a safe file name; the id itself is read from
//! `run.json`. Missing `.ndjson` files mean "none". Blank lines are ignored. Importing is
//! idempotent: runs and approvals are restored exactly by id, logs are appended idempotently on
//! (run, sequence), artifacts are upserted on (run, name). A run keeps its exported `version`
//! (over a different stored copy: the greater of the exported and the stored version + 1).
//!
//! Completeness: the manifest is written after everything else and holds the record counts and
//! a SHA-256 over every run file (see [`verify_dir`]); an import checks both before it writes
//! anything, so a truncated, reordered, duplicated or damaged export is refused whole. Each run
//! is restored with its logs, artifacts and approvals as one atomic write, so a run is stored
//! whole or not at all.
//!
//! File access here is synchronous; call it from a blocking context in async code.
//!
//! ```
//! # async fn demo(from: berth_core::Store, to: berth_core::Store) -> Result<(), Box<dyn std::error::Error>> {
//! use berth_core::packrun::export;
//! let dir = std::env::temp_dir().join("berth-export-demo");
//! let written = export::export_store(&from, &dir).await?;
//! let (bundles, problems) = export::read_dir(&dir)?;
//! assert!(problems.is_empty());
//! for bundle in &bundles {
//!     export::restore_bundle(&to, bundle).await?;
//! }
//! println!("moved {} runs", written.runs);
//! # Ok(()) }
//! ```

use crate::error::Result;
pub use crate::packrun::RunBundle;
use crate::packrun::{Approval, Artifact, LogEntry, PackRun, RunQuery};
use crate::Store;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The `format` field of a manifest.
pub const FORMAT: &str = "berth-export";
/// The version of the layout this module writes and reads.
pub const VERSION: u32 = 2;
const PAGE: usize = 500;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// Number of run directories written.
    pub runs: u64,
    /// Records written, per kind.
    pub counts: Counts,
    /// `sha256:<hex>` over every run file, as [`verify_dir`] computes it.
    pub checksum: String,
}

/// How many records an export or import moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Runs.
    pub runs: u64,
    /// Log entries (on import: newly appended ones).
    pub logs: u64,
    /// Artifact records.
    pub artifacts: u64,
    /// Approval gates.
    pub approvals: u64,
}

impl Counts {
    /// Adds `other` to these counts.
    pub fn add(&mut self, other: Counts) {
        self.runs += other.runs;
        self.logs += other.logs;
        self.artifacts += other.artifacts;
        self.approvals += other.approvals;
    }
}

/// A file of an export that could not be read; `line` is 1-based where it applies.
#[derive(Debug, thiserror::Error)]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// The line, for NDJSON files.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// The file or directory does not exist.
    pub missing: bool,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

fn file_error(file: &Path, line: Option<usize>, message: impl Into<String>) -> FileError {
    FileError {
        file: file.to_owned(),
        line,
        message: message.into(),
        missing: false,
    }
}

/// The directory name of a run id (see the module docs).
pub fn run_dir_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn io_error(file: &Path, e: io::Error) -> FileError {
    FileError {
        missing: e.kind() == io::ErrorKind::NotFound,
        ..file_error(file, None, e.to_string())
    }
}

fn write_ndjson<T: Serialize>(file: &Path, items: &[T]) -> Result<(), FileError> {
    if items.is_empty() {
        return Ok(());
    }
    let out = fs::File::create(file).map_err(|e| io_error(file, e))?;
    let mut out = BufWriter::new(out);
    for item in items {
        serde_json::to_writer(&mut out, item).map_err(|e| file_error(file, None, e.to_string()))?;
        out.write_all(b"\n").map_err(|e| io_error(file, e))?;
    }
    out.flush().map_err(|e| io_error(file, e))
}

fn read_ndjson<T: DeserializeOwned>(file: &Path) -> Result<Vec<T>, FileError> {
    let input = match fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(file, e)),
    };
    let mut items = Vec::new();
    for (i, line) in io::BufReader::new(input).lines().enumerate() {
        let line = line.map_err(|e| file_error(file, Some(i + 1), e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line)
            .map_err(|e| file_error(file, Some(i + 1), e.to_string()))?;
        items.push(item);
    }
    Ok(items)
}

/// Writes one run's directory below `dir/runs/`.
pub fn write_bundle(dir: &Path, bundle: &RunBundle) -> Result<(), FileError> {
    let run_dir = dir.join("runs").join(run_dir_name(&bundle.run.id));
    fs::create_dir_all(&run_dir).map_err(|e| io_error(&run_dir, e))?;
    let run_file = run_dir.join("run.json");
    let json = serde_json::to_vec_pretty(&bundle.run)
        .map_err(|e| file_error(&run_file, None, e.to_string()))?;
    fs::write(&run_file, json).map_err(|e| io_error(&run_file, e))?;
    write_ndjson(&run_dir.join("logs.ndjson"), &bundle.logs)?;
    write_ndjson(&run_dir.join("artifacts.ndjson"), &bundle.artifacts)?;
    write_ndjson(&run_dir.join("approvals.ndjson"), &bundle.approvals)
}

/// Reads one run directory.
pub fn read_bundle(run_dir: &Path) -> Result<RunBundle, FileError> {
    let run_file = run_dir.join("run.json");
    let text = fs::read(&run_file).map_err(|e| io_error(&run_file, e))?;
    let run: PackRun =
        serde_json::from_slice(&text).map_err(|e| file_error(&run_file, None, e.to_string()))?;
    let logs: Vec<LogEntry> = read_ndjson(&run_dir.join("logs.ndjson"))?;
    let artifacts: Vec<Artifact> = read_ndjson(&run_dir.join("artifacts.ndjson"))?;
    let approvals: Vec<Approval> = read_ndjson(&run_dir.join("approvals.ndjson"))?;
    let bundle = RunBundle {
        run,
        logs,
        artifacts,
        approvals,
    };
    bundle
        .validate_shape()
        .map_err(|e| file_error(run_dir, None, e.to_string()))?;
    Ok(bundle)
}

/// Reads the manifest of an export directory.
pub fn read_manifest(dir: &Path) -> Result<Manifest, FileError> {
    let file = dir.join("manifest.json");
    let text = fs::read(&file).map_err(|e| io_error(&file, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| file_error(&file, None, e.to_string()))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(file_error(
            &file,
            None,
            format!(
                "format {:?} version {} is not {FORMAT:?} version {VERSION}",
                manifest.format, manifest.version
            ),
        ));
    }
    Ok(manifest)
}

/// The run directories of an export, sorted by name.
pub fn run_dirs(dir: &Path) -> Result<Vec<PathBuf>, FileError> {
    let runs = dir.join("runs");
    let mut entries = Vec::new();
    match fs::read_dir(&runs) {
        Ok(rd) => {
            for entry in rd {
                let path = entry.map_err(|e| io_error(&runs, e))?.path();
                if path.is_dir() {
                    entries.push(path);
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&runs, e)),
    }
    entries.sort();
    Ok(entries)
}

/// The files of a run directory, in checksum order.
const RUN_FILES: [&str; 4] = [
    "run.json",
    "logs.ndjson",
    "artifacts.ndjson",
    "approvals.ndjson",
];

/// Checksum and counts of the run files under `dir`, read as they are on disk: per run
/// directory (sorted), its name, then each of [`RUN_FILES`] as name, length and bytes (a
/// missing file counts as empty). Counts are non-blank lines (runs: directories).
fn digest_dir(dir: &Path) -> Result<(String, Counts), FileError> {
    let mut hash = Sha256::new();
    let mut counts = Counts::default();
    for run_dir in run_dirs(dir)? {
        let name = run_dir.file_name().map(|n| n.as_encoded_bytes().to_vec());
        hash.update(name.unwrap_or_default());
        hash.update([0]);
        counts.runs += 1;
        for file in RUN_FILES {
            let path = run_dir.join(file);
            let bytes = match fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_error(&path, e)),
            };
            hash.update(file.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
            let lines = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .count() as u64;
            match file {
                "logs.ndjson" => counts.logs += lines,
                "artifacts.ndjson" => counts.artifacts += lines,
                "approvals.ndjson" => counts.approvals += lines,
                _ => {}
            }
        }
    }
    Ok((format!("sha256:{}", hex::encode(hash.finalize())), counts))
}

/// Writes the manifest (the trailer) of the run files now under `dir`: their counts and
/// checksum. `export_store` calls it last; call it yourself after editing an export by hand.
pub fn write_manifest(dir: &Path) -> Result<Manifest, FileError> {
    let (checksum, counts) = digest_dir(dir)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        runs: counts.runs,
        counts,
        checksum,
    };
    let file = dir.join("manifest.json");
    let json =
        serde_json::to_vec_pretty(&manifest).map_err(|e| file_error(&file, None, e.to_string()))?;
    fs::write(&file, json).map_err(|e| io_error(&file, e))?;
    Ok(manifest)
}

/// Checks that the export in `dir` is complete and unchanged: its manifest (the trailer,
/// written last) exists and its counts and checksum match the run files on disk. Nothing of
/// an export that fails this may be imported.
pub fn verify_dir(dir: &Path) -> Result<Manifest, FileError> {
    let manifest = read_manifest(dir)?;
    let (checksum, counts) = digest_dir(dir)?;
    let file = dir.join("manifest.json");
    if counts != manifest.counts || counts.runs != manifest.runs {
        return Err(file_error(
            &file,
            None,
            format!(
                "incomplete export: the trailer counts {} runs, {} log entries, {} artifacts, \
                 {} approvals; the files hold {}, {}, {}, {}",
                manifest.counts.runs,
                manifest.counts.logs,
                manifest.counts.artifacts,
                manifest.counts.approvals,
                counts.runs,
                counts.logs,
                counts.artifacts,
                counts.approvals
            ),
        ));
    }
    if checksum != manifest.checksum {
        return Err(file_error(
            &file,
            None,
            format!(
                "the run files changed since export: checksum {checksum} is not the trailer's {}",
                manifest.checksum
            ),
        ));
    }
    Ok(manifest)
}

/// Verifies the export in `dir` ([`verify_dir`]), then reads every run directory: the bundles
/// that parsed, and a [`FileError`] for each one that did not (the rest are still returned).
/// Two directories holding the same run id are a problem too.
pub fn read_dir(dir: &Path) -> Result<(Vec<RunBundle>, Vec<FileError>), FileError> {
    verify_dir(dir)?;
    let mut bundles: Vec<RunBundle> = Vec::new();
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for run_dir in run_dirs(dir)? {
        match read_bundle(&run_dir) {
            Ok(b) if !seen.insert(b.run.id.clone()) => problems.push(file_error(
                &run_dir,
                None,
                format!("run {:?} appears in two directories", b.run.id),
            )),
            Ok(b) => bundles.push(b),
            Err(e) => problems.push(e),
        }
    }
    Ok((bundles, problems))
}

/// Reads everything of run `id` from `store`.
pub async fn collect_bundle(store: &Store, id: &str) -> Result<Option<RunBundle>> {
    let Some(run) = store.runs().get(id).await? else {
        return Ok(None);
    };
    let mut logs = Vec::new();
    let mut after = None;
    loop {
        let page = store.logs().read(id, after, PAGE).await?;
        let done = page.len() < PAGE;
        after = page.last().map(|l| l.sequence);
        logs.extend(page);
        if done {
            break;
        }
    }
    let artifacts = store.artifacts().list(id).await?;
    let approvals = store.approvals().list(id).await?;
    Ok(Some(RunBundle {
        run,
        logs,
        artifacts,
        approvals,
    }))
}

/// Writes every run of `store` into `dir` (created if missing), then its manifest (the
/// trailer). A run that cannot be read (its document or its records) is left out and named in
/// [`ExportError::Unreadable`], after everything readable was written (with a manifest that
/// matches what was written).
pub async fn export_store(store: &Store, dir: &Path) -> std::result::Result<Counts, ExportError> {
    fs::create_dir_all(dir).map_err(|e| ExportError::File(io_error(dir, e)))?;
    let mut counts = Counts::default();
    let mut unreadable = Vec::new();
    let mut query = RunQuery {
        limit: PAGE,
        ..RunQuery::default()
    };
    loop {
        let page = store.runs().list_page(&query).await?;
        // A run document that cannot be read is named like a run whose records cannot.
        unreadable.extend(page.damaged.into_iter().map(|d| Unreadable {
            run_id: d.key,
            reason: d.reason,
        }));
        for run in &page.runs {
            match collect_bundle(store, &run.id).await {
                Ok(Some(bundle)) => {
                    write_bundle(dir, &bundle)?;
                    counts.add(Counts {
                        runs: 1,
                        logs: bundle.logs.len() as u64,
                        artifacts: bundle.artifacts.len() as u64,
                        approvals: bundle.approvals.len() as u64,
                    });
                }
                Ok(None) => {}
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                    tracing::warn!(run = %run.id, error = %e, "run left out of the export");
                    unreadable.push(Unreadable {
                        run_id: run.id.clone(),
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    write_manifest(dir)?;
    if !unreadable.is_empty() {
        return Err(ExportError::Unreadable { counts, unreadable });
    }
    Ok(counts)
}

/// A run an export could not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreadable {
    /// The run's id.
    pub run_id: String,
    /// Why.
    pub reason: String,
}

/// Writes `bundle` into `store` as one atomic write ([`RunStore::restore_bundle`]): the run
/// with all its logs, artifacts and approvals, or nothing of it. Idempotent; the run keeps its
/// exported version (see [`restored_version`](crate::packrun::restored_version)). Returns what
/// it wrote.
///
/// [`RunStore::restore_bundle`]: crate::packrun::RunStore::restore_bundle
pub async fn restore_bundle(store: &Store, bundle: &RunBundle) -> Result<Counts> {
    let restored = store.runs().restore_bundle(bundle).await?;
    Ok(Counts {
        runs: 1,
        logs: restored.logs,
        artifacts: bundle.artifacts.len() as u64,
        approvals: bundle.approvals.len() as u64,
    })
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
    /// Writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// Everything readable was exported, but these runs could not be read.
    #[error("{} run(s) could not be read and are not in the export: {}", unreadable.len(), unreadable.iter().map(|u| format!("{} ({})", u.run_id, u.reason)).collect::<Vec<_>>().join("; "))]
    Unreadable {
        /// What was exported.
        counts: Counts,
        /// What was not.
        unreadable: Vec<Unreadable>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dir_names_are_safe_and_distinct() {
        assert_eq!(run_dir_name("run-1_a.b"), "run-1_a.b");
        assert_eq!(run_dir_name("../x/y"), "%2E.%2Fx%2Fy");
        assert_eq!(run_dir_name("é"), "%C3%A9");
        assert_ne!(run_dir_name("a/b"), run_dir_name("a%2Fb"));
    }
}
