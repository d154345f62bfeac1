//! What is at a path before sled touches it: nothing, an empty directory, or sled's files.
//!
//! sled itself is not careful here: it creates `blobs/` before it reads anything, and it
//! rewrites a `conf` file that is short or unreadable. So every check that can be made
//! without writing is made first, and a directory that fails one is left exactly as it was.

use berth_core::{Error, Result};
use std::fs;
use std::io;
use std::path::Path;

/// sled's configuration file inside its directory.
const CONF: &str = "conf";
/// sled's data (log) file.
const DATA: &str = "db";
/// sled's directory of large values.
const BLOBS: &str = "blobs";
/// The only sled storage version this crate opens.
const SLED_VERSION: &str = "0.34";

/// What was found at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Nothing there yet, or an empty directory: a new database.
    Fresh,
    /// A directory holding a sled database whose configuration checks out.
    Sled,
}

/// Inspects `path` without modifying anything.
pub(crate) fn inspect(path: &Path) -> Result<Layout> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Layout::Fresh),
        Err(e) => return Err(io_error(path, e)),
    };
    if !meta.is_dir() {
        return Err(not_sled(path, "it is not a directory"));
    }
    let mut entries = fs::read_dir(path).map_err(|e| io_error(path, e))?;
    if entries.next().is_none() {
        return Ok(Layout::Fresh);
    }
    let conf = path.join(CONF);
    if !conf.is_file() || !path.join(DATA).is_file() || !path.join(BLOBS).is_dir() {
        return Err(not_sled(
            path,
            "it has files but not sled's conf, db and blobs",
        ));
    }
    let bytes = fs::read(&conf).map_err(|e| io_error(&conf, e))?;
    check_conf(&bytes).map_err(|reason| {
        Error::Corrupt(format!("{}: sled configuration {reason}", conf.display()))
    })?;
    Ok(Layout::Sled)
}

/// Checks sled's `conf` file: `key: value` lines followed by their CRC-32 (little endian).
fn check_conf(bytes: &[u8]) -> std::result::Result<(), String> {
    let split = bytes
        .len()
        .checked_sub(4)
        .filter(|&n| n > 4)
        .ok_or("is truncated")?;
    let (body, crc) = bytes.split_at(split);
    let mut stored = [0u8; 4];
    stored.copy_from_slice(crc);
    if crc32fast::hash(body) != u32::from_le_bytes(stored) {
        return Err("fails its checksum".into());
    }
    let text = std::str::from_utf8(body).map_err(|_| "is not text")?;
    let version = text
        .lines()
        .filter_map(|line| line.split_once(": "))
        .find(|(k, _)| *k == "version")
        .map(|(_, v)| v)
        .ok_or("has no version")?;
    if version != SLED_VERSION {
        return Err(format!(
            "is of sled storage version {version}, this build reads {SLED_VERSION}"
        ));
    }
    Ok(())
}

fn not_sled(path: &Path, why: &str) -> Error {
    Error::Corrupt(format!("{} is not a sled database: {why}", path.display()))
}

fn io_error(path: &Path, e: io::Error) -> Error {
    Error::backend(format!("cannot inspect {}", path.display()), false, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(body: &str) -> Vec<u8> {
        let mut out = body.as_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(body.as_bytes()).to_le_bytes());
        out
    }

    #[test]
    fn conf_checks() {
        let good = "segment_size: 524288\nuse_compression: false\nversion: 0.34\n";
        assert!(check_conf(&conf(good)).is_ok());
        assert!(check_conf(&conf(&good.replace("0.34", "0.31"))).is_err());
        assert!(check_conf(&conf("segment_size: 1\n")).is_err());
        let mut flipped = conf(good);
        flipped[3] ^= 1;
        assert!(check_conf(&flipped).is_err());
        assert!(check_conf(b"abc").is_err());
    }
}
