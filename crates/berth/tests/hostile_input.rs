//! Property tests over the public input surfaces, on every backend this build has: each input
//! is either accepted and read back identical, or rejected with a typed error and nothing
//! written. Cases per property: 64 (more with `PROPTEST_CASES`). MongoDB joins when
//! `BERTH_TEST_MONGODB_URI` is set and the `mongo` feature is on.

use berth::limits::{value_depth, MAX_DEPTH};
use berth::packrun::{export, PackRun};
use berth::{Batch, ErrorKind, Store};
use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use std::sync::atomic::{AtomicU64, Ordering};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every backend of this build, each with its own fresh location.
struct Backends {
    runtime: tokio::runtime::Runtime,
    stores: Vec<(&'static str, Store)>,
    _dir: tempfile::TempDir,
}

fn backends() -> Backends {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stores = Vec::new();
    runtime.block_on(async {
        stores.push(("memory", berth::open("memory:").await.unwrap()));
        let sqlite = format!("sqlite:{}", dir.path().join("p.db").display());
        stores.push(("sqlite", berth::open(&sqlite).await.unwrap()));
        #[cfg(feature = "sled")]
        {
            let sled = format!("sled:{}", dir.path().join("sled").display());
            stores.push(("sled", berth::open(&sled).await.unwrap()));
        }
        #[cfg(feature = "mongo")]
        if let Ok(uri) = std::env::var("BERTH_TEST_MONGODB_URI") {
            let db = format!("berth_prop_{}", std::process::id());
            let config = berth_state_mongo::MongoConfig::new(uri)
                .database(&db)
                .auto_migrate(true);
            let store = berth_state_mongo::open(config, berth::OpenOptions::default());
            stores.push(("mongo", store.await.unwrap()));
        }
    });
    Backends {
        runtime,
        stores,
        _dir: dir,
    }
}

/// A collection name no earlier case used.
fn fresh_collection(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("prop-{tag}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Odd text: ASCII, controls, NUL, combining marks, right-to-left, astral planes.
fn odd_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._-]{1,12}",
        "\\PC{0,24}",
        proptest::collection::vec(
            prop_oneof![
                Just('\0'),
                Just('\u{1f}'),
                Just('\u{202e}'),
                Just('\u{301}'),
                Just('\u{ffff}'),
                Just('\u{10ffff}'),
                Just('\u{2024}'),
                Just('/'),
                Just('.'),
                Just('"'),
                Just('\\'),
                any::<char>(),
            ],
            0..16
        )
        .prop_map(|c| c.into_iter().collect()),
    ]
}

/// Extreme but finite numbers.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(f64::MAX),
            Just(f64::MIN),
            Just(f64::MIN_POSITIVE),
            Just(-0.0),
            Just(5e-324),
            any::<f64>()
        ]
        .prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
    ]
}

/// JSON values: wide, odd unicode, extreme numbers, moderately deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        odd_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(odd_text(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A value wrapped in `extra` arrays/objects: around the depth limit.
fn deep_value() -> impl Strategy<Value = Value> {
    (json_value(), (MAX_DEPTH - 8)..(MAX_DEPTH + 8)).prop_map(|(mut v, extra)| {
        for i in 0..extra {
            v = if i % 3 == 0 {
                Value::Object(Map::from_iter([("d".to_owned(), v)]))
            } else {
                Value::Array(vec![v])
            };
        }
        v
    })
}

fn check_value(b: &Backends, value: &Value) -> Result<(), TestCaseError> {
    for (name, store) in &b.stores {
        let collection = fresh_collection("v");
        let mut batch = Batch::new();
        batch.put(&collection, "k", value.clone());
        let result = b.runtime.block_on(store.commit(batch));
        let stored = b
            .runtime
            .block_on(store.records().get(&collection, "k"))
            .map_err(|e| TestCaseError::fail(format!("{name}: read failed: {e}")))?;
        if value_depth(value) <= MAX_DEPTH {
            prop_assert!(result.is_ok(), "{name}: {result:?}");
            prop_assert_eq!(&stored.map(|r| r.value), &Some(value.clone()), "{}", name);
        } else {
            let err = result.expect_err("too deep");
            prop_assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", name);
            prop_assert!(stored.is_none(), "{name}: nothing written");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn values_round_trip_or_are_refused(value in prop_oneof![json_value(), deep_value()]) {
        let b = backends_once();
        check_value(b, &value)?;
    }

    #[test]
    fn names_and_keys_round_trip_or_are_refused_with_nothing_written(
        collection in odd_text(),
        key in prop_oneof![odd_text(), "[a-z]{1020,1030}"],
    ) {
        let b = backends_once();
        for (name, store) in &b.stores {
            let witness = fresh_collection("w");
            let mut batch = Batch::new();
            batch.put(&witness, "w", Value::Bool(true));
            batch.put(&collection, &key, Value::from(1));
            let valid = !collection.is_empty() && collection.len() <= 255 && !collection.contains('\0')
                && !key.is_empty() && key.len() <= 1024 && !key.contains('\0');
            let result = b.runtime.block_on(store.commit(batch));
            let w = b.runtime.block_on(store.records().get(&witness, "w")).unwrap();
            if valid {
                prop_assert!(result.is_ok(), "{name}: {result:?}");
                let got = b.runtime.block_on(store.records().get(&collection, &key)).unwrap();
                prop_assert_eq!(got.map(|r| r.value), Some(Value::from(1)), "{}", name);
                prop_assert!(w.is_some());
                // Clean up, so a later case with the same name starts empty.
                let mut undo = Batch::new();
                undo.delete(&collection, &key);
                b.runtime.block_on(store.commit(undo)).unwrap();
            } else {
                prop_assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidInput, "{}", name);
                prop_assert!(w.is_none(), "{name}: nothing of the batch written");
            }
        }
    }

    #[test]
    fn run_ids_follow_the_identifier_rule_on_every_backend(id in prop_oneof![odd_text(), "[A-Za-z0-9][A-Za-z0-9._-]{0,130}"]) {
        let b = backends_once();
        let valid = berth::ident::is_valid_id(&id);
        for (name, store) in &b.stores {
            let result = b.runtime.block_on(store.runs().create(PackRun::new(&id, "h", serde_json::json!({}))));
            if valid {
                let created = b.runtime.block_on(store.runs().get(&id)).unwrap();
                // An id an earlier case created already exists: a conflict, still typed.
                match result {
                    Ok(_) => prop_assert!(created.is_some(), "{}", name),
                    Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Conflict, "{}: {}", name, e),
                }
                prop_assert_eq!(created.map(|r| r.id), Some(id.clone()));
            } else {
                let err = result.expect_err("invalid id");
                prop_assert_eq!(err.kind(), ErrorKind::InvalidInput, "{}", name);
                prop_assert!(err.to_string().contains("run id"), "{err}");
            }
        }
    }

    #[test]
    fn urls_never_panic_and_never_show_a_password(
        scheme in prop_oneof![
            Just("mongodb".to_owned()), Just("sqlite".to_owned()), Just("sled".to_owned()),
            Just("memory".to_owned()), Just("mongodb+srv".to_owned()), "[a-z]{1,6}",
        ],
        slashes in any::<bool>(),
        rest in odd_text(),
    ) {
        let password = "pw-S3cr3t-x";
        let url = format!("{scheme}:{}u:{password}@{rest}", if slashes { "//" } else { "" });
        match berth::Location::parse(&url) {
            // A file path may hold any text; a connection string's password never shows.
            Ok(loc @ berth::Location::Mongo(_)) => {
                let shown = format!("{loc:?}");
                prop_assert!(!shown.contains(password), "{}", shown);
            }
            Ok(_) => prop_assert!(!scheme.starts_with("mongodb")),
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidInput);
                prop_assert!(!e.to_string().contains(password), "{e}");
            }
        }
    }

    #[test]
    fn plans_are_accepted_only_with_safe_ids_and_os_text(
        id in odd_text(), program in odd_text(), arg in odd_text(),
        env_key in odd_text(), output in odd_text(), timeout in 0u64..3,
    ) {
        let plan = serde_json::json!({"name": "p", "steps": [{
            "kind": "run", "id": id, "program": program, "args": [arg],
            "env": {env_key.clone(): "v"}, "timeoutSeconds": timeout,
            "outputs": [{"name": output, "path": "f"}],
        }]});
        match berth_packrun::plan::Plan::from_json(&plan.to_string()) {
            Ok(p) => {
                let berth_packrun::plan::PlanStep::Run(r) = &p.steps[0] else { panic!() };
                prop_assert!(berth::ident::is_valid_id(&r.id));
                prop_assert!(berth::ident::is_valid_id(&r.outputs[0].name));
                prop_assert!(!r.program.contains('\0') && !r.args[0].contains('\0'));
                prop_assert!(!env_key.is_empty() && !env_key.contains(['=', '\0']));
                prop_assert!(timeout > 0);
            }
            Err(e) => prop_assert!(!e.0.is_empty()),
        }
    }

    #[test]
    fn damaged_exports_import_nothing(
        file in 0usize..4, at in any::<prop::sample::Index>(), how in 0u8..4,
    ) {
        let (dir, _) = sample_export();
        let files = ["run.json", "logs.ndjson", "artifacts.ndjson", "approvals.ndjson"];
        let path = dir.path().join("runs/r-1").join(files[file]);
        let mut bytes = std::fs::read(&path).unwrap();
        let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
        match how {
            0 => bytes.truncate(i),                         // truncated
            1 => bytes[i] ^= 0x20,                          // a byte changed
            2 => { let line = bytes.clone(); bytes.extend_from_slice(&line); } // duplicated
            _ => { let mut l: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect(); l.reverse(); bytes = l.join(&b'\n'); } // reordered
        }
        let changed = bytes != std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let read = export::read_dir(dir.path());
        if changed {
            prop_assert!(read.is_err(), "{} {how}: accepted a damaged export", files[file]);
        } else {
            prop_assert!(read.is_ok());
        }
    }
}

/// An export of one run with logs, an artifact and a gate.
fn sample_export() -> (tempfile::TempDir, export::Counts) {
    use berth::packrun::*;
    let b = backends_once();
    let source = b.runtime.block_on(async {
        let s = berth::open("memory:").await.unwrap();
        s.runs()
            .create(PackRun::new("r-1", "h", serde_json::json!({"a": [1, 2]})))
            .await
            .unwrap();
        let logs: Vec<LogEntry> = (1..=3)
            .map(|seq| LogEntry {
                run_id: "r-1".into(),
                sequence: seq,
                timestamp: s.clock().now(),
                level: LogLevel::Info,
                event_type: "step.output".into(),
                message: format!("line {seq}"),
                step_id: None,
                metadata: Default::default(),
            })
            .collect();
        s.logs().append(&logs).await.unwrap();
        s.artifacts()
            .record(Artifact {
                run_id: "r-1".into(),
                name: "out".into(),
                kind: "file".into(),
                source_path: None,
                stored_path: None,
                status: ArtifactStatus::Skipped,
                notes: None,
                captured_at: s.clock().now(),
            })
            .await
            .unwrap();
        s.approvals()
            .create(Approval::pending("r-1", "ship", 1))
            .await
            .unwrap();
        s
    });
    let dir = tempfile::tempdir().unwrap();
    let counts = b
        .runtime
        .block_on(export::export_store(&source, dir.path()))
        .unwrap();
    (dir, counts)
}

/// The backends, opened once per test binary.
fn backends_once() -> &'static Backends {
    static ONCE: std::sync::OnceLock<Backends> = std::sync::OnceLock::new();
    ONCE.get_or_init(backends)
}

/// Depth 1 000 000 in a child process: every entry point answers with a typed error and the
/// process neither overflows its stack nor aborts.
#[test]
fn a_million_levels_deep_is_a_typed_error_not_an_abort() {
    if std::env::var_os("BERTH_DEEP_CHILD").is_some() {
        return million_levels();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_million_levels_deep_is_a_typed_error_not_an_abort",
            "--nocapture",
        ])
        .env("BERTH_DEEP_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed ({:?}): {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deep values refused on"), "{stdout}");
}

fn million_levels() {
    let b = backends_once();
    let mut names = Vec::new();
    for (name, store) in &b.stores {
        let mut deep = Value::Null;
        for _ in 0..1_000_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut batch = Batch::new();
        batch.put("deep", "k", deep);
        let err = b.runtime.block_on(store.commit(batch)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}: {err}");
        assert!(b
            .runtime
            .block_on(store.records().get("deep", "k"))
            .unwrap()
            .is_none());
        names.push(*name);
    }
    let text = "[".repeat(1_000_000);
    assert_eq!(
        berth::limits::decode_stored(text.as_bytes(), "r")
            .unwrap_err()
            .kind(),
        ErrorKind::Corrupt
    );
    assert!(berth_packrun::plan::Plan::from_json(&format!("{{\"name\":{text}")).is_err());
    println!("deep values refused on {}", names.join(", "));
}
