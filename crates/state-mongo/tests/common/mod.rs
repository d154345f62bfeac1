//! What every Mongo test shares: the server from `BERTH_TEST_MONGODB_URI`, a database per test.
#![allow(dead_code, missing_docs)]

use berth_core::{OpenOptions, Result, Store};
use berth_state_mongo::{LeaseClock, MongoConfig};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The test server's connection string; a missing variable fails the test, never skips it.
pub fn uri() -> String {
    match std::env::var("BERTH_TEST_MONGODB_URI") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => panic!(
            "BERTH_TEST_MONGODB_URI is not set: the MongoDB tests need a server. Run \
             `./scripts/test.sh` (it starts a SecantusDB test server), or by hand: \
             `eval \"$(scripts/mongo-server.sh)\"` and then cargo test"
        ),
    }
}

/// A database name no other test (or run) uses.
pub fn unique_name(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("berth_t_{tag}_{}_{n}_{nanos}", std::process::id())
}

/// A database of its own, dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
}

impl TestDb {
    pub fn new(tag: &str) -> Self {
        TestDb {
            name: unique_name(tag),
        }
    }

    /// A configuration for this database, auto-migrated, with `lease_clock`.
    pub fn config(&self, lease_clock: LeaseClock) -> MongoConfig {
        MongoConfig::new(uri())
            .database(self.name.clone())
            .auto_migrate(true)
            .lease_clock(lease_clock)
            .op_timeout(Duration::from_secs(60))
    }

    pub async fn open(&self, lease_clock: LeaseClock, options: OpenOptions) -> Result<Store> {
        berth_state_mongo::open(self.config(lease_clock), options).await
    }

    /// A plain driver handle on this database.
    pub async fn driver(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(uri())
            .await
            .unwrap()
            .database(&self.name)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime; drop the database from a thread of its own.
        let name = self.name.clone();
        // Not `uri()`: without a server there is nothing to drop, and no second panic.
        let Ok(uri) = std::env::var("BERTH_TEST_MONGODB_URI") else {
            return;
        };
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                        let _ = tokio::time::timeout(
                            Duration::from_secs(10),
                            client.database(&name).drop(),
                        )
                        .await;
                    }
                });
            }
        });
        let _ = done.join();
    }
}

/// A SecantusDB server of the test's own (for flags the shared one lacks), killed when dropped.
pub struct Server {
    pub uri: String,
    child: Child,
    storage: PathBuf,
}

impl Server {
    /// Starts the SecantusDB launcher with `flags` on a free loopback port and a temporary storage path.
    pub fn start(flags: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = std::env::temp_dir().join(unique_name("server"));
        std::fs::create_dir_all(&storage).unwrap();
        let child = Command::new(secantusd())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(flags)
            .arg("--storage-path")
            .arg(&storage)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/secantusd.py");
        Server {
            uri: format!("mongodb://127.0.0.1:{port}/"),
            child,
            storage,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.storage);
    }
}

/// The SecantusDB launcher (`scripts/secantusd.py`, the server with a transaction reaper):
/// `BERTH_TEST_SECANTUSD`, else the repository's, which needs SecantusDB in `.venv`.
fn secantusd() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_TEST_SECANTUSD") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join(".venv/bin/secantusd-py").exists(),
        "SecantusDB is not installed in .venv (and BERTH_TEST_SECANTUSD is unset): run \
         `./scripts/test.sh`, which installs it"
    );
    root.join("scripts/secantusd.py")
}

/// Opens `config`, waiting (bounded) for a server that is still starting.
pub async fn open_when_up(config: MongoConfig, options: OpenOptions) -> Store {
    let started = std::time::Instant::now();
    loop {
        match berth_state_mongo::open(config.clone(), options.clone()).await {
            Ok(store) => return store,
            Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(30) => {}
            Err(e) => panic!("test server did not come up: {e}"),
        }
    }
}
