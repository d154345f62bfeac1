//! Commands that execute a run: `run`, `resume`, `approve`, `reject`.

use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::live::{follow, Followed, Printer};
use crate::output::Style;
use crate::time::rfc3339;
use berth::packrun::{Approval, ApprovalStatus, Decision, DecisionRequest, PackRun, StepStatus};
use berth::Store;
use berth_packrun::{Finish, LoadedPlan, PackRunError, PackRunner, RunSummary, RunnerOptions};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// A runner whose log entries arrive on the returned channel.
pub fn runner(
    ctx: &Ctx,
    store: Store,
    tenant: Option<String>,
) -> (
    PackRunner,
    mpsc::UnboundedReceiver<berth::packrun::LogEntry>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = PackRunner::new(
        store,
        RunnerOptions {
            artifacts_root: ctx.cli.artifacts.clone(),
            observer: Some(tx),
            tenant,
            step_timeout: ctx.cli.step_timeout(),
        },
    );
    (runner, rx)
}

/// `berth run PLAN`.
pub async fn run(
    ctx: &Ctx,
    plan_path: &Path,
    detach: bool,
    run_id: Option<String>,
    tenant: Option<String>,
) -> Result<u8, CliError> {
    // Ids become directory and file names under --artifacts: checked before anything is
    // read or written.
    if let Some(id) = &run_id {
        berth::packrun::validate_run_id(id).map_err(CliError::usage)?;
    }
    berth::packrun::validate_tenant_id(&tenant).map_err(CliError::usage)?;
    let plan = LoadedPlan::from_file(plan_path)?;
    let store = ctx.store().await?;
    if detach {
        return detach_run(ctx, &store, plan_path, run_id, tenant).await;
    }
    let steps: Vec<String> = plan.plan.steps.iter().flat_map(|s| s.leaf_ids()).collect();
    let (runner, rx) = runner(ctx, store, tenant);
    if !ctx.out.json {
        ctx.out.line(format!(
            "{} {} ({} steps, {})",
            ctx.out.paint(Style::Bold, "running plan"),
            ctx.out.paint(Style::Cyan, &plan.plan.name),
            plan.plan.steps.len(),
            ctx.out
                .paint(Style::Dim, &plan.hash[..19.min(plan.hash.len())])
        ));
    }
    let run_id = run_id.unwrap_or_else(|| runner.store().ids().next_id().to_string());
    let followed = follow(
        runner.store(),
        Printer::for_steps(ctx.out, &steps),
        rx,
        runner.start(&plan, Some(run_id.clone())),
    )
    .await;
    let summary = finished(&run_id, followed)?;
    Ok(report(ctx, &summary))
}

async fn detach_run(
    ctx: &Ctx,
    store: &Store,
    plan_path: &Path,
    run_id: Option<String>,
    tenant: Option<String>,
) -> Result<u8, CliError> {
    let run_id = run_id.unwrap_or_else(|| store.ids().next_id().to_string());
    let exe = std::env::current_exe().map_err(|e| {
        CliError::other(
            format!("cannot find the berth executable: {e}"),
            "run without --detach",
            exit::FAILURE,
        )
    })?;
    std::fs::create_dir_all(&ctx.cli.artifacts).map_err(|e| {
        CliError::other(
            format!("cannot create {}: {e}", ctx.cli.artifacts.display()),
            "pass a writable --artifacts directory",
            exit::FAILURE,
        )
    })?;
    berth::packrun::validate_run_id(&run_id).map_err(CliError::usage)?;
    let log_path = ctx.cli.artifacts.join(format!("{run_id}.runner.log"));
    let log = std::fs::File::create(&log_path).map_err(|e| {
        CliError::other(
            format!("cannot create {}: {e}", log_path.display()),
            "pass a writable --artifacts directory",
            exit::FAILURE,
        )
    })?;
    let log2 = log
        .try_clone()
        .map_err(|e| CliError::other(e.to_string(), "run without --detach", exit::FAILURE))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--store")
        .arg(&ctx.cli.store)
        .arg("--artifacts")
        .arg(&ctx.cli.artifacts)
        .arg("--step-timeout")
        .arg(format!("{}s", ctx.cli.step_timeout().as_secs()))
        .arg("run")
        .arg(plan_path)
        .arg("--run-id")
        .arg(&run_id);
    if let Some(t) = &tenant {
        cmd.arg("--tenant").arg(t);
    }
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .env("NO_COLOR", "1")
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| {
        CliError::other(
            format!("cannot start the background runner: {e}"),
            "run without --detach",
            exit::FAILURE,
        )
    })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if store.runs().get(&run_id).await?.is_some() {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(CliError::other(
                format!(
                    "the background runner stopped ({status}) before recording the run:\n{}",
                    text.trim_end()
                ),
                "run it in the foreground (without --detach) to see what is wrong",
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(exit::FAILURE),
            ));
        }
        if Instant::now() > deadline {
            return Err(CliError::other(
                "the background runner did not record the run within 30 s",
                format!("see {}", log_path.display()),
                exit::FAILURE,
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if ctx.out.json {
        ctx.out.json_line(&serde_json::json!({
            "runId": run_id, "detached": true, "pid": child.id(), "runnerLog": log_path,
        }));
    } else {
        ctx.out.line(format!(
            "started run {} in the background (pid {})",
            ctx.out.paint(Style::Cyan, &run_id),
            child.id()
        ));
        ctx.out
            .line(format!("  follow it:   berth logs {run_id} --follow"));
        ctx.out.line(format!("  inspect it:  berth show {run_id}"));
        ctx.out
            .line(format!("  runner log:  {}", log_path.display()));
    }
    Ok(exit::OK)
}

/// `berth resume RUN`.
pub async fn resume(ctx: &Ctx, run_id: &str, plan: Option<&Path>) -> Result<u8, CliError> {
    let plan = plan.map(LoadedPlan::from_file).transpose()?;
    let store = ctx.store().await?;
    let (runner, rx) = runner(ctx, store, None);
    let run = runner.check_resumable(run_id, plan.as_ref()).await?.run;
    if !ctx.out.json {
        ctx.out.line(format!(
            "{} {}",
            ctx.out.paint(Style::Bold, "resuming run"),
            ctx.out.paint(Style::Cyan, run_id)
        ));
    }
    let followed = follow(
        runner.store(),
        Printer::for_run(ctx.out, &run),
        rx,
        runner.resume(run_id, plan.as_ref()),
    )
    .await;
    let summary = finished(run_id, followed)?;
    Ok(report(ctx, &summary))
}

/// `berth approve` / `berth reject`.
pub async fn decide(
    ctx: &Ctx,
    run_id: &str,
    gate: &str,
    actor: &str,
    decision: Decision,
    reason: Option<String>,
    resume_after: bool,
) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    let (runner, rx) = runner(ctx, store, None);
    let (run, approval) = decide_gate(
        &runner,
        run_id,
        gate,
        DecisionRequest {
            actor: actor.to_owned(),
            grants: Vec::new(),
            decision,
            reason,
        },
    )
    .await?;
    if !ctx.out.json {
        ctx.out.line(describe_gate(ctx, &approval));
    }
    if approval.status == ApprovalStatus::Pending {
        if ctx.out.json {
            ctx.out
                .json_line(&serde_json::json!({ "approval": approval }));
        }
        return Ok(exit::PAUSED);
    }
    if !resume_after {
        if ctx.out.json {
            ctx.out
                .json_line(&serde_json::json!({ "approval": approval }));
        } else {
            ctx.out
                .line(format!("resume it with: berth resume {run_id}"));
        }
        return Ok(exit::PAUSED);
    }
    let followed = follow(
        runner.store(),
        Printer::for_run(ctx.out, &run),
        rx,
        runner.resume(run_id, None),
    )
    .await;
    match finished(run_id, followed) {
        Ok(s) => Ok(report(ctx, &s)),
        Err(CliError::PackRun(PackRunError::Busy { .. })) if !ctx.out.json => {
            ctx.out
                .line("another runner holds the run; it will pick the decision up when it resumes");
            Ok(exit::OK)
        }
        Err(e) => Err(e),
    }
}

/// Records a decision on a gate, refusing before anything is written if the run cannot go on
/// (changed plan, ended run); returns the run as it was and the gate as decided. Used by
/// `berth approve`/`reject` and by the API of `berth serve`.
pub async fn decide_gate(
    runner: &PackRunner,
    run_id: &str,
    gate: &str,
    request: DecisionRequest,
) -> Result<(PackRun, Approval), CliError> {
    let run = runner.check_resumable(run_id, None).await?.run;
    let approval = runner.decide(run_id, gate, request).await?;
    Ok((run, approval))
}

/// The summary of a followed run, or why there is none (Ctrl-C: exit 130).
pub fn finished(run_id: &str, followed: Followed) -> Result<RunSummary, CliError> {
    match followed {
        Followed::Done(r) => (*r).map_err(CliError::from),
        Followed::Interrupted => Err(CliError::other(
            format!("interrupted: run {run_id} stopped at its last committed step and its commands were killed"),
            format!("continue it with `berth resume {run_id}`"),
            exit::INTERRUPTED,
        )),
    }
}

/// One line about a gate.
pub fn describe_gate(ctx: &Ctx, a: &Approval) -> String {
    let approvals = a
        .decisions
        .iter()
        .filter(|d| d.decision == Decision::Approve)
        .count();
    let (style, status) = match a.status {
        ApprovalStatus::Pending => (
            Style::Yellow,
            format!("pending ({approvals}/{} approvals)", a.required_count),
        ),
        ApprovalStatus::Approved => (Style::Green, "approved".to_owned()),
        ApprovalStatus::Rejected => (Style::Red, "rejected".to_owned()),
    };
    let who: Vec<String> = a
        .decisions
        .iter()
        .map(|d| {
            let verb = if d.decision == Decision::Approve {
                "approved"
            } else {
                "rejected"
            };
            match &d.reason {
                Some(r) => format!("{} {verb}: {r}", d.actor),
                None => format!("{} {verb}", d.actor),
            }
        })
        .collect();
    format!(
        "gate {} is {}{}",
        ctx.out.paint(Style::Cyan, &a.approval_id),
        ctx.out.paint(style, &status),
        if who.is_empty() {
            String::new()
        } else {
            format!(" — {}", who.join("; "))
        }
    )
}

/// Prints how the run stopped and what to do next; returns the exit code.
pub fn report(ctx: &Ctx, summary: &RunSummary) -> u8 {
    let run = &summary.run;
    let code = match summary.finish {
        Finish::Succeeded => exit::OK,
        Finish::Paused { .. } => exit::PAUSED,
        Finish::Failed { .. } | Finish::Cancelled => exit::RUN_FAILED,
    };
    if ctx.out.json {
        let finish = match &summary.finish {
            Finish::Succeeded => serde_json::json!({"status": "succeeded"}),
            Finish::Failed { reason } => serde_json::json!({"status": "failed", "reason": reason}),
            Finish::Paused { gates } => serde_json::json!({"status": "paused", "gates": gates}),
            Finish::Cancelled => serde_json::json!({"status": "cancelled"}),
        };
        ctx.out.json_line(
            &serde_json::json!({ "summary": { "run": run, "finish": finish, "exitCode": code } }),
        );
        return code;
    }
    let o = &ctx.out;
    let done = run
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .count();
    ctx.out.line("");
    match &summary.finish {
        Finish::Succeeded => o.line(format!(
            "run {} {} ({done}/{} steps) at {}",
            o.paint(Style::Cyan, &run.id),
            o.paint(Style::Green, "succeeded"),
            run.steps.len(),
            rfc3339(run.updated_at)
        )),
        Finish::Failed { reason } => {
            o.line(format!(
                "run {} {}: {reason}",
                o.paint(Style::Cyan, &run.id),
                o.paint(Style::Red, "failed")
            ));
            o.line(format!("  see the log: berth logs {}", run.id));
        }
        Finish::Cancelled => o.line(format!(
            "run {} {}",
            o.paint(Style::Cyan, &run.id),
            o.paint(Style::Red, "was cancelled")
        )),
        Finish::Paused { gates } => {
            o.line(format!(
                "run {} {} ({done}/{} steps done)",
                o.paint(Style::Cyan, &run.id),
                o.paint(Style::Yellow, "is paused at an approval gate"),
                run.steps.len()
            ));
            for g in gates {
                if let Some(m) = &g.message {
                    o.line(format!(
                        "  gate {}: {m}",
                        o.paint(Style::Cyan, &g.approval_id)
                    ));
                }
                o.line(format!(
                    "  approve: berth approve {} {} --as YOUR-NAME",
                    run.id, g.approval_id
                ));
                o.line(format!(
                    "  reject:  berth reject {} {} --as YOUR-NAME --reason \"...\"",
                    run.id, g.approval_id
                ));
            }
        }
    }
    code
}
