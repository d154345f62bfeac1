//! `berth demo`: the built-in sample pack, run end to end with live progress.

use crate::commands::drive::{describe_gate, finished, report, runner};
use crate::commands::Ctx;
use crate::exit::{self, CliError};
use crate::live::{follow, Printer};
use crate::output::Style;
use berth::packrun::{Decision, DecisionRequest, StepStatus};
use berth_packrun::{Finish, LoadedPlan};
use std::path::Path;

/// The sample pack: shell utilities only, a parallel block, a map, an artifact and a gate.
pub const DEMO_PLAN: &str = r#"{
  "name": "berth-demo",
  "description": "A small release pipeline: prepare, check in parallel, build a report, wait for approval, publish.",
  "failurePolicy": { "maxAttempts": 2, "backoffSeconds": 0, "continueOnError": false },
  "steps": [
    { "kind": "run", "id": "prepare", "program": "/bin/sh",
      "args": ["-c", "mkdir -p out && echo 'preparing workspace' && date -u '+started %Y-%m-%dT%H:%M:%SZ' > out/started.txt && cat out/started.txt"] },
    { "kind": "parallel", "id": "checks", "maxParallel": 3, "steps": [
      { "kind": "run", "id": "lint", "program": "/bin/sh",
        "args": ["-c", "for f in plan.json out/started.txt; do sleep 0.1; echo \"lint $f: ok\"; done"] },
      { "kind": "run", "id": "unit-tests", "program": "/bin/sh",
        "args": ["-c", "for i in 1 2 3; do sleep 0.1; echo \"test $i passed\"; done; echo 'warning: 1 test skipped (needs network)' >&2"] },
      { "kind": "run", "id": "disk-check", "program": "/bin/sh",
        "args": ["-c", "sleep 0.1; echo \"workspace uses $(du -sk . | cut -f1) KiB\""] }
    ]},
    { "kind": "map", "id": "render", "items": ["en", "de", "fr"], "maxParallel": 3,
      "step": { "id": "page", "program": "/bin/sh",
        "args": ["-c", "echo 'rendering page {{item}} ({{index}})' && echo 'berth demo [{{item}}]' > out/page-{{item}}.txt"] } },
    { "kind": "run", "id": "build-report", "program": "/bin/sh",
      "args": ["-c", "{ echo 'berth demo report'; cat out/started.txt; cat out/page-*.txt; } > out/report.txt && echo \"wrote out/report.txt ($(wc -l < out/report.txt) lines)\""],
      "outputs": [ { "name": "report.txt", "path": "out/report.txt" } ] },
    { "kind": "approval", "id": "release-gate", "gate": "release",
      "message": "Publish the demo report?", "required": 1 },
    { "kind": "run", "id": "publish", "program": "/bin/sh",
      "args": ["-c", "echo \"publishing $(wc -c < out/report.txt) bytes\" && cp out/report.txt out/published.txt && echo published"] }
  ]
}
"#;

/// `berth demo`.
pub async fn demo(ctx: &Ctx, dir: &Path) -> Result<u8, CliError> {
    let o = &ctx.out;
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::other(
            format!("cannot create {}: {e}", dir.display()),
            "pass a writable --dir",
            exit::FAILURE,
        )
    })?;
    let plan_path = dir.join("plan.json");
    std::fs::write(&plan_path, DEMO_PLAN).map_err(|e| {
        CliError::other(
            format!("cannot write {}: {e}", plan_path.display()),
            "pass a writable --dir",
            exit::FAILURE,
        )
    })?;
    let plan = LoadedPlan::from_file(&plan_path)?;
    let store = ctx.store().await?;
    if !o.json {
        o.line(o.paint(Style::Bold, "berth demo"));
        o.line(format!(
            "A sample task pack ({}) runs durably on {}: every step, output line, artifact and\napproval is recorded there. Kill it at any point and `berth resume RUN` picks up where it stopped.\n",
            plan_path.display(),
            ctx.cli.store
        ));
    }
    let (runner1, rx) = runner(ctx, store.clone(), None);
    let steps: Vec<String> = plan.plan.steps.iter().flat_map(|s| s.leaf_ids()).collect();
    let printer = Printer::for_steps(*o, &steps);
    let run_id = store.ids().next_id().to_string();
    let followed = follow(
        runner1.store(),
        printer,
        rx,
        runner1.start(&plan, Some(run_id.clone())),
    )
    .await;
    let mut summary = finished(&run_id, followed)?;
    if let Finish::Paused { gates } = &summary.finish {
        for gate in gates {
            if !o.json {
                o.line("");
                o.line(format!(
                    "{} {}",
                    o.paint(Style::Yellow, "the run is paused:"),
                    describe_gate(ctx, gate)
                ));
                if let Some(m) = &gate.message {
                    o.line(format!("  asks: {m}"));
                }
                o.line(format!(
                    "  a person would now run: berth approve {run_id} {} --as YOUR-NAME",
                    gate.approval_id
                ));
                o.line(format!(
                    "  the demo approves it as {}\n",
                    o.paint(Style::Cyan, "demo")
                ));
            }
            let approval = runner1
                .decide(
                    &run_id,
                    &gate.approval_id,
                    DecisionRequest {
                        actor: "demo".into(),
                        grants: Vec::new(),
                        decision: Decision::Approve,
                        reason: None,
                    },
                )
                .await?;
            if !o.json {
                o.line(describe_gate(ctx, &approval));
            }
        }
        let (runner2, rx) = runner(ctx, store.clone(), None);
        let followed = follow(
            runner2.store(),
            Printer::for_run(*o, &summary.run),
            rx,
            runner2.resume(&run_id, None),
        )
        .await;
        summary = finished(&run_id, followed)?;
    }
    let code = report(ctx, &summary);
    if o.json {
        return Ok(code);
    }
    let run = &summary.run;
    o.line("");
    let rows: Vec<Vec<String>> = run
        .steps
        .iter()
        .map(|s| {
            let status = match s.status {
                StepStatus::Succeeded => o.paint(Style::Green, "succeeded"),
                StepStatus::Failed => o.paint(Style::Red, "failed"),
                other => format!("{other:?}").to_lowercase(),
            };
            vec![s.step_id.clone(), status, s.attempts.to_string()]
        })
        .collect();
    o.table(&["STEP", "STATUS", "ATTEMPTS"], &rows);
    let logs = store.logs().last_sequence(&run_id).await?.unwrap_or(0);
    let artifacts = store.artifacts().list(&run_id).await?;
    o.line("");
    o.line(format!(
        "{logs} log entries, {} artifact(s), 1 decided approval, all in {}",
        artifacts.len(),
        ctx.cli.store
    ));
    for a in &artifacts {
        if let Some(p) = &a.stored_path {
            o.line(format!("artifact {}: {p}", a.name));
        }
    }
    o.line("");
    o.line(o.paint(Style::Bold, "where to look next:"));
    for (cmd, what) in [
        ("berth runs".to_owned(), "every run, newest first"),
        (
            format!("berth show {run_id}"),
            "steps, attempts, the approval and its decision",
        ),
        (
            format!("berth logs {run_id}"),
            "every output line with its sequence number",
        ),
        (format!("berth artifacts {run_id}"), "captured outputs"),
        (
            format!("berth run {}", plan_path.display()),
            "run the pack yourself; it stops at the gate",
        ),
        (
            "berth export --to backup".to_owned(),
            "everything as JSON lines",
        ),
    ] {
        o.line(format!(
            "  {:<52} {}",
            o.paint(Style::Cyan, &cmd),
            o.paint(Style::Dim, what)
        ));
    }
    Ok(code)
}
