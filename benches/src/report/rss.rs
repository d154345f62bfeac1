//! Peak resident memory per case and backend, as written by the `peak_rss` example.

use super::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One case measured in a fresh process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakRss {
    /// The workload (`batch_10000_puts`, `pipeline_10000_runs`).
    pub case: String,
    /// The backend.
    pub backend: String,
    /// `VmHWM` after opening the store, before the workload (KiB).
    pub baseline_kib: u64,
    /// `VmHWM` after the workload (KiB).
    pub peak_kib: u64,
}

/// The process's peak resident set so far (`VmHWM` of `/proc/self/status`), in KiB.
pub fn vm_hwm_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/self/status".into())
}

/// The measurements saved at `path`; none if the file does not exist.
pub fn load(path: &Path) -> Result<Vec<PeakRss>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()).into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", path.display()).into()),
    }
}
