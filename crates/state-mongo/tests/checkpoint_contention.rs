//! 4 processes × 400 checkpoint commits to overlapping runs on one MongoDB database: no
//! commit gives up or times out (write conflicts are retried with back-off until the
//! deadline), and every run's current checkpoint is its newest history entry.
//! (`BERTH_CONTENTION_PROCESSES`, `BERTH_CONTENTION_COMMITS` change the counts.)

mod common;

use berth_core::OpenOptions;
use berth_state_mongo::MongoConfig;
use std::time::Duration;

const DB_ENV: &str = "BERTH_CONTENTION_MONGO_DB";

fn main() {
    // The parent owns (and drops) the database; children inherit its name.
    let owned;
    let name = match std::env::var(DB_ENV) {
        Ok(n) => n,
        Err(_) => {
            owned = common::TestDb::new("contention");
            owned.name.clone()
        }
    };
    let env = [(DB_ENV, name.clone())];
    berth_testkit::contention::main("mongodb checkpoint contention", &env, || {
        // The default operation deadline: a commit that needs longer counts as a timeout.
        let config = MongoConfig::new(common::uri())
            .database(name.clone())
            .auto_migrate(true)
            .op_timeout(Duration::from_secs(30));
        berth_state_mongo::open(config, OpenOptions::default())
    });
}
