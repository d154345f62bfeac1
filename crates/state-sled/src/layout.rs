//! What is at a path before sled touches it: nothing, a new directory, or berth's sled files.
//!
//! sled itself is not careful here: it creates `blobs/` before it reads anything, rewrites a
//! `conf` file that is short or unreadable, and treats a log whose first segment is garbage
//! as empty. So every check that can be made without writing is made first, and a directory
//! that fails one is left exactly as it was. berth marks a directory as its own with a small
//! file written before sled creates anything, so a sled database of another program is
//! refused without being opened.

use berth_core::{Error, Result};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// berth's own marker file: a directory holding it was created by this crate.
pub(crate) const MARKER: &str = "berth-sled";
/// The marker file's content.
pub(crate) const MARKER_TEXT: &[u8] = b"berth-sled/1\n";
/// sled's configuration file inside its directory.
const CONF: &str = "conf";
/// sled's data (log) file.
const DATA: &str = "db";
/// sled's directory of large values.
const BLOBS: &str = "blobs";
/// The only sled storage version this crate opens.
const SLED_VERSION: &str = "0.34";
/// Length of a sled 0.34 segment header: CRC-32, LSN, highest stable LSN.
const SEGMENT_HEADER: usize = 20;

/// What was found at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Nothing there yet, an empty directory, or one berth began to create: a new database.
    Fresh,
    /// berth's sled database whose configuration and log headers check out.
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
        return Err(not_ours(path, "it is not a directory"));
    }
    let mut entries = fs::read_dir(path).map_err(|e| io_error(path, e))?;
    if entries.next().is_none() {
        return Ok(Layout::Fresh);
    }
    let marker = path.join(MARKER);
    let conf = path.join(CONF);
    let data = path.join(DATA);
    let has_sled_files = conf.is_file() || data.is_file();
    if !marker.is_file() {
        return Err(not_ours(
            path,
            if has_sled_files {
                "it is a sled database, but not one created by berth"
            } else {
                "it has other files and is not a sled database"
            },
        ));
    }
    if fs::read(&marker).map_err(|e| io_error(&marker, e))? != MARKER_TEXT {
        return Err(not_ours(path, "its berth-sled marker is not understood"));
    }
    if !has_sled_files {
        // berth wrote its marker and stopped before sled wrote anything.
        return Ok(Layout::Fresh);
    }
    if !conf.is_file() || !data.is_file() || !path.join(BLOBS).is_dir() {
        return Err(corrupt(path, "one of sled's conf, db and blobs is missing"));
    }
    let bytes = fs::read(&conf).map_err(|e| io_error(&conf, e))?;
    let segment_size = check_conf(&bytes)
        .map_err(|reason| corrupt(path, &format!("sled's configuration {reason}")))?;
    check_log(&data, segment_size)?;
    Ok(Layout::Sled)
}

/// Checks sled's `conf` file (`key: value` lines, then their CRC-32, little endian) and
/// returns its segment size.
fn check_conf(bytes: &[u8]) -> std::result::Result<u64, String> {
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
    let field = |name: &str| {
        text.lines()
            .filter_map(|line| line.split_once(": "))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .ok_or(format!("has no {name}"))
    };
    let version = field("version")?;
    if version != SLED_VERSION {
        return Err(format!(
            "is of sled storage version {version}, this build reads {SLED_VERSION}"
        ));
    }
    field("segment_size")?
        .parse::<u64>()
        .ok()
        .filter(|&n| n >= SEGMENT_HEADER as u64)
        .ok_or_else(|| "has an invalid segment_size".into())
}

/// Refuses a log in which no segment has a valid header although it holds data.
///
/// A freed or torn segment is normal, and sled's recovery handles it; a log where no
/// segment at all is valid would be read by sled as an empty database, losing everything.
fn check_log(data: &Path, segment_size: u64) -> Result<()> {
    let mut file = File::open(data).map_err(|e| io_error(data, e))?;
    let len = file.metadata().map_err(|e| io_error(data, e))?.len();
    let mut offset = 0;
    let mut header = [0u8; SEGMENT_HEADER];
    while offset + SEGMENT_HEADER as u64 <= len {
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut header))
            .map_err(|e| io_error(data, e))?;
        if segment_header_ok(&header) {
            return Ok(());
        }
        offset += segment_size;
    }
    // No valid segment: fine only if the log holds nothing but zeros (created, never written).
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_error(data, e))?;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk).map_err(|e| io_error(data, e))?;
        if n == 0 {
            return Ok(());
        }
        if chunk[..n].iter().any(|&b| b != 0) {
            return Err(corrupt(
                data.parent().unwrap_or(data),
                "sled's log has data but no valid segment header",
            ));
        }
    }
}

/// Whether a sled 0.34 segment header's checksum holds.
fn segment_header_ok(header: &[u8; SEGMENT_HEADER]) -> bool {
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&header[..4]);
    crc32fast::hash(&header[4..]) == u32::from_le_bytes(stored) ^ 0xFFFF_FFFF
}

fn not_ours(path: &Path, why: &str) -> Error {
    Error::Corrupt(format!(
        "{} is not a berth sled database: {why}",
        path.display()
    ))
}

fn corrupt(path: &Path, why: &str) -> Error {
    Error::Corrupt(format!("berth sled database {}: {why}", path.display()))
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
        assert_eq!(check_conf(&conf(good)), Ok(524288));
        assert!(check_conf(&conf(&good.replace("0.34", "0.31"))).is_err());
        assert!(check_conf(&conf(&good.replace("524288", "x"))).is_err());
        assert!(check_conf(&conf("segment_size: 1\n")).is_err());
        let mut flipped = conf(good);
        flipped[3] ^= 1;
        assert!(check_conf(&flipped).is_err());
        assert!(check_conf(b"abc").is_err());
    }

    #[test]
    fn segment_header_checksum() {
        let mut header = [0u8; SEGMENT_HEADER];
        header[4..].copy_from_slice(&[7; 16]);
        let crc = crc32fast::hash(&header[4..]) ^ 0xFFFF_FFFF;
        header[..4].copy_from_slice(&crc.to_le_bytes());
        assert!(segment_header_ok(&header));
        header[9] ^= 1;
        assert!(!segment_header_ok(&header));
        assert!(!segment_header_ok(&[0; SEGMENT_HEADER]));
    }
}
