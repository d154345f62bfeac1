//! The report generator behind `bench-report`: criterion's saved estimates in,
//! `docs/benchmarks.md` and a PNG chart per benchmark group out.
//!
//! ```
//! use berth_benches::report::format::duration;
//! assert_eq!(duration(4_312.0), "4.31 µs");
//! ```

pub mod chart;
pub mod estimates;
pub mod format;
pub mod glyphs;
pub mod layout;
pub mod machine;
pub mod markdown;
pub mod rss;
pub mod targets;

use std::path::{Path, PathBuf};

/// Errors of the report generator: a message naming the file or step that failed.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Where the report reads from and writes to.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Criterion's output directory (`target/criterion`).
    pub criterion: PathBuf,
    /// The peak-RSS results of the `peak_rss` example.
    pub rss: PathBuf,
    /// The markdown file to write.
    pub out: PathBuf,
    /// The directory of the charts; `None` draws none.
    pub charts: Option<PathBuf>,
    /// The settings the benches ran with, in words.
    pub settings: String,
}

/// Reads the results, draws the charts, writes the markdown; returns how many benchmarks
/// it reported.
pub fn generate(paths: &Paths) -> Result<usize> {
    let measurements = estimates::load(&paths.criterion)?;
    if measurements.is_empty() {
        return Err(format!("no criterion results under {}", paths.criterion.display()).into());
    }
    let rss = rss::load(&paths.rss)?;
    let previous = match std::fs::read_to_string(&paths.out) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", paths.out.display()).into()),
    };
    let relative = match &paths.charts {
        Some(dir) => {
            draw_charts(dir, &measurements)?;
            Some(relative_to(dir, &paths.out))
        }
        None => None,
    };
    let machine = machine::describe();
    let text = markdown::render(&markdown::Inputs {
        measurements: &measurements,
        rss: &rss,
        machine: &machine,
        settings: &paths.settings,
        charts: relative.as_deref(),
        previous: &previous,
    });
    std::fs::write(&paths.out, text).map_err(|e| format!("{}: {e}", paths.out.display()))?;
    Ok(measurements.len())
}

fn draw_charts(dir: &Path, all: &[estimates::Measurement]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut groups: Vec<&str> = all.iter().map(|m| m.group.as_str()).collect();
    groups.dedup();
    for g in groups {
        chart::draw(&dir.join(format!("{g}.png")), g, &markdown::bars(all, g))?;
    }
    Ok(())
}

/// `dir` as the markdown at `out` should link it: relative when `dir` is beside or below
/// `out`'s directory, absolute otherwise.
fn relative_to(dir: &Path, out: &Path) -> String {
    let base = out.parent().unwrap_or(Path::new(""));
    dir.strip_prefix(base)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned()
}
