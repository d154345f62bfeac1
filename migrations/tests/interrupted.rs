//! An `up` killed half-way (SIGKILL, its lock left behind) is completed by the next `up`.

mod common;

use common::{Running, TestDb};

#[tokio::test]
async fn up_killed_half_way_is_completed_by_the_next_up() {
    let db = TestDb::new("kill");
    let mut first = db.command(&["up"]);
    first.env("BERTH_MIGRATE_PAUSE_AFTER", "5");
    let mut first = Running::spawn(first);
    first.wait_for("paused after command 5");
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // Half-way: five collections, no record, the dead process's lock still there.
    let made = db.collections().await;
    assert!(made.contains(&"pack_runs".to_owned()), "{made:?}");
    assert!(!made.contains(&"berth_meta".to_owned()), "{made:?}");
    assert!(db.records().await.is_empty());
    let status = db.run(&["status"]);
    assert_eq!(status.code, 5, "{status:?}");

    let second = db.run(&["up", "--lock-timeout", "20"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stderr.contains("took over the migration lock"),
        "the dead holder's lock is taken over at once: {second:?}"
    );
    assert!(
        !second.stdout.contains("create collection pack_runs"),
        "what exists is not sent again: {}",
        second.stdout
    );
    assert!(
        second.stdout.contains("create collection berth_meta"),
        "{}",
        second.stdout
    );
    assert_eq!(db.records().await.len(), 1);
    let verify = db.run(&["verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(db.run(&["up"]).stdout.contains("nothing changed"));
}
