//! berth-benches: criterion benchmarks of every berth backend, side by side.
//!
//! The benches in `benches/` are written once against [`berth_core::Store`]; each backend
//! is one line in [`backends`]. Run them with `cargo bench -p berth-benches`; set
//! `BERTH_BENCH_QUICK=1` for a short warm-up and measurement (a smoke run, not figures to
//! quote). Results are recorded in `docs/benchmarks.md`.
//!
//! ```
//! let names: Vec<&str> = berth_benches::backends().iter().map(|b| b.name).collect();
//! assert!(names.contains(&"memory") && names.contains(&"sqlite-relaxed"));
//! ```

use berth_core::{Durability, OpenOptions, Result, Store};
use criterion::Criterion;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A future that opens a store.
pub type Opening = Pin<Box<dyn Future<Output = Result<Store>> + Send>>;

/// One backend configuration under benchmark.
#[derive(Clone)]
pub struct Backend {
    /// Name shown in the reports (`sqlite-immediate`, …).
    pub name: &'static str,
    open: Arc<dyn Fn(PathBuf, OpenOptions) -> Opening + Send + Sync>,
}

impl Backend {
    /// A backend opened by `open(directory, options)`; `directory` is a fresh temporary
    /// directory the backend may keep its files in.
    pub fn new(
        name: &'static str,
        open: impl Fn(PathBuf, OpenOptions) -> Opening + Send + Sync + 'static,
    ) -> Self {
        Backend {
            name,
            open: Arc::new(open),
        }
    }

    /// Opens a fresh, empty store in `dir`.
    pub async fn open(&self, dir: &Path) -> Result<Store> {
        (self.open)(dir.to_path_buf(), OpenOptions::default()).await
    }
}

/// Every backend the benches compare; add one line to add a backend.
pub fn backends() -> Vec<Backend> {
    vec![
        Backend::new("memory", |_, o| {
            Box::pin(async move { Ok(berth_state_memory::open(o)) })
        }),
        Backend::new("sqlite-immediate", |d, o| {
            Box::pin(berth_state_sqlite::open(
                d.join("bench.db"),
                o.with_durability(Durability::Immediate),
            ))
        }),
        Backend::new("sqlite-relaxed", |d, o| {
            Box::pin(berth_state_sqlite::open(
                d.join("bench.db"),
                o.with_durability(Durability::Relaxed),
            ))
        }),
    ]
}

/// Whether `BERTH_BENCH_QUICK=1` asks for a short run.
pub fn quick() -> bool {
    std::env::var("BERTH_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Criterion settings: the defaults, or short ones when [`quick`].
pub fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(800))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

/// The runtime the benches drive the stores on: two workers, like the machine's cores.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime for the benches: {e}"),
    }
}
