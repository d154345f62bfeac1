//! Live progress of a run: log entries printed as the runner stores them.

use crate::output::{Out, Style};
use berth::packrun::{LogEntry, LogLevel, PackRun, StepStatus};
use berth_packrun::{PackRunError, RunSummary};
use std::cell::Cell;
use std::future::Future;
use tokio::sync::mpsc;

/// Prints log entries of one run, counting finished steps as a progress indicator.
#[derive(Debug, Clone)]
pub struct Printer {
    out: Out,
    width: usize,
    done: Cell<usize>,
    total: usize,
}

impl Printer {
    /// A printer for `run` (step names aligned, steps already finished counted as done).
    pub fn for_run(out: Out, run: &PackRun) -> Self {
        let width = run.steps.iter().map(|s| s.step_id.len()).max().unwrap_or(8);
        let done = run
            .steps
            .iter()
            .filter(|s| matches!(s.status, StepStatus::Succeeded | StepStatus::Failed))
            .count();
        Printer {
            out,
            width: width.clamp(4, 24),
            done: Cell::new(done),
            total: run.steps.len(),
        }
    }

    /// A printer for a new run of `steps` (their ids).
    pub fn for_steps(out: Out, steps: &[String]) -> Self {
        let width = steps.iter().map(String::len).max().unwrap_or(8);
        Printer {
            out,
            width: width.clamp(4, 24),
            done: Cell::new(0),
            total: steps.len(),
        }
    }

    /// ` [done/total]` after a step finished.
    fn progress(&self, event: &str) -> String {
        if !matches!(
            event,
            "step.succeeded" | "step.failed" | "approval.approved" | "approval.rejected"
        ) {
            return String::new();
        }
        self.done.set((self.done.get() + 1).min(self.total));
        self.out.paint(
            Style::Dim,
            &format!(" [{}/{} steps]", self.done.get(), self.total),
        )
    }

    /// Prints one entry (JSON line with `--json`).
    pub fn print(&self, e: &LogEntry) {
        let out = &self.out;
        if out.json {
            out.json_line(e);
            return;
        }
        let fancy = out.tty;
        let step = e.step_id.as_deref().unwrap_or("");
        let name = format!("{step:<w$}", w = self.width);
        let (mark, style) = match e.event_type.as_str() {
            "step.started" => (if fancy { "▶" } else { ">" }, Style::Cyan),
            "step.succeeded" | "approval.approved" => {
                (if fancy { "✓" } else { "ok" }, Style::Green)
            }
            "step.failed" | "approval.rejected" | "run.failed" => {
                (if fancy { "✗" } else { "FAIL" }, Style::Red)
            }
            "step.retry" => (if fancy { "↻" } else { "retry" }, Style::Yellow),
            "step.timeout" | "step.orphans" => ("!", Style::Yellow),
            "approval.requested" | "run.paused" => (if fancy { "⏸" } else { "||" }, Style::Yellow),
            "artifact.copied" => ("+", Style::Green),
            "artifact.skipped" => ("-", Style::Yellow),
            "run.succeeded" => (if fancy { "✓" } else { "ok" }, Style::Green),
            _ => ("", Style::Dim),
        };
        let text = match e.event_type.as_str() {
            "step.output" => {
                let bar = if fancy { "│" } else { "|" };
                let line = if e.level >= LogLevel::Warn {
                    out.paint(Style::Yellow, &e.message)
                } else {
                    e.message.clone()
                };
                format!(
                    "  {} {} {line}",
                    out.paint(Style::Dim, &name),
                    out.paint(Style::Dim, bar)
                )
            }
            t if t.starts_with("run.") => {
                format!(
                    "{} {}",
                    out.paint(style, &format!("{mark:>2}")),
                    out.paint(Style::Bold, &format!("{t}: {}", e.message))
                )
            }
            t => format!(
                "{} {} {}{}",
                out.paint(style, &format!("{mark:>2}")),
                out.paint(Style::Cyan, &name),
                e.message,
                self.progress(t)
            ),
        };
        out.line(text);
    }
}

/// How a followed run came back.
pub enum Followed {
    /// The runner returned.
    Done(Box<Result<RunSummary, PackRunError>>),
    /// Ctrl-C: the commands were killed; the run stays resumable.
    Interrupted,
}

/// Drives `work` while printing every entry that arrives on `rx`, then the rest. Ctrl-C
/// kills the running commands and returns [`Followed::Interrupted`].
pub async fn follow<F>(
    store: &berth::Store,
    printer: Printer,
    mut rx: mpsc::UnboundedReceiver<LogEntry>,
    work: F,
) -> Followed
where
    F: Future<Output = Result<RunSummary, PackRunError>>,
{
    tokio::pin!(work);
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            Some(e) = rx.recv() => printer.print(&e),
            _ = &mut interrupt => {
                berth_packrun::command::kill_running_commands();
                berth_packrun::lease::release_this_runner(store).await;
                while let Ok(e) = rx.try_recv() {
                    printer.print(&e);
                }
                return Followed::Interrupted;
            }
        }
    };
    // The runner flushed its log before returning: every entry is already queued.
    while let Ok(e) = rx.try_recv() {
        printer.print(&e);
    }
    Followed::Done(Box::new(result))
}
