//! Two operators at once: the lock keeps them apart; the second waits with a message, or
//! exits 4 with a clear error after its timeout.

mod common;

use common::{Running, TestDb};

#[tokio::test]
async fn two_ups_at_once_apply_the_migration_once() {
    let db = TestDb::new("race");
    let a = Running::spawn(db.command(&["--json", "up"]));
    let b = Running::spawn(db.command(&["--json", "up"]));
    let (a, b) = (a.finish(), b.finish());
    assert_eq!(a.code, 0, "{a:?}");
    assert_eq!(b.code, 0, "{b:?}");
    let a: serde_json::Value = serde_json::from_str(a.stdout.trim()).unwrap();
    let b: serde_json::Value = serde_json::from_str(b.stdout.trim()).unwrap();
    let applied = |v: &serde_json::Value| v["applied"].as_array().unwrap().len();
    assert_eq!(
        applied(&a) + applied(&b),
        1,
        "exactly one applies it: {a} {b}"
    );
    assert_eq!(db.records().await.len(), 1);
    assert_eq!(db.run(&["verify"]).code, 0);
}

#[tokio::test]
async fn a_second_operator_waits_for_the_lock_or_gives_up_clearly() {
    let db = TestDb::new("wait");
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let mut first = db.command(&["up"]);
    first
        .env("BERTH_MIGRATE_PAUSE_AFTER", "3")
        .env("BERTH_MIGRATE_PAUSE_UNTIL", &go);
    let mut first = Running::spawn(first);
    first.wait_for("paused after command 3");

    let impatient = db.run(&["up", "--lock-timeout", "1"]);
    assert_eq!(impatient.code, 4, "{impatient:?}");
    assert!(impatient.stderr.contains("migration lock"), "{impatient:?}");
    assert!(
        impatient.stderr.contains("`up` on"),
        "names the holder: {impatient:?}"
    );

    let mut second = Running::spawn(db.command(&["up", "--lock-timeout", "60"]));
    let waiting = second.wait_for("waiting for the migration lock");
    assert!(
        waiting.contains(&format!("pid {}", first.child.id())),
        "{waiting}"
    );
    std::fs::write(&go, b"").unwrap();

    let first = first.finish();
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains("record migration"), "{first:?}");
    let second = second.finish();
    assert_eq!(second.code, 0, "{second:?}");
    assert!(second.stdout.contains("nothing changed"), "{second:?}");
    assert_eq!(db.records().await.len(), 1);
}
