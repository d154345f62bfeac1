//! `berth logs RUN [--follow] [--after SEQ]`.
//!
//! `--follow` prints new entries until the run can make no more progress on its own, then says
//! why it stopped and what to do (on standard error, or as a last `followEnd` JSON line with
//! `--json`): the run ended (exit 0), it is paused ([`exit::PAUSED`], with the command that
//! continues it), or its runner is gone ([`exit::OWNER_GONE`], with `berth resume`). When the
//! reader of standard output goes away it stops quietly ([`exit::OUTPUT_CLOSED`]).

use crate::commands::inspect::{get_run, gone_owner, status_text};
use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::output::Style;
use crate::pipe;
use crate::time::{clock, rfc3339};
use berth::packrun::{ApprovalStatus, LogEntry, LogLevel, PackRun, RunStatus};
use berth::Store;
use serde_json::json;
use std::io::Write;
use std::time::Duration;

const PAGE: usize = 500;
/// How often `--follow` looks for new entries.
const POLL: Duration = Duration::from_millis(100);

/// Standard output was closed: stop quietly.
struct Closed;

fn print(ctx: &Ctx, e: &LogEntry) -> Result<(), Closed> {
    let o = &ctx.out;
    let written = if o.json {
        o.write_json_line(e)
    } else {
        let level = match e.level {
            LogLevel::Error => o.paint(Style::Red, "error"),
            LogLevel::Warn => o.paint(Style::Yellow, "warn "),
            LogLevel::Info => "info ".to_owned(),
            LogLevel::Debug => o.paint(Style::Dim, "debug"),
            LogLevel::Trace => o.paint(Style::Dim, "trace"),
        };
        let step = e.step_id.as_deref().unwrap_or("-");
        o.write_line(format!(
            "{:>6} {} {level} {:<18} {} {}",
            e.sequence,
            o.paint(Style::Dim, &clock(e.timestamp)),
            e.event_type,
            o.paint(Style::Cyan, step),
            e.message
        ))
    };
    match written {
        Err(e) if pipe::is_closed(&e) => Err(Closed),
        // Any other write failure (a full disk) is not the follower's to report mid-stream.
        _ => Ok(()),
    }
}

/// Why following stopped.
struct End {
    /// The exit code.
    code: u8,
    /// `ended`, `paused` or `ownerGone`.
    reason: &'static str,
    /// One line for people.
    message: String,
    /// The command that continues the run, if one does.
    next: Option<String>,
    /// Since when the owner is gone.
    owner_gone_since: Option<String>,
}

/// Whether following `run` should stop, and why.
async fn end_of(store: &Store, run: &PackRun) -> Result<Option<End>, CliError> {
    let id = &run.id;
    let status = status_text(run.status);
    Ok(Some(match run.status {
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled => End {
            code: exit::OK,
            reason: "ended",
            message: format!("run {id} {status}"),
            next: None,
            owner_gone_since: None,
        },
        RunStatus::Paused => {
            let pending = store
                .approvals()
                .list(id)
                .await?
                .into_iter()
                .find(|a| a.status == ApprovalStatus::Pending);
            match pending {
                Some(gate) => End {
                    code: exit::PAUSED,
                    reason: "paused",
                    message: format!("run {id} is paused at approval gate {}", gate.approval_id),
                    next: Some(format!(
                        "berth approve {id} {} --as YOUR-NAME",
                        gate.approval_id
                    )),
                    owner_gone_since: None,
                },
                None => End {
                    code: exit::PAUSED,
                    reason: "paused",
                    message: format!("run {id} is paused"),
                    next: Some(format!("berth resume {id}")),
                    owner_gone_since: None,
                },
            }
        }
        RunStatus::Running | RunStatus::Pending => match gone_owner(store, run).await? {
            Some(owner) => End {
                code: exit::OWNER_GONE,
                reason: "ownerGone",
                message: format!(
                    "run {id} is {status} but its runner {} is gone (lease lapsed at {})",
                    owner.owner,
                    rfc3339(owner.expires_at)
                ),
                next: Some(format!("berth resume {id}")),
                owner_gone_since: Some(rfc3339(owner.expires_at)),
            },
            None => return Ok(None),
        },
    }))
}

/// Says why following stopped: on standard error, or as the last JSON line.
fn report(ctx: &Ctx, run: &PackRun, end: &End) {
    if ctx.out.json {
        let _ = ctx.out.write_json_line(&json!({ "followEnd": {
            "runId": run.id,
            "status": status_text(run.status),
            "reason": end.reason,
            "message": end.message,
            "next": end.next,
            "ownerGoneSince": end.owner_gone_since,
            "exitCode": end.code,
        }}));
        return;
    }
    // Not eprintln!: it panics when standard error is closed.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", end.message);
    if let Some(next) = &end.next {
        let _ = writeln!(err, "  continue it with: {next}");
    }
}

/// Prints the log; with `follow`, keeps polling until the run has ended, is paused or has lost
/// its runner, and all is printed.
pub async fn logs(ctx: &Ctx, id: &str, follow: bool, after: Option<u64>) -> Result<u8, CliError> {
    let store = ctx.store_read_only().await?;
    get_run(&store, id).await?;
    let mut after = after;
    loop {
        // The run is read before the entries, so everything written before it stopped is
        // printed before following stops.
        let end = if follow {
            let run = get_run(&store, id).await?;
            end_of(&store, &run).await?.map(|end| (run, end))
        } else {
            None
        };
        loop {
            let page = store.logs().read(id, after, PAGE).await?;
            for e in &page {
                if print(ctx, e).is_err() {
                    return Ok(exit::OUTPUT_CLOSED);
                }
            }
            if let Some(last) = page.last() {
                after = Some(last.sequence);
            }
            if page.len() < PAGE {
                break;
            }
        }
        if !follow {
            return Ok(exit::OK);
        }
        if let Some((run, end)) = end {
            report(ctx, &run, &end);
            return Ok(end.code);
        }
        if pipe::stdout_closed() {
            return Ok(exit::OUTPUT_CLOSED);
        }
        tokio::time::sleep(POLL).await;
    }
}
