//! `berth logs RUN [--follow] [--after SEQ]`.

use crate::commands::inspect::get_run;
use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::output::Style;
use crate::time::clock;
use berth::packrun::{LogEntry, LogLevel, RunStatus};
use std::time::Duration;

const PAGE: usize = 500;
/// How often `--follow` looks for new entries.
const POLL: Duration = Duration::from_millis(100);

fn print(ctx: &Ctx, e: &LogEntry) {
    let o = &ctx.out;
    if o.json {
        o.json_line(e);
        return;
    }
    let level = match e.level {
        LogLevel::Error => o.paint(Style::Red, "error"),
        LogLevel::Warn => o.paint(Style::Yellow, "warn "),
        LogLevel::Info => "info ".to_owned(),
        LogLevel::Debug => o.paint(Style::Dim, "debug"),
        LogLevel::Trace => o.paint(Style::Dim, "trace"),
    };
    let step = e.step_id.as_deref().unwrap_or("-");
    o.line(format!(
        "{:>6} {} {level} {:<18} {} {}",
        e.sequence,
        o.paint(Style::Dim, &clock(e.timestamp)),
        e.event_type,
        o.paint(Style::Cyan, step),
        e.message
    ));
}

/// Prints the log; with `follow`, keeps polling until the run has ended and all is printed.
pub async fn logs(ctx: &Ctx, id: &str, follow: bool, after: Option<u64>) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    get_run(&store, id).await?;
    let mut after = after;
    loop {
        // The status is read before the entries, so everything written before the run
        // ended is printed before following stops.
        let ended = !follow
            || matches!(
                get_run(&store, id).await?.status,
                RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
            );
        loop {
            let page = store.logs().read(id, after, PAGE).await?;
            for e in &page {
                print(ctx, e);
            }
            if let Some(last) = page.last() {
                after = Some(last.sequence);
            }
            if page.len() < PAGE {
                break;
            }
        }
        if ended {
            return Ok(exit::OK);
        }
        tokio::time::sleep(POLL).await;
    }
}
