//! `bench-report`: writes `docs/benchmarks.md` and `docs/bench/*.png` from criterion's saved
//! estimates.
//!
//! ```sh
//! cargo run -p berth-benches --bin bench-report -- \
//!     [--criterion target/criterion] [--rss target/berth-peak-rss.json] \
//!     [--out docs/benchmarks.md] [--charts docs/bench | --no-charts] [--settings "…"]
//! ```
//!
//! `--criterion` defaults to `$BERTH_BENCH_CRITERION_DIR`, then `$CARGO_TARGET_DIR/criterion`,
//! then `target/criterion`.

use berth_benches::report::{generate, Paths};
use std::path::PathBuf;
use std::process::ExitCode;

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}

fn parse() -> Result<Paths, String> {
    let mut paths = Paths {
        criterion: std::env::var_os("BERTH_BENCH_CRITERION_DIR")
            .map_or_else(|| target_dir().join("criterion"), PathBuf::from),
        rss: target_dir().join("berth-peak-rss.json"),
        out: PathBuf::from("docs/benchmarks.md"),
        charts: Some(PathBuf::from("docs/bench")),
        settings: "criterion defaults of `berth_benches::config()`".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--criterion" => paths.criterion = value()?.into(),
            "--rss" => paths.rss = value()?.into(),
            "--out" => paths.out = value()?.into(),
            "--charts" => paths.charts = Some(value()?.into()),
            "--no-charts" => paths.charts = None,
            "--settings" => paths.settings = value()?,
            "-h" | "--help" => {
                return Err(
                    "usage: bench-report [--criterion DIR] [--rss FILE] [--out FILE] \
                            [--charts DIR | --no-charts] [--settings TEXT]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(paths)
}

fn main() -> ExitCode {
    let paths = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("bench-report: {e}");
            return ExitCode::from(2);
        }
    };
    match generate(&paths) {
        Ok(n) => {
            eprintln!("bench-report: {n} benchmarks → {}", paths.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
