//! `berth`: the command line of berth, durable state for job orchestration.
//!
//! Runs task packs (JSON plans of commands, parallel blocks, maps and approval gates)
//! durably on any berth store, pauses at approval gates, survives a killed runner and
//! resumes from the last committed step; lists and shows runs, their logs, artifacts and
//! leases; exports and imports pack-run records. `berth demo` shows all of it in one go.
//! Exit codes are listed in `berth --help` and in [`exit`].

mod args;
mod commands;
mod exit;
mod live;
mod output;
mod pipe;
mod serve;
mod time;

use args::{Cli, Command};
use berth::packrun::Decision;
use clap::Parser;
use commands::Ctx;
use output::{Out, Style};
use std::process::ExitCode;

fn init_tracing() {
    let Some(level) = std::env::var("BERTH_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
    else {
        return;
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

async fn dispatch(ctx: &Ctx) -> Result<u8, exit::CliError> {
    match &ctx.cli.command {
        Command::Demo { dir } => commands::demo::demo(ctx, dir).await,
        Command::Run {
            plan,
            detach,
            run_id,
            tenant,
        } => commands::drive::run(ctx, plan, *detach, run_id.clone(), tenant.clone()).await,
        Command::Runs { tenant, limit } => {
            commands::inspect::runs(ctx, tenant.clone(), *limit).await
        }
        Command::Show { run } => commands::inspect::show(ctx, run).await,
        Command::Logs { run, follow, after } => {
            commands::logs::logs(ctx, run, *follow, *after).await
        }
        Command::Approve {
            run,
            gate,
            actor,
            no_resume,
        } => {
            commands::drive::decide(ctx, run, gate, actor, Decision::Approve, None, !no_resume)
                .await
        }
        Command::Reject {
            run,
            gate,
            actor,
            reason,
        } => {
            commands::drive::decide(
                ctx,
                run,
                gate,
                actor,
                Decision::Reject,
                Some(reason.clone()),
                true,
            )
            .await
        }
        Command::Resume { run, plan } => commands::drive::resume(ctx, run, plan.as_deref()).await,
        Command::Artifacts { run } => commands::inspect::artifacts(ctx, run).await,
        Command::Leases => commands::inspect::leases(ctx).await,
        Command::Export { to } => commands::transfer::export(ctx, to).await,
        Command::Import { from } => commands::transfer::import(ctx, from).await,
        Command::Serve(a) => serve::serve(ctx, a.listen, a.limits(ctx.cli.step_timeout())).await,
        Command::Token(t) => commands::token::dispatch(ctx, t).await,
    }
}

/// Parses the command line; a usage error under `--json` is printed as JSON too.
fn parse() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ExitCode::from(exit::OK))
        }
        Err(e) if std::env::args_os().any(|a| a == "--json") => {
            let text = e.to_string();
            let message = text.lines().next().unwrap_or_default();
            eprintln!(
                "{}",
                serde_json::json!({
                    "error": message.trim_start_matches("error: "),
                    "hint": "see `berth --help`",
                    "exitCode": exit::USAGE,
                })
            );
            Err(ExitCode::from(exit::USAGE))
        }
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::from(exit::USAGE))
        }
    }
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_tracing();
    let out = Out::detect(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let ctx = Ctx { cli, out };
    match runtime.block_on(dispatch(&ctx)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e.code();
            let hint = e.hint();
            if ctx.out.json {
                eprintln!(
                    "{}",
                    serde_json::json!({ "error": e.to_string(), "hint": hint, "exitCode": code })
                );
            } else {
                let err_out = Out {
                    json: false,
                    tty: out.tty,
                    color: out.color && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                };
                eprintln!("{} {e}", err_out.paint(Style::Red, "error:"));
                if let Some(h) = hint {
                    eprintln!("{} {h}", err_out.paint(Style::Yellow, "  what to do:"));
                }
            }
            ExitCode::from(code)
        }
    }
}
