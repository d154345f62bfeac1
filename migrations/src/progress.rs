//! Progress of a long import: a bar on a terminal, plain lines (at most one every two
//! seconds) otherwise; nothing on stdout, so `--json` output stays one document.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Reports how many of `total` items are done.
#[derive(Debug)]
pub enum Progress {
    /// An interactive bar on stderr.
    Bar(ProgressBar),
    /// Plain lines on stderr.
    Lines {
        /// Items in all.
        total: u64,
        /// When the last line was printed.
        last: Instant,
    },
}

impl Progress {
    /// A bar when stderr is a terminal, lines otherwise.
    pub fn new(total: u64, what: &str) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let template =
                format!("{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}}) {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                total,
                last: Instant::now(),
            }
        }
    }

    /// `done` of the total are finished; `note` is the running summary.
    pub fn update(&mut self, done: u64, note: &str) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(done);
                bar.set_message(note.to_owned());
            }
            Progress::Lines { total, last } => {
                if last.elapsed() >= Duration::from_secs(2) || done == *total {
                    *last = Instant::now();
                    eprintln!("berth-migrate: import {done}/{total} runs: {note}");
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
