//! Hostile input on the real binary: ids that would escape `--artifacts`, passwords in store
//! URLs, truncated and refused imports, usage errors under `--json`.

mod common;

use common::{Env, GATED_PLAN};
use std::collections::BTreeSet;
use std::path::Path;

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                todo.push(path);
            }
        }
    }
    out
}

#[test]
fn run_ids_that_could_escape_are_refused_with_the_rule_and_nothing_is_written() {
    let env = Env::new();
    // A nested working directory, so `../x` would land inside the temp dir where we can see it.
    let work = env.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("plan.json"), GATED_PLAN).unwrap();
    let before = tree(env.path());
    for id in [
        "../x",
        "../../x",
        "/tmp/berth-escape",
        "a/../../x",
        "\u{2024}\u{2024}/x",        // one-dot leaders: looks like ../x
        "\u{ff0e}\u{ff0e}\u{2215}x", // fullwidth dots, division slash
        "..",
        ".",
        "",
    ] {
        for detach in [false, true] {
            let mut args = vec!["--artifacts", "work/artifacts", "run", "work/plan.json"];
            if detach {
                args.push("--detach");
            }
            args.extend(["--run-id", id]);
            let done = env.run(&args);
            assert_eq!(done.code, 2, "{id:?}: {done:?}");
            assert!(
                done.stderr.contains("invalid run id"),
                "{id:?}: {}",
                done.stderr
            );
            assert!(done.stderr.contains("1–128 characters"), "{}", done.stderr);
            let json = env.run(&[&["--json"], &args[..]].concat());
            assert_eq!(json.code, 2);
            let err: serde_json::Value = serde_json::from_str(json.stderr.trim()).unwrap();
            assert_eq!(err["exitCode"], 2);
        }
    }
    assert_eq!(tree(env.path()), before, "nothing was written anywhere");
    assert!(!Path::new("/tmp/berth-escape").exists());
    // A tenant id is a path-like id too.
    let done = env.run(&["run", "work/plan.json", "--tenant", "../t"]);
    assert_eq!(done.code, 2, "{done:?}");
    assert!(done.stderr.contains("invalid tenant id"), "{}", done.stderr);
}

#[test]
fn a_password_in_the_store_url_never_shows_even_at_trace() {
    let env = Env::new();
    let secret = "hunter2-s3cret";
    for url in [
        format!("mongodb://ops:{secret}@127.0.0.1:1/berth?serverSelectionTimeoutMS=300&connectTimeoutMS=300"),
        format!("mongodb://ops:{secret}@127.0.0.1:1/berth?serverSelectionTimeoutMS=300&noSuchOption=1"),
        format!("mongodb:ops:{secret}@127.0.0.1"),
        format!("ftp://ops:{secret}@127.0.0.1/"),
    ] {
        for json in [false, true] {
            let mut cmd = env.cmd();
            cmd.env("BERTH_LOG", "trace").env("BERTH_STORE", &url);
            if json {
                cmd.arg("--json");
            }
            let out = cmd.arg("runs").output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{url}");
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{url}: {stdout} {stderr}"
            );
            assert!(stderr.contains("***") || !stderr.contains("ops:"), "{stderr}");
        }
    }
}

#[test]
fn store_urls_with_unknown_options_are_refused_by_name() {
    let env = Env::new();
    let done = env.run(&["--store", "sqlite:b.db?mdoe=ro", "runs"]);
    assert_eq!(done.code, 2, "{done:?}");
    assert!(done.stderr.contains("mdoe"), "{}", done.stderr);
    assert!(!env.path().join("b.db?mdoe=ro").exists());
}

#[test]
fn usage_errors_under_json_are_json_and_limit_zero_is_one() {
    let env = Env::new();
    for args in [
        &["--json", "runs", "--limit", "0"][..],
        &["--json", "runz"][..],
        &["--json", "runs", "--bogus"][..],
    ] {
        let done = env.run(args);
        assert_eq!(done.code, 2, "{args:?}: {done:?}");
        let err: serde_json::Value = serde_json::from_str(done.stderr.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", done.stderr));
        assert_eq!(err["exitCode"], 2);
        assert!(err["error"].as_str().unwrap().len() > 5);
    }
    let done = env.run(&["runs", "--limit", "0"]);
    assert_eq!(done.code, 2);
    assert!(done.stderr.contains("at least 1"), "{}", done.stderr);
}

/// Two finished runs exported to `exp`.
fn exported(env: &Env) {
    env.write("plan.json", GATED_PLAN);
    for id in ["one", "two"] {
        assert_eq!(env.run(&["run", "plan.json", "--run-id", id]).code, 3);
    }
    let done = env.run(&["export", "--to", "exp"]);
    assert_eq!(done.code, 0, "{done:?}");
}

#[test]
fn a_truncated_or_altered_export_imports_nothing() {
    let env = Env::new();
    exported(&env);
    let logs = env.path().join("exp/runs/two/logs.ndjson");
    let original = std::fs::read(&logs).unwrap();
    let target = format!("sqlite:{}", env.path().join("copy.db").display());
    let cut = original.len() - original.len() / 3;
    let mut flipped = original.clone();
    flipped[10] ^= 0x01;
    let mut lines: Vec<&[u8]> = original.split(|b| *b == b'\n').collect();
    lines.swap(0, 1);
    let reordered = lines.join(&b'\n');
    // Whole lines dropped: every line left parses, only the trailer can tell.
    let body = &original[..original.len() - 1];
    let last_line = body.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    for (what, bytes) in [
        ("last line dropped", original[..last_line].to_vec()),
        ("truncated", original[..cut].to_vec()),
        ("one byte changed", flipped),
        ("lines reordered", reordered),
    ] {
        std::fs::write(&logs, &bytes).unwrap();
        let done = env.run(&["--store", &target, "import", "--from", "exp"]);
        assert_eq!(done.code, 5, "{what}: {done:?}");
        assert!(
            done.stderr.contains("nothing was imported"),
            "{what}: {}",
            done.stderr
        );
        assert!(
            !env.path().join("copy.db").exists(),
            "{what}: the store was not even opened"
        );
    }
    std::fs::write(&logs, &original).unwrap();
    // A whole run directory duplicated under another name.
    let copy = env.path().join("exp/runs/two-copy");
    std::fs::create_dir(&copy).unwrap();
    for f in ["run.json", "logs.ndjson"] {
        std::fs::copy(env.path().join("exp/runs/two").join(f), copy.join(f)).unwrap();
    }
    let done = env.run(&["--store", &target, "import", "--from", "exp"]);
    assert_eq!(done.code, 5, "{done:?}");
    std::fs::remove_dir_all(&copy).unwrap();
    // No trailer at all: an export cut short before its end.
    std::fs::rename(env.path().join("exp/manifest.json"), env.path().join("m")).unwrap();
    assert_ne!(
        env.run(&["--store", &target, "import", "--from", "exp"])
            .code,
        0
    );
    std::fs::rename(env.path().join("m"), env.path().join("exp/manifest.json")).unwrap();
    let done = env.run(&["--json", "--store", &target, "import", "--from", "exp"]);
    assert_eq!(done.code, 0, "the intact export imports: {done:?}");
    assert_eq!(done.json()["imported"]["runs"], 2);
}

#[test]
fn a_run_the_store_refuses_is_skipped_whole_and_named() {
    let env = Env::new();
    exported(&env);
    // A run whose tenant breaks the identifier rule: the store refuses its run document.
    let run_file = env.path().join("exp/runs/two/run.json");
    let mut run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run_file).unwrap()).unwrap();
    run["tenantId"] = "no such/tenant".into();
    std::fs::write(&run_file, serde_json::to_vec(&run).unwrap()).unwrap();
    berth::packrun::export::write_manifest(&env.path().join("exp")).unwrap();

    let target = format!("sqlite:{}", env.path().join("copy.db").display());
    let done = env.run(&["--json", "--store", &target, "import", "--from", "exp"]);
    assert_eq!(done.code, 5, "{done:?}");
    assert!(done.stderr.contains("two"), "{}", done.stderr);
    let report = done.json();
    assert_eq!(report["imported"]["runs"], 1);
    assert_eq!(report["skipped"][0]["runId"], "two");
    let runs = env.json(&["--store", &target, "runs"]);
    let ids: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["one"],
        "the refused run is not listed without its parts"
    );
    assert!(!env.logs("one").is_empty(), "the imported run has its logs");
}
