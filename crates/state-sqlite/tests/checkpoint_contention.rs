//! 4 processes × 400 checkpoint commits to overlapping runs on one SQLite file: no commit
//! gives up or times out, and every run's current checkpoint is its newest history entry.
//! (`BERTH_CONTENTION_PROCESSES`, `BERTH_CONTENTION_COMMITS` change the counts.)

use berth_core::OpenOptions;

const PATH_ENV: &str = "BERTH_CONTENTION_SQLITE_PATH";

fn main() {
    // The parent makes the file's directory; children inherit its path.
    let dir;
    let path = match std::env::var(PATH_ENV) {
        Ok(p) => p,
        Err(_) => {
            dir = tempfile::tempdir().expect("a temporary directory");
            dir.path().join("contention.db").display().to_string()
        }
    };
    let env = [(PATH_ENV, path.clone())];
    berth_testkit::contention::main("sqlite checkpoint contention", &env, || {
        berth_state_sqlite::open(&path, OpenOptions::default())
    });
}
