//! Opening checks the baseline migration; `auto_migrate` applies it, idempotently.

mod common;

use berth_core::{ErrorKind, OpenOptions};
use berth_state_mongo::schema::{CollectionNames, BASELINE, MIGRATE_COMMAND};
use berth_state_mongo::{migrate, LeaseClock};
use common::TestDb;

#[tokio::test]
async fn missing_baseline_names_the_command_and_auto_migrate_applies_it() {
    let db = TestDb::new("migr");
    let strict = db.config(LeaseClock::Server).auto_migrate(false);
    let err = berth_state_mongo::open(strict.clone(), OpenOptions::default())
        .await
        .expect_err("a database without the baseline must not open");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.contains(MIGRATE_COMMAND), "{message}");
    assert!(message.contains(BASELINE.id), "{message}");
    assert_eq!(MIGRATE_COMMAND, "berth-migrate up");

    berth_state_mongo::open(db.config(LeaseClock::Server), OpenOptions::default())
        .await
        .expect("auto_migrate applies the baseline");
    let store = berth_state_mongo::open(strict, OpenOptions::default())
        .await
        .expect("once applied, a strict open succeeds");
    assert_eq!(store.backend(), "mongo");

    // Applying again changes nothing and fails nothing.
    let driver = db.driver().await;
    migrate::apply_baseline(&driver, &CollectionNames::default(), BASELINE)
        .await
        .unwrap();
    assert!(
        migrate::is_applied(&driver, &CollectionNames::default(), BASELINE)
            .await
            .unwrap()
    );
}
