//! Live progress of a run: log entries printed as the runner stores them.

use crate::output::{Out, Style};
use berth::packrun::{LogEntry, LogLevel};
use berth_pipeline::packrun::{PackRunError, RunSummary};
use std::future::Future;
use tokio::sync::mpsc;

/// Prints log entries of one run.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    out: Out,
    width: usize,
}

impl Printer {
    /// A printer aligning step names to `width`.
    pub fn new(out: Out, width: usize) -> Self {
        Printer {
            out,
            width: width.clamp(4, 24),
        }
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
            _ => format!(
                "{} {} {}",
                out.paint(style, &format!("{mark:>2}")),
                out.paint(Style::Cyan, &name),
                e.message
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
                berth_pipeline::packrun::command::kill_running_commands();
                berth_pipeline::packrun::lease::release_this_runner(store).await;
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
