//! The targets (issue 12), each judged against the measurements it names.

use super::estimates::Measurement;

/// How a target is judged.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Median time per iteration at most this many nanoseconds.
    MaxMedianNs(f64),
    /// At least this many elements per second.
    MinPerSecond(f64),
    /// Median at most `factor` × the median of another bench `(group, backend)`.
    MaxTimesMedianOf(&'static str, &'static str, f64),
    /// Elements per second at least `factor` × those of another bench `(group, backend)`.
    MinTimesRateOf(&'static str, &'static str, f64),
}

/// One target of the issue.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The target as the issue words it.
    pub text: &'static str,
    /// The bench it is judged on.
    pub group: &'static str,
    /// The backend it is judged on.
    pub backend: &'static str,
    /// The rule.
    pub rule: Rule,
}

/// Every target of the issue.
pub const TARGETS: &[Target] = &[
    Target {
        text: "memory point get ≤ 1 µs",
        group: "get",
        backend: "memory",
        rule: Rule::MaxMedianNs(1_000.0),
    },
    Target {
        text: "SQLite Relaxed sequential commits ≥ 60 000/s",
        group: "commit_sequential",
        backend: "sqlite-relaxed",
        rule: Rule::MinPerSecond(60_000.0),
    },
    Target {
        text: "SQLite Immediate sequential commit ≤ 1.5 × one fsync",
        group: "commit_sequential",
        backend: "sqlite-immediate",
        rule: Rule::MaxTimesMedianOf("fsync", "write_4k_fdatasync", 1.5),
    },
    Target {
        text: "SQLite Immediate, 32 writers ≥ 10 × its sequential rate",
        group: "commit_32_writers",
        backend: "sqlite-immediate",
        rule: Rule::MinTimesRateOf("commit_sequential", "sqlite-immediate", 10.0),
    },
    Target {
        text: "batched puts ≥ 300 000 records/s (SQLite Immediate)",
        group: "batch_10000_puts",
        backend: "sqlite-immediate",
        rule: Rule::MinPerSecond(300_000.0),
    },
    Target {
        text: "batched puts ≥ 300 000 records/s (SQLite Relaxed)",
        group: "batch_10000_puts",
        backend: "sqlite-relaxed",
        rule: Rule::MinPerSecond(300_000.0),
    },
    Target {
        text: "batched puts ≥ 300 000 records/s (sled)",
        group: "batch_10000_puts",
        backend: "sled",
        rule: Rule::MinPerSecond(300_000.0),
    },
    Target {
        text: "SQLite point get ≤ 10 µs (Immediate)",
        group: "get",
        backend: "sqlite-immediate",
        rule: Rule::MaxMedianNs(10_000.0),
    },
    Target {
        text: "SQLite point get ≤ 10 µs (Relaxed)",
        group: "get",
        backend: "sqlite-relaxed",
        rule: Rule::MaxMedianNs(10_000.0),
    },
    Target {
        text: "SQLite Relaxed acquire of 300 free shards ≤ 0.25 ms",
        group: "acquire_300_free",
        backend: "sqlite-relaxed",
        rule: Rule::MaxMedianNs(250_000.0),
    },
    Target {
        text: "SQLite Relaxed refresh of 300 shards ≤ 0.1 ms",
        group: "refresh_300_held",
        backend: "sqlite-relaxed",
        rule: Rule::MaxMedianNs(100_000.0),
    },
    Target {
        text: "pipeline stage commits ≥ 40 000/s from 8 concurrent runs (SQLite Immediate)",
        group: "pipeline_8_runs_stage_commit",
        backend: "sqlite-immediate",
        rule: Rule::MinPerSecond(40_000.0),
    },
    Target {
        text: "pipeline stage commit ≤ 30 µs median (SQLite Relaxed)",
        group: "pipeline_stage_commit",
        backend: "sqlite-relaxed",
        rule: Rule::MaxMedianNs(30_000.0),
    },
];

/// A target's verdict: the measured figure in words, and whether it is met (`None`: not
/// measured in this run).
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The measured figure, formatted.
    pub measured: String,
    /// Met, missed, or not measured.
    pub met: Option<bool>,
}

fn find<'a>(all: &'a [Measurement], group: &str, backend: &str) -> Option<&'a Measurement> {
    all.iter()
        .find(|m| m.group == group && m.backend == backend)
}

/// Judges `target` against `all`.
pub fn judge(target: &Target, all: &[Measurement]) -> Verdict {
    let none = || Verdict {
        measured: "not measured".into(),
        met: None,
    };
    let Some(m) = find(all, target.group, target.backend) else {
        return none();
    };
    match target.rule {
        Rule::MaxMedianNs(max) => Verdict {
            measured: super::format::duration(m.median_ns),
            met: Some(m.median_ns <= max),
        },
        Rule::MinPerSecond(min) => match m.per_second() {
            Some(rate) => Verdict {
                measured: format!("{}/s", super::format::count(rate)),
                met: Some(rate >= min),
            },
            None => none(),
        },
        Rule::MaxTimesMedianOf(group, backend, factor) => match find(all, group, backend) {
            Some(r) if r.median_ns > 0.0 => {
                let ratio = m.median_ns / r.median_ns;
                Verdict {
                    measured: format!(
                        "{} vs {} = {ratio:.2} ×",
                        super::format::duration(m.median_ns),
                        super::format::duration(r.median_ns)
                    ),
                    met: Some(ratio <= factor),
                }
            }
            _ => none(),
        },
        Rule::MinTimesRateOf(group, backend, factor) => {
            match (
                m.per_second(),
                find(all, group, backend).and_then(|r| r.per_second()),
            ) {
                (Some(rate), Some(base)) if base > 0.0 => {
                    let ratio = rate / base;
                    Verdict {
                        measured: format!(
                            "{}/s vs {}/s = {ratio:.1} ×",
                            super::format::count(rate),
                            super::format::count(base)
                        ),
                        met: Some(ratio >= factor),
                    }
                }
                _ => none(),
            }
        }
    }
}
