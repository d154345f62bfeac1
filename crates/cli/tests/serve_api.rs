//! `berth serve` API, end to end on the real binary: tokens and roles, runs (paging, filters),
//! one run (redacted), logs (pages and live follow), approvals, resume, cancel, artifacts,
//! OpenAPI, and bad input answered with typed JSON errors and nothing written.

mod common;

use common::serve::Server;
use common::{Env, GATED_PLAN};
use serde_json::Value;
use std::io::{BufRead, BufReader};

/// GATED_PLAN with a secret in the first step's environment.
const SECRET_PLAN: &str = r#"{
  "name": "gated",
  "steps": [
    {"kind": "run", "id": "a", "program": "/bin/sh", "args": ["-c", "echo alpha"],
     "env": {"DEPLOY_KEY": "hunter2-very-secret"}},
    {"kind": "approval", "id": "gate", "gate": "ship", "message": "Ship it?"},
    {"kind": "run", "id": "b", "program": "/bin/sh", "args": ["-c", "echo beta > b.txt; echo beta"],
     "outputs": [{"name": "b.txt", "path": "b.txt"}, {"name": "missing.txt", "path": "nope/missing.txt"}]}
  ]
}"#;

/// An env with run `r1` paused at gate `ship`, a server, and tokens of each role.
struct Fixture {
    env: Env,
    server: Server,
    viewer: String,
    approver: String,
}

fn paused(plan: &str) -> Fixture {
    paused_in(Env::new(), plan)
}

fn paused_in(env: Env, plan: &str) -> Fixture {
    env.write("plan.json", plan);
    let run = env.run(&["run", "plan.json", "--run-id", "r1"]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    let viewer = env.token("vic", "viewer", &[]);
    let approver = env.token("ann", "approver", &[]);
    let server = env.serve(&[]);
    Fixture {
        env,
        server,
        viewer,
        approver,
    }
}

fn approval(f: &Fixture) -> Value {
    f.env.show("r1")["approvals"][0].clone()
}

#[test]
fn every_api_call_needs_a_valid_token_and_writes_need_the_approver_role() {
    let f = paused(GATED_PLAN);
    let s = &f.server;

    let none = s.call("GET", "/api/v1/runs", None, None);
    assert_eq!(none.status, 401);
    assert_eq!(none.kind(), "unauthorized");
    assert!(none.content_type.starts_with("application/json"));
    // The real token with its last character changed (to a different one, whatever it was).
    let last = if f.viewer.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &f.viewer[..f.viewer.len() - 1]);
    assert_ne!(forged, f.viewer);
    for bad in [
        "nonsense",
        "berth_00000000000000000000000000000000_00",
        forged.as_str(),
    ] {
        let r = s.get("/api/v1/runs", bad);
        assert_eq!(
            (r.status, r.kind().as_str()),
            (401, "unauthorized"),
            "{bad}"
        );
        assert!(!r.text.contains(bad), "the token is not echoed");
    }

    assert_eq!(s.get("/api/v1/runs", &f.viewer).status, 200);
    let me = s.get("/api/v1/whoami", &f.viewer).json();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("vic"), Some("viewer"))
    );

    // A viewer writes nothing.
    for path in [
        "/api/v1/runs/r1/approvals/ship/approve",
        "/api/v1/runs/r1/approvals/ship/reject",
        "/api/v1/runs/r1/resume",
        "/api/v1/runs/r1/cancel",
    ] {
        let r = s.post(path, &f.viewer, r#"{"comment": "no"}"#);
        assert_eq!((r.status, r.kind().as_str()), (403, "forbidden"), "{path}");
    }
    let gate = approval(&f);
    assert_eq!(gate["status"], "pending");
    assert_eq!(gate["decisions"].as_array().unwrap().len(), 0);
    assert_eq!(f.env.show("r1")["run"]["status"], "paused");

    // Revoked: refused at once. Listing shows no secret and no hash.
    let list = f.env.json(&["token", "list"]);
    let text = list.to_string();
    assert!(
        !text.contains(&f.viewer) && !text.contains("hash"),
        "{text}"
    );
    let vic = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "vic")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    f.env.json(&["token", "revoke", &vic]);
    let r = s.get("/api/v1/runs", &f.viewer);
    assert_eq!(r.status, 401);
    assert!(r.text.contains("revoked"), "{}", r.text);
    assert_eq!(f.env.run(&["token", "revoke", "nope"]).code, 4);

    // Expired: works until its lifetime is over, then refused.
    let brief = f.env.token("tmp", "approver", &["--expires-in", "1s"]);
    let first = s.get("/api/v1/runs", &brief);
    let deadline = std::time::Instant::now() + common::LIMIT;
    loop {
        let r = s.get("/api/v1/runs", &brief);
        if r.status == 401 {
            assert!(r.text.contains("expired"), "{}", r.text);
            break;
        }
        assert_eq!(r.status, 200);
        assert!(
            std::time::Instant::now() < deadline,
            "the token never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(first.status == 200 || first.status == 401);
    let r = s.post("/api/v1/runs/r1/cancel", &brief, "{}");
    assert_eq!(r.status, 401);
    assert_eq!(f.env.show("r1")["run"]["status"], "paused");

    // Bad token options are refused by the CLI.
    assert_eq!(
        f.env
            .run(&["token", "create", "--name", "x", "--role", "root"])
            .code,
        2
    );
    assert_ne!(
        f.env
            .run(&["token", "create", "--name", "a b", "--role", "viewer"])
            .code,
        0
    );
}

#[test]
fn runs_are_listed_newest_first_by_cursor_and_filtered_by_status_and_tenant() {
    let env = Env::new();
    let viewer = env.token("vic", "viewer", &[]);
    // Seven runs straight into the store: r-1 … r-7, statuses and tenants mixed.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = berth::open(&env.store).await.unwrap();
        // Each write in its own millisecond, so the order is known.
        let tick = |after: berth::Timestamp| {
            let store = store.clone();
            async move {
                while store.clock().now() <= after {
                    tokio::task::yield_now().await;
                }
            }
        };
        for i in 1..=7 {
            let mut run = berth::packrun::PackRun::new(
                format!("r-{i}"),
                "h",
                serde_json::json!({"name": "p"}),
            );
            run.tenant_id = Some(if i % 2 == 0 { "even" } else { "odd" }.into());
            let run = store.runs().create(run).await.unwrap();
            tick(run.updated_at).await;
        }
        // Pausing r-3, then r-6, makes them the most recently updated.
        for id in ["r-3", "r-6"] {
            let mut run = store.runs().get(id).await.unwrap().unwrap();
            run.status = berth::packrun::RunStatus::Paused;
            let run = store.runs().update(run).await.unwrap();
            tick(run.updated_at).await;
        }
    });
    let s = env.serve(&[]);
    let ids = |v: &Value| -> Vec<String> {
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // The store's order: updated_at descending (r-3 and r-6 were updated last).
    let all = s.get("/api/v1/runs?limit=500", &viewer).json();
    assert_eq!(ids(&all), ["r-6", "r-3", "r-7", "r-5", "r-4", "r-2", "r-1"]);
    assert!(all["nextCursor"].is_null());

    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs?limit=3&cursor={c}"),
            None => "/api/v1/runs?limit=3".into(),
        };
        let page = s.get(&path, &viewer).json();
        pages += 1;
        assert!(ids(&page).len() <= 3);
        paged.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(paged, ids(&all));
    assert_eq!(pages, 3);

    let p = s.get("/api/v1/runs?status=paused", &viewer).json();
    assert_eq!(ids(&p), ["r-6", "r-3"]);
    let p = s.get("/api/v1/runs?status=paused&limit=1", &viewer).json();
    assert_eq!(ids(&p), ["r-6"]);
    let c = p["nextCursor"].as_str().unwrap().to_owned();
    let p = s
        .get(
            &format!("/api/v1/runs?status=paused&limit=1&cursor={c}"),
            &viewer,
        )
        .json();
    assert_eq!(ids(&p), ["r-3"]);
    let t = s.get("/api/v1/runs?tenant=even", &viewer).json();
    assert_eq!(ids(&t), ["r-6", "r-4", "r-2"]);
    let both = s
        .get("/api/v1/runs?tenant=odd&status=pending", &viewer)
        .json();
    assert_eq!(ids(&both), ["r-7", "r-5", "r-1"]);
    assert_eq!(both["runs"][0]["stepsTotal"], 0);

    for bad in [
        "/api/v1/runs?cursor=zz",
        "/api/v1/runs?cursor=41",
        "/api/v1/runs?status=sleeping",
        "/api/v1/runs?limit=0",
        "/api/v1/runs?limit=501",
        "/api/v1/runs?limit=x",
        "/api/v1/runs?colour=red",
    ] {
        let r = s.get(bad, &viewer);
        assert_eq!(
            (r.status, r.kind().as_str()),
            (400, "invalid_input"),
            "{bad}: {}",
            r.text
        );
    }
}

#[test]
fn one_run_has_steps_attempts_gates_and_no_secret_values() {
    let f = paused(SECRET_PLAN);
    let s = &f.server;
    let r = s.get("/api/v1/runs/r1", &f.viewer);
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("hunter2"), "a secret leaked: {}", r.text);
    let v = r.json();
    assert_eq!(v["run"]["status"], "paused");
    assert_eq!(
        v["run"]["plan"]["steps"][0]["env"]["DEPLOY_KEY"],
        "<redacted>"
    );
    let steps = v["run"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["stepId"], "a");
    assert_eq!(steps[0]["status"], "succeeded");
    assert_eq!(steps[0]["attempts"], 1);
    assert_eq!(steps[1]["status"], "waiting_approval");
    assert_eq!(v["approvals"][0]["approvalId"], "ship");
    assert_eq!(v["approvals"][0]["message"], "Ship it?");
    assert!(v["runner"].is_null(), "a paused run has no runner");
    assert!(v["lastSequence"].as_u64().unwrap() >= 3);

    let logs = s.get("/api/v1/runs/r1/logs", &f.viewer);
    assert!(!logs.text.contains("hunter2"));

    let missing = s.get("/api/v1/runs/nope", &f.viewer);
    assert_eq!(
        (missing.status, missing.kind().as_str()),
        (404, "not_found")
    );
    assert_eq!(missing.json()["error"]["message"], "run nope not found");
    let r = s.get("/api/v1/nothing-here", &f.viewer);
    assert_eq!((r.status, r.kind().as_str()), (404, "not_found"));
}

/// Reads SSE events (name, data) from a live stream on a thread.
fn follow(s: &Server, path: &str, token: &str) -> std::sync::mpsc::Receiver<(String, String)> {
    let res = ureq::get(&format!("{}{path}", s.base))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(res.header("content-type"), Some("text/event-stream"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut event = String::new();
        let mut data = String::new();
        for line in BufReader::new(res.into_reader()).lines() {
            let Ok(line) = line else { return };
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push_str(d.trim());
            } else if line.is_empty()
                && !event.is_empty()
                && tx
                    .send((std::mem::take(&mut event), std::mem::take(&mut data)))
                    .is_err()
            {
                return;
            }
        }
    });
    rx
}

#[test]
fn logs_page_by_sequence_and_follow_live_through_approval_to_the_end() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    let page = s
        .get("/api/v1/runs/r1/logs?after=1&limit=2", &f.viewer)
        .json();
    let seqs: Vec<u64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(page["next"], 3);
    assert_eq!(page["ended"], false);
    for bad in ["after=x", "limit=0", "limit=1001", "after=-1"] {
        let r = s.get(&format!("/api/v1/runs/r1/logs?{bad}"), &f.viewer);
        assert_eq!(
            (r.status, r.kind().as_str()),
            (400, "invalid_input"),
            "{bad}"
        );
    }
    assert_eq!(s.get("/api/v1/runs/nope/logs", &f.viewer).status, 404);
    assert_eq!(
        s.get("/api/v1/runs/nope/logs/stream", &f.viewer).status,
        404
    );
    assert_eq!(
        s.call("GET", "/api/v1/runs/r1/logs/stream", None, None)
            .status,
        401
    );

    let last = s.get("/api/v1/runs/r1", &f.viewer).json()["lastSequence"]
        .as_u64()
        .unwrap();
    let events = follow(s, "/api/v1/runs/r1/logs/stream?after=1", &f.viewer);
    let mut seen = Vec::new();
    while seen.last() != Some(&last) {
        let (name, data) = events.recv_timeout(common::LIMIT).unwrap();
        assert_eq!(name, "log");
        let e: Value = serde_json::from_str(&data).unwrap();
        seen.push(e["sequence"].as_u64().unwrap());
    }
    assert_eq!(seen, (2..=last).collect::<Vec<_>>());

    // The stream stays open while paused; approving makes the run go on, live.
    let r = s.post(
        "/api/v1/runs/r1/approvals/ship/approve",
        &f.approver,
        r#"{"comment": "lgtm"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let mut messages = Vec::new();
    loop {
        let (name, data) = events.recv_timeout(common::LIMIT).unwrap();
        if name == "end" {
            break;
        }
        let e: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(e["sequence"].as_u64().unwrap(), seen.last().unwrap() + 1);
        seen.push(e["sequence"].as_u64().unwrap());
        messages.push(e["message"].as_str().unwrap_or("").to_owned());
    }
    assert!(messages.iter().any(|m| m == "beta"), "{messages:?}");
    let done = s.wait_status("r1", &f.viewer, "succeeded");
    assert_eq!(done["lastSequence"].as_u64(), seen.last().copied());
    // A follow of an ended run sends what is left, then ends; Last-Event-ID resumes.
    let res = ureq::get(&format!("{}/api/v1/runs/r1/logs/stream", s.base))
        .set("Authorization", &format!("Bearer {}", f.viewer))
        .set("Last-Event-ID", &(seen.last().unwrap() - 1).to_string())
        .call()
        .unwrap();
    let body = std::io::read_to_string(res.into_reader()).unwrap();
    assert_eq!(body.matches("event: log").count(), 1, "{body}");
    assert!(body.contains("event: end"), "{body}");
}

#[test]
fn approvals_record_who_and_why_once_and_bad_decisions_write_nothing() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    let gate = "/api/v1/runs/r1/approvals/ship";
    let unchanged = |f: &Fixture| {
        let a = approval(f);
        assert_eq!(a["status"], "pending");
        assert_eq!(a["decisions"].as_array().unwrap().len(), 0, "{a}");
    };

    let big = format!(r#"{{"comment": "{}"}}"#, "x".repeat(70_000));
    let r = s.post(&format!("{gate}/approve"), &f.approver, &big);
    assert_eq!((r.status, r.kind().as_str()), (413, "too_large"));
    unchanged(&f);
    let r = s.post(&format!("{gate}/approve"), &f.approver, r#"{"comment": "#);
    assert_eq!((r.status, r.kind().as_str()), (400, "invalid_input"));
    let r = s.post(
        &format!("{gate}/approve"),
        &f.approver,
        r#"{"comment": "ok", "as": "root"}"#,
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (400, "invalid_input"),
        "unknown fields are refused"
    );
    let long = format!(r#"{{"comment": "{}"}}"#, "y".repeat(5_000));
    assert_eq!(
        s.post(&format!("{gate}/approve"), &f.approver, &long)
            .status,
        400
    );
    let r = s.post(
        &format!("{gate}/reject"),
        &f.approver,
        r#"{"comment": "  "}"#,
    );
    assert_eq!(
        (r.status, r.kind().as_str()),
        (400, "invalid_input"),
        "reject needs a reason"
    );
    let r = s.call("POST", &format!("{gate}/approve"), Some(&f.approver), None);
    assert_eq!(r.status / 100, 4, "no body: {}", r.text);
    let r = s.post("/api/v1/runs/r1/approvals/nope/approve", &f.approver, "{}");
    assert_eq!((r.status, r.kind().as_str()), (404, "not_found"));
    let r = s.post(
        "/api/v1/runs/nope/approvals/ship/approve",
        &f.approver,
        "{}",
    );
    assert_eq!((r.status, r.kind().as_str()), (404, "not_found"));
    unchanged(&f);

    let first = s.post(
        &format!("{gate}/approve"),
        &f.approver,
        r#"{"comment": "ship it"}"#,
    );
    assert_eq!(first.status, 200, "{}", first.text);
    let first = first.json();
    assert_eq!(first["changed"], true);
    assert_eq!(first["approval"]["status"], "approved");
    let again = s.post(
        &format!("{gate}/approve"),
        &f.approver,
        r#"{"comment": "ship it"}"#,
    );
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["changed"], false);
    s.wait_status("r1", &f.viewer, "succeeded");
    let again = s.post(&format!("{gate}/approve"), &f.approver, "{}").json();
    assert_eq!(
        again["changed"], false,
        "still idempotent after the run ended"
    );

    let a = approval(&f);
    let decisions = a["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1);
    assert_eq!(
        decisions[0]["actor"], "ann",
        "the token's holder is the approver"
    );
    assert_eq!(decisions[0]["reason"], "ship it");
    assert!(decisions[0]["decidedAt"].as_i64().unwrap() > 0);
    // Changing one's mind after the gate closed is a conflict.
    let r = s.post(
        &format!("{gate}/reject"),
        &f.approver,
        r#"{"comment": "wait"}"#,
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(approval(&f)["decisions"].as_array().unwrap().len(), 1);
}

#[test]
fn a_rejection_fails_the_run_with_the_comment() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    let r = s.post(
        "/api/v1/runs/r1/approvals/ship/reject",
        &f.approver,
        r#"{"comment": "not today"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["approval"]["status"], "rejected");
    let done = s.wait_status("r1", &f.viewer, "failed");
    assert_eq!(done["approvals"][0]["decisions"][0]["reason"], "not today");
    assert_eq!(done["approvals"][0]["decisions"][0]["actor"], "ann");
}

#[test]
fn cancel_ends_a_paused_run_once_and_resume_refuses_ended_runs() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    assert_eq!(
        s.post("/api/v1/runs/nope/cancel", &f.approver, "{}").status,
        404
    );
    assert_eq!(
        s.post("/api/v1/runs/nope/resume", &f.approver, "{}").status,
        404
    );

    // Resuming a run that waits at a gate runs it to the gate again.
    let r = s.post("/api/v1/runs/r1/resume", &f.approver, "{}");
    assert_eq!(r.status, 202, "{}", r.text);
    let deadline = std::time::Instant::now() + common::LIMIT;
    loop {
        let v = s.get("/api/v1/runs/r1", &f.viewer).json();
        let resumed = s.get("/api/v1/runs/r1/logs?limit=1000", &f.viewer).json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["eventType"] == "run.resumed")
            .count();
        if v["run"]["status"] == "paused" && v["runner"].is_null() && resumed == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{v:#}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let r = s.post("/api/v1/runs/r1/cancel", &f.approver, "{}");
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["changed"], true);
    assert_eq!(v["run"]["status"], "cancelled");
    let shown = f.env.show("r1");
    assert_eq!(shown["run"]["status"], "cancelled");
    assert_eq!(common::step_status(&shown, "b"), "skipped");
    assert_eq!(common::step_status(&shown, "a"), "succeeded");
    assert!(f
        .env
        .logs("r1")
        .iter()
        .any(|e| e["eventType"] == "run.cancelled" && e["message"] == "cancelled by ann"));

    let again = s.post("/api/v1/runs/r1/cancel", &f.approver, "{}").json();
    assert_eq!(again["changed"], false);
    let r = s.post("/api/v1/runs/r1/resume", &f.approver, "{}");
    assert_eq!((r.status, r.kind().as_str()), (409, "not_resumable"));
    assert_eq!(
        r.json()["error"]["exitCode"],
        5,
        "the CLI's exit code for the same refusal"
    );
    let r = s.post("/api/v1/runs/r1/approvals/ship/approve", &f.approver, "{}");
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(approval(&f)["decisions"].as_array().unwrap().len(), 0);
}

#[test]
fn artifacts_download_with_their_type_and_never_from_outside_the_root() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    s.post("/api/v1/runs/r1/approvals/ship/approve", &f.approver, "{}");
    s.wait_status("r1", &f.viewer, "succeeded");

    let list = s.get("/api/v1/runs/r1/artifacts", &f.viewer).json();
    let names: Vec<&str> = list["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b.txt", "missing.txt"]);
    let file = s.get("/api/v1/runs/r1/artifacts/b.txt", &f.viewer);
    assert_eq!(file.status, 200);
    assert_eq!(file.text, "beta\n");
    assert_eq!(file.content_type, "text/plain; charset=utf-8");
    assert_eq!(file.disposition, "attachment; filename=\"b.txt\"");
    let skipped = s.get("/api/v1/runs/r1/artifacts/missing.txt", &f.viewer);
    assert_eq!(
        (skipped.status, skipped.kind().as_str()),
        (404, "not_found")
    );
    assert_eq!(
        s.get("/api/v1/runs/r1/artifacts/nope", &f.viewer).status,
        404
    );
    assert_eq!(s.get("/api/v1/runs/nope/artifacts", &f.viewer).status, 404);
    assert_eq!(
        s.call("GET", "/api/v1/runs/r1/artifacts/b.txt", None, None)
            .status,
        401
    );

    // A record that points outside the artifacts root (directly, or through a link) is refused.
    let outside = f.env.write("outside.json", "{\"secret\": 1}");
    let link = f.env.path().join("artifacts").join("r1").join("link.json");
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = berth::open(&f.env.store).await.unwrap();
        for (name, path) in [
            ("escape.json", outside.clone()),
            ("link.json", link.clone()),
        ] {
            store
                .artifacts()
                .record(berth::packrun::Artifact {
                    run_id: "r1".into(),
                    name: name.into(),
                    kind: "file".into(),
                    source_path: None,
                    stored_path: Some(path.display().to_string()),
                    status: berth::packrun::ArtifactStatus::Copied,
                    notes: None,
                    captured_at: store.clock().now(),
                })
                .await
                .unwrap();
        }
    });
    for name in ["escape.json", "link.json"] {
        let r = s.get(&format!("/api/v1/runs/r1/artifacts/{name}"), &f.viewer);
        assert_eq!((r.status, r.kind().as_str()), (403, "forbidden"), "{name}");
        assert!(!r.text.contains("secret"));
    }
}

#[test]
fn openapi_describes_every_endpoint_and_the_console_is_served_locked_down() {
    let f = paused(GATED_PLAN);
    let s = &f.server;
    let doc = s.call("GET", "/openapi.json", None, None).json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/logs",
        "/api/v1/runs/{id}/logs/stream",
        "/api/v1/runs/{id}/artifacts",
        "/api/v1/runs/{id}/artifacts/{name}",
        "/api/v1/runs/{id}/approvals/{gate}/approve",
        "/api/v1/runs/{id}/approvals/{gate}/reject",
        "/api/v1/runs/{id}/resume",
        "/api/v1/runs/{id}/cancel",
        "/api/v1/whoami",
    ] {
        assert!(paths.contains_key(p), "{p} missing from /openapi.json");
    }
    let page = s.call("GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.text.contains("/console.js"));
    let res = ureq::get(&format!("{}/", s.base)).call().unwrap();
    let csp = res.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        res.header("access-control-allow-origin").is_none(),
        "CORS is off"
    );
    let js = s.call("GET", "/console.js", None, None);
    assert!(js.content_type.starts_with("text/javascript"));
    assert!(
        !js.text.contains("http://") && !js.text.contains("https://"),
        "no CDN"
    );
}

#[test]
fn serve_binds_to_loopback_by_default() {
    let env = Env::new();
    let out = env.run(&["serve", "--help"]);
    assert!(out.stdout.contains("127.0.0.1:8420"), "{}", out.stdout);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let busy = env.run(&["serve", "--listen", &addr]);
    assert_eq!(busy.code, 6, "{}", busy.stderr);
    assert!(busy.stderr.contains("cannot listen"), "{}", busy.stderr);
}

#[test]
fn two_instances_on_one_store_see_the_same_run_live() {
    two_instances_see_the_same_run_live(paused(GATED_PLAN));
}

#[test]
fn two_instances_on_one_mongodb_see_the_same_run_live() {
    two_instances_see_the_same_run_live(paused_in(Env::mongo("berth_serve"), GATED_PLAN));
}

fn two_instances_see_the_same_run_live(f: Fixture) {
    let other = f.env.serve(&[]);
    // Follow on one instance, approve on the other: the other executes the run, the first
    // streams its lines as they are stored.
    let events = follow(&f.server, "/api/v1/runs/r1/logs/stream", &f.viewer);
    let r = other.post(
        "/api/v1/runs/r1/approvals/ship/approve",
        &f.approver,
        r#"{"comment": "from the other instance"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["resumed"], true);
    let mut messages = Vec::new();
    loop {
        let (name, data) = events.recv_timeout(common::LIMIT).unwrap();
        if name == "end" {
            break;
        }
        let e: Value = serde_json::from_str(&data).unwrap();
        messages.push(e["message"].as_str().unwrap_or("").to_owned());
    }
    assert!(messages.iter().any(|m| m == "alpha"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "beta"), "{messages:?}");
    for s in [&f.server, &other] {
        let listed = s.get("/api/v1/runs?status=succeeded", &f.viewer).json();
        assert_eq!(listed["runs"][0]["id"], "r1");
    }
}
