//! Read-only commands: `runs`, `show`, `artifacts`, `leases`. They open the store read-only
//! (never creating it, never taking the write lock).

use crate::commands::drive::describe_gate;
use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::output::Style;
use crate::time::rfc3339;
use berth::packrun::{ArtifactStatus, PackRun, RunQuery, RunStatus, StepStatus};
use berth::Store;
use berth_packrun::lease::{owner_of, shard, OwnerRecord};
use serde_json::json;

fn status_style(s: RunStatus) -> Style {
    match s {
        RunStatus::Succeeded => Style::Green,
        RunStatus::Failed | RunStatus::Cancelled => Style::Red,
        RunStatus::Paused => Style::Yellow,
        RunStatus::Running | RunStatus::Pending => Style::Cyan,
    }
}

/// The status as `--json` and people read it.
pub fn status_text(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Pending => "pending",
        RunStatus::Running => "running",
        RunStatus::Paused => "paused",
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

fn step_text(s: StepStatus) -> (&'static str, Style) {
    match s {
        StepStatus::Pending => ("pending", Style::Dim),
        StepStatus::Running => ("running", Style::Cyan),
        StepStatus::WaitingApproval => ("waiting_approval", Style::Yellow),
        StepStatus::Succeeded => ("succeeded", Style::Green),
        StepStatus::Failed => ("failed", Style::Red),
        StepStatus::Skipped => ("skipped", Style::Dim),
    }
}

fn plan_name(run: &PackRun) -> String {
    run.plan["name"].as_str().unwrap_or("?").to_owned()
}

/// Reads a run or says it does not exist.
pub async fn get_run(store: &Store, id: &str) -> Result<PackRun, CliError> {
    store
        .runs()
        .get(id)
        .await?
        .ok_or_else(|| CliError::RunNotFound(id.to_owned()))
}

/// The owner record of a running run that no live runner holds (its owner died or stalled
/// past its lease): `berth resume` may take it over.
pub async fn gone_owner(
    store: &berth::Store,
    run: &PackRun,
) -> Result<Option<OwnerRecord>, CliError> {
    if !matches!(run.status, RunStatus::Running | RunStatus::Pending) {
        return Ok(None);
    }
    if store.leases().lease(&shard(&run.id)).await?.is_some() {
        return Ok(None);
    }
    Ok(owner_of(store, &run.id).await?)
}

/// `berth runs`: the runs that can be read; a run document that cannot be read is left out,
/// named on standard error (and under `damaged` with `--json`), and the exit code is
/// [`exit::FAILURE`], as `berth export` does.
pub async fn runs(ctx: &Ctx, tenant: Option<String>, limit: usize) -> Result<u8, CliError> {
    let store = ctx.store_read_only().await?;
    let page = store
        .runs()
        .list_page(&RunQuery {
            tenant,
            after: None,
            limit,
        })
        .await?;
    let (runs, damaged) = (page.runs, page.damaged);
    if ctx.out.json {
        ctx.out
            .json_line(&json!({ "runs": runs, "damaged": damaged }));
    } else if runs.is_empty() && damaged.is_empty() {
        ctx.out
            .line("no runs yet; try `berth demo` or `berth run PLAN`");
    } else {
        print_runs(ctx, &store, &runs).await?;
    }
    if damaged.is_empty() {
        return Ok(exit::OK);
    }
    let names: Vec<String> = damaged
        .iter()
        .map(|d| format!("{} ({})", d.key, d.reason))
        .collect();
    Err(CliError::other(
        format!(
            "{} run(s) could not be read and are not listed: {}",
            damaged.len(),
            names.join("; ")
        ),
        "the store holds damaged records; `berth export` saves every run it can read, then repair or delete the named runs",
        exit::FAILURE,
    ))
}

async fn print_runs(ctx: &Ctx, store: &berth::Store, runs: &[PackRun]) -> Result<(), CliError> {
    let o = &ctx.out;
    let mut gone = Vec::with_capacity(runs.len());
    for r in runs {
        gone.push(gone_owner(store, r).await?);
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .zip(&gone)
        .map(|(r, gone)| {
            let done = r
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Succeeded)
                .count();
            vec![
                r.id.clone(),
                match gone {
                    Some(g) => o.paint(
                        Style::Yellow,
                        &format!("running, owner gone since {}", rfc3339(g.expires_at)),
                    ),
                    None => o.paint(status_style(r.status), status_text(r.status)),
                },
                plan_name(r),
                format!("{done}/{}", r.steps.len()),
                r.tenant_id.clone().unwrap_or_else(|| "-".into()),
                rfc3339(r.updated_at),
            ]
        })
        .collect();
    o.table(
        &["RUN", "STATUS", "PLAN", "STEPS", "TENANT", "UPDATED"],
        &rows,
    );
    Ok(())
}

/// `berth show RUN`.
pub async fn show(ctx: &Ctx, id: &str) -> Result<u8, CliError> {
    let store = ctx.store_read_only().await?;
    let run = get_run(&store, id).await?;
    let approvals = store.approvals().list(id).await?;
    let artifacts = store.artifacts().list(id).await?;
    let lease = store.leases().lease(&shard(id)).await?;
    let last_seq = store.logs().last_sequence(id).await?;
    let gone = gone_owner(&store, &run).await?;
    if ctx.out.json {
        ctx.out.json_line(&json!({
            "run": run, "approvals": approvals, "artifacts": artifacts,
            "lease": lease, "lastSequence": last_seq,
            "ownerGoneSince": gone.as_ref().map(|g| rfc3339(g.expires_at)),
        }));
        return Ok(exit::OK);
    }
    let o = &ctx.out;
    o.line(format!("run       {}", o.paint(Style::Cyan, &run.id)));
    o.line(format!("plan      {} ({})", plan_name(&run), run.plan_hash));
    o.line(format!(
        "status    {}",
        o.paint(status_style(run.status), status_text(run.status))
    ));
    if let Some(t) = &run.tenant_id {
        o.line(format!("tenant    {t}"));
    }
    o.line(format!("requested {}", rfc3339(run.requested_at)));
    o.line(format!("updated   {}", rfc3339(run.updated_at)));
    let p = &run.failure_policy;
    o.line(format!(
        "policy    {} attempt(s), back-off {} s, continue on error: {}",
        p.max_attempts, p.backoff_seconds, p.continue_on_error
    ));
    match &lease {
        Some(l) => o.line(format!(
            "runner    {} (lease token {}, until {})",
            l.owner,
            l.token,
            rfc3339(l.expires_at)
        )),
        None => match &gone {
            Some(g) => o.line(format!(
                "runner    owner gone since {} (was {}, lease token {}); `berth resume {id}` takes it over",
                rfc3339(g.expires_at),
                g.owner,
                g.token
            )),
            None => o.line("runner    none"),
        },
    }
    o.line(format!("logs      {} entries", last_seq.unwrap_or(0)));
    o.line("");
    let rows: Vec<Vec<String>> = run
        .steps
        .iter()
        .map(|s| {
            let (text, style) = step_text(s.status);
            vec![
                s.step_id.clone(),
                o.paint(style, text),
                s.attempts.to_string(),
                s.next_attempt_at.map_or("-".into(), rfc3339),
                s.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    o.table(
        &["STEP", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"],
        &rows,
    );
    if !approvals.is_empty() {
        o.line("");
        for a in &approvals {
            o.line(describe_gate(ctx, a));
        }
    }
    if !artifacts.is_empty() {
        o.line("");
        o.line(format!(
            "{} artifact(s): berth artifacts {id}",
            artifacts.len()
        ));
    }
    o.line("");
    let next = match run.status {
        RunStatus::Paused => approvals
            .iter()
            .find(|a| a.status == berth::packrun::ApprovalStatus::Pending)
            .map(|a| format!("next: berth approve {id} {} --as YOUR-NAME", a.approval_id)),
        RunStatus::Running | RunStatus::Pending if lease.is_none() => Some(format!(
            "next: no runner holds this run; continue it with `berth resume {id}`"
        )),
        RunStatus::Running | RunStatus::Pending => Some(format!("next: berth logs {id} --follow")),
        RunStatus::Failed | RunStatus::Cancelled => Some(format!("next: berth logs {id}")),
        RunStatus::Succeeded => None,
    };
    if let Some(n) = next {
        o.line(n);
    }
    Ok(exit::OK)
}

/// `berth artifacts RUN`.
pub async fn artifacts(ctx: &Ctx, id: &str) -> Result<u8, CliError> {
    let store = ctx.store_read_only().await?;
    get_run(&store, id).await?;
    let list = store.artifacts().list(id).await?;
    if ctx.out.json {
        ctx.out.json_line(&list);
        return Ok(exit::OK);
    }
    if list.is_empty() {
        ctx.out.line(format!("run {id} has no artifacts"));
        return Ok(exit::OK);
    }
    let o = &ctx.out;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            let (text, style) = match a.status {
                ArtifactStatus::Copied => ("copied", Style::Green),
                ArtifactStatus::Materialized => ("materialized", Style::Green),
                ArtifactStatus::Pending => ("pending", Style::Dim),
                ArtifactStatus::Skipped => ("skipped", Style::Yellow),
            };
            vec![
                a.name.clone(),
                o.paint(style, text),
                a.stored_path.clone().unwrap_or_else(|| "-".into()),
                a.notes.clone().unwrap_or_default(),
            ]
        })
        .collect();
    o.table(&["NAME", "STATUS", "STORED AT", "NOTES"], &rows);
    Ok(exit::OK)
}

/// `berth leases`.
pub async fn leases(ctx: &Ctx) -> Result<u8, CliError> {
    let store = ctx.store_read_only().await?;
    let now = store.clock().now();
    let mut all = Vec::new();
    for runner in store.leases().runners().await? {
        for l in store.leases().held_by(&runner.address).await? {
            all.push((runner.healthy, l));
        }
    }
    if ctx.out.json {
        let list: Vec<_> = all.iter().map(|(_, l)| l).collect();
        ctx.out.json_line(&list);
        return Ok(exit::OK);
    }
    if all.is_empty() {
        ctx.out
            .line("no leases held (runs hold `packrun:<run>` while a runner executes them)");
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|(healthy, l)| {
            vec![
                l.shard.clone(),
                l.owner.clone(),
                l.token.to_string(),
                format!(
                    "{} (in {} s)",
                    rfc3339(l.expires_at),
                    l.expires_at.since(now).as_secs()
                ),
                if *healthy {
                    "healthy".into()
                } else {
                    "unhealthy".into()
                },
            ]
        })
        .collect();
    ctx.out
        .table(&["SHARD", "OWNER", "TOKEN", "EXPIRES", "RUNNER"], &rows);
    Ok(exit::OK)
}
