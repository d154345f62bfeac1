//! Criterion's saved results: `<dir>/**/new/benchmark.json` and `estimates.json`.

use super::Result;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One benchmark's result: a group, the backend (criterion's parameter) and its figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Criterion's group id (`commit_sequential`).
    pub group: String,
    /// The backend (or, for groups that are not per backend, the function id).
    pub backend: String,
    /// Median time per iteration, nanoseconds.
    pub median_ns: f64,
    /// Elements per iteration, where the bench declared a throughput in elements.
    pub elements: Option<u64>,
}

impl Measurement {
    /// Elements per second at the median, if the bench counts elements.
    pub fn per_second(&self) -> Option<f64> {
        let elements = self.elements?;
        (self.median_ns > 0.0).then(|| elements as f64 * 1e9 / self.median_ns)
    }
}

#[derive(Deserialize)]
struct Benchmark {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
    throughput: Option<Throughput>,
}

#[derive(Deserialize)]
enum Throughput {
    Elements(u64),
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Every measurement saved under `dir` (criterion's output directory), sorted by group and
/// backend. Directories without both files are skipped; a file that does not parse is an error.
pub fn load(dir: &Path) -> Result<Vec<Measurement>> {
    let mut found = Vec::new();
    collect_new_dirs(dir, &mut found)?;
    let mut out = Vec::new();
    for new in found {
        let (bench, est) = (new.join("benchmark.json"), new.join("estimates.json"));
        if !bench.is_file() || !est.is_file() {
            continue;
        }
        let b: Benchmark = read_json(&bench)?;
        let e: Estimates = read_json(&est)?;
        let backend = b.value_str.or(b.function_id).unwrap_or_default();
        out.push(Measurement {
            group: b.group_id,
            backend,
            median_ns: e.median.point_estimate,
            elements: match b.throughput {
                Some(Throughput::Elements(n)) => Some(n),
                _ => None,
            },
        });
    }
    out.sort_by(|a, b| (&a.group, &a.backend).cmp(&(&b.group, &b.backend)));
    Ok(out)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()).into())
}

/// Every directory named `new` below `dir` (criterion's latest run of a benchmark).
fn collect_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            out.push(path);
        } else if path.file_name().is_some_and(|n| n != "report") {
            collect_new_dirs(&path, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_saved_benchmark() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("get/memory/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"get","function_id":null,"value_str":"memory","throughput":{"Elements":1},"full_id":"get/memory"}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"point_estimate":900.0},"median":{"point_estimate":800.0}}"#,
        )
        .unwrap();
        let m = load(dir.path()).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].group.as_str(), m[0].backend.as_str()),
            ("get", "memory")
        );
        assert_eq!(m[0].per_second(), Some(1.25e6));
    }
}
