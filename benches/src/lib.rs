//! berth-benches: criterion benchmarks of every berth backend, side by side.
//!
//! The benches in `benches/` are written once against [`berth_core::Store`]; each backend
//! is one line in [`backends`]. Run them with `cargo bench -p berth-benches`; set
//! `BERTH_BENCH_QUICK=1` for a short warm-up and measurement (a smoke run, not figures to
//! quote). `cargo run -p berth-benches --bin bench-report` turns criterion's saved estimates into
//! `docs/benchmarks.md` (see [`report`]). MongoDB joins when `BERTH_TEST_MONGODB_URI` is set.
//!
//! ```
//! let names: Vec<&str> = berth_benches::all_backends().iter().map(|b| b.name).collect();
//! assert!(names.contains(&"memory") && names.contains(&"sqlite-relaxed"));
//! ```

use berth_core::{Durability, OpenOptions, Result, Store};
use criterion::Criterion;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub mod fixture;
pub mod pipelines;
pub mod report;

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
        self.open_with(dir, OpenOptions::default()).await
    }

    /// Opens a fresh, empty store in `dir` with `options` (a clock of the bench's own, say).
    pub async fn open_with(&self, dir: &Path, options: OpenOptions) -> Result<Store> {
        (self.open)(dir.to_path_buf(), options).await
    }
}

/// The environment variable that adds MongoDB (a connection string) to [`backends`].
pub const MONGODB_URI_VAR: &str = "BERTH_TEST_MONGODB_URI";

/// The environment variable that narrows [`backends`] to a comma-separated list of names.
pub const BACKENDS_VAR: &str = "BERTH_BENCH_BACKENDS";

/// Every backend the benches compare (narrowed by `BERTH_BENCH_BACKENDS` when set); add one
/// line to [`all_backends`] to add a backend.
pub fn backends() -> Vec<Backend> {
    let wanted = std::env::var(BACKENDS_VAR).unwrap_or_default();
    let wanted: Vec<&str> = wanted
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .collect();
    all_backends()
        .into_iter()
        .filter(|b| wanted.is_empty() || wanted.contains(&b.name))
        .collect()
}

/// Every backend configuration there is: memory, sled, SQLite in both durability modes, and
/// MongoDB when `BERTH_TEST_MONGODB_URI` is set.
pub fn all_backends() -> Vec<Backend> {
    let mut all = vec![
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
        Backend::new("sled", |d, o| {
            Box::pin(berth_state_sled::open(d.join("bench.sled"), o))
        }),
    ];
    if let Some(uri) = std::env::var(MONGODB_URI_VAR)
        .ok()
        .filter(|u| !u.is_empty())
    {
        all.push(Backend::new("mongo-secantusdb", move |_, o| {
            Box::pin(berth_state_mongo::open(
                berth_state_mongo::MongoConfig::new(uri.clone())
                    .database(unique_database())
                    .auto_migrate(true),
                o,
            ))
        }));
    }
    all
}

/// A database name no earlier open of this process (or another) used.
fn unique_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("berth_bench_{}_{n}", std::process::id())
}

/// Whether `BERTH_BENCH_QUICK=1` asks for a short run.
pub fn quick() -> bool {
    std::env::var("BERTH_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// Criterion settings: 1 s warm-up, 3 s measurement, 30 samples; short ones when [`quick`].
pub fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(800))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(30)
    }
}

/// Settings for a group whose iteration takes milliseconds to seconds on some backend: flat
/// sampling, 10 samples, so a slow backend costs about 10 iterations past warm-up instead of
/// criterion's linear ramp.
pub fn heavy<M: criterion::measurement::Measurement>(group: &mut criterion::BenchmarkGroup<'_, M>) {
    group
        .sampling_mode(criterion::SamplingMode::Flat)
        .sample_size(10);
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
