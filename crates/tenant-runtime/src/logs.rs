//! Tenant output: stdout and stderr go to files the tenant appends to (so it keeps writing
//! when no host reads, and a restarted host adopts it), which the host tails into log events
//! and rotates by copy-and-truncate once they pass `log_max_bytes`.

use crate::events::{LogEvent, LogStream, Sinks};
use berth_core::SharedClock;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// Longest log line passed on in one piece.
const MAX_LINE: usize = 16 * 1024;

/// How often the files are read.
const POLL: Duration = Duration::from_millis(50);

/// The output file of `stream` of tenant `key` under `dir`.
pub(crate) fn path(dir: &Path, key: &str, stream: LogStream) -> PathBuf {
    dir.join(key).join(match stream {
        LogStream::Stdout => "stdout.log",
        LogStream::Stderr => "stderr.log",
    })
}

/// Opens (creating it and its directory) an output file for appending.
pub(crate) fn open(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The current length of an open file (0 if unknown).
pub(crate) fn len_of(file: &File) -> u64 {
    file.metadata().map(|m| m.len()).unwrap_or(0)
}

/// The current length of `path` (0 if missing).
pub(crate) fn len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// What one tailer reports and how it rotates.
pub(crate) struct Tail {
    pub(crate) path: PathBuf,
    pub(crate) stream: LogStream,
    pub(crate) key: String,
    pub(crate) pid: u32,
    pub(crate) sinks: Sinks,
    pub(crate) clock: SharedClock,
    pub(crate) max_bytes: u64,
    pub(crate) keep: u32,
}

/// Reads `path` from `offset` to its end; a file shorter than `offset` was truncated and is
/// read from its start. Returns the bytes, the new offset and whether it was truncated.
fn read_from(path: &Path, offset: u64) -> io::Result<(Vec<u8>, u64, bool)> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let from = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::new();
    file.take(len - from).read_to_end(&mut buf)?;
    let next = from + u64::try_from(buf.len()).unwrap_or(0);
    Ok((buf, next, from < offset))
}

/// Copy-and-truncate: `path.N-1` → `path.N`, …, `path` → `path.1`, then `path` emptied (the
/// tenant's appends go on at the new end).
fn rotate(path: &Path, keep: u32) -> io::Result<()> {
    let numbered = |i: u32| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{i}"));
        PathBuf::from(p)
    };
    if keep == 0 {
        return File::options().write(true).open(path)?.set_len(0);
    }
    for i in (1..keep).rev() {
        let from = numbered(i);
        if from.exists() {
            fs::rename(&from, numbered(i + 1))?;
        }
    }
    fs::copy(path, numbered(1))?;
    File::options().write(true).open(path)?.set_len(0)
}

impl Tail {
    /// Tails the file from `offset` until `done` says the tenant is gone (then reads what
    /// is left and stops).
    pub(crate) async fn run(self, mut offset: u64, mut done: watch::Receiver<bool>) {
        let mut line = Vec::new();
        loop {
            let finished = *done.borrow();
            let path = self.path.clone();
            let read = tokio::task::spawn_blocking(move || read_from(&path, offset)).await;
            if let Ok(Ok((bytes, next, truncated))) = read {
                if truncated {
                    // Truncated underneath us: what was partial is lost with the old content.
                    line.clear();
                }
                offset = next;
                for chunk in bytes.split_inclusive(|b| *b == b'\n') {
                    line.extend_from_slice(chunk);
                    if line.last() == Some(&b'\n') || line.len() >= MAX_LINE {
                        self.emit(&mut line);
                    }
                }
                if offset > self.max_bytes && self.max_bytes > 0 {
                    let (path, keep) = (self.path.clone(), self.keep);
                    match tokio::task::spawn_blocking(move || rotate(&path, keep)).await {
                        Ok(Ok(())) => offset = 0,
                        Ok(Err(err)) => {
                            tracing::warn!(path = %self.path.display(), %err, "rotating tenant log failed");
                        }
                        Err(_) => {}
                    }
                }
            }
            if finished {
                if !line.is_empty() {
                    self.emit(&mut line);
                }
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = done.changed() => {}
            }
        }
    }

    fn emit(&self, line: &mut Vec<u8>) {
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        self.sinks.log(LogEvent {
            key: self.key.clone(),
            pid: self.pid,
            stream: self.stream,
            line: String::from_utf8_lossy(line).into_owned(),
            at: self.clock.now(),
        });
        line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_newest_files_and_empties_the_live_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("stdout.log");
        for round in 0..4 {
            fs::write(&p, format!("round {round}\n")).unwrap();
            rotate(&p, 2).unwrap();
        }
        assert_eq!(len(&p), 0);
        let one = fs::read_to_string(dir.path().join("stdout.log.1")).unwrap();
        let two = fs::read_to_string(dir.path().join("stdout.log.2")).unwrap();
        assert_eq!((one.as_str(), two.as_str()), ("round 3\n", "round 2\n"));
        assert!(!dir.path().join("stdout.log.3").exists());
        let (bytes, next, truncated) = read_from(&p, 100).unwrap();
        assert!(bytes.is_empty() && next == 0 && truncated);
    }
}
