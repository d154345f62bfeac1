//! berth-packrun: the task runner. It executes a task-pack [`Plan`] durably on the
//! `berth-pipeline` engine, over any berth store.
//!
//! A plan (JSON) lists steps of kinds `run` (a command), `approval` (a gate), `parallel`
//! (command steps at once) and `map` (a command template per item), with a failure policy
//! (max attempts, back-off seconds, continue on error; defaults 1, 0, false). Its hash is
//! the SHA-256 of the normalised plan ([`hash`]); it is stored with the run and checked on
//! resume, so a changed plan is refused before anything is written.
//!
//! A step's environment value may be marked secret or read from berth's own environment
//! ([`env`]); secret values are held as [`berth_core::Secret`], never stored (the stored plan
//! and its hash have `***`), and masked in everything a run logs ([`mask`]).
//!
//! [`PackRunner::start`] creates the [`PackRun`](berth_core::packrun::PackRun) record, takes
//! the run's lease (one runner per run; a dead local runner's lease is taken over at once)
//! and runs one pipeline stage per top-level step. Commands are real child processes; every
//! output line is appended to the run's logs as it arrives (stdout `info`, stderr `warn`)
//! with increasing sequence numbers, step status, attempts and next attempt are kept on the
//! run, declared outputs are copied into the artifacts directory (missing ones `skipped`),
//! and an approval gate opens its approval record and pauses the run. Deciding the gate and
//! calling [`PackRunner::resume`] continues it (a rejection fails the run with the reason).
//!
//! A step ends when its main process exits; its process group is killed then, and every
//! attempt has a limit (`timeoutSeconds`, else [`RunnerOptions::step_timeout`]), see
//! [`command`].
//!
//! Ownership: every write the runner makes for its run (stage commits, the run record, logs,
//! artifacts, gates) carries its [`lease::RunClaim`]'s fencing token, checked by the store in
//! the same transaction. A runner whose lease lapsed while nobody took the run takes it again
//! and carries on; one whose run was taken over stops its commands, writes nothing more and
//! returns [`PackRunError::ClaimLost`].
//!
//! Crash safety comes from the engine: each stage commit is durable, and a killed runner's
//! run resumes at its first uncommitted stage. That stage's commands run again, except the
//! `parallel`/`map` children whose success is already on the run record; log lines
//! carry a deterministic key (step, attempt, stream, line number), so a line stored before
//! the crash is not stored again under another sequence (see [`logs`]).
//!
//! ```no_run
//! # async fn demo(store: berth_core::Store) -> Result<(), berth_packrun::PackRunError> {
//! use berth_packrun::{LoadedPlan, PackRunner, RunnerOptions, Finish};
//! let plan = LoadedPlan::from_json(
//!     r#"{"name":"hello","steps":[{"kind":"run","id":"greet","program":"echo","args":["hi"]}]}"#,
//!     std::env::temp_dir(), "inline")?;
//! let runner = PackRunner::new(store, RunnerOptions::default());
//! let summary = runner.start(&plan, None).await?;
//! assert_eq!(summary.finish, Finish::Succeeded);
//! # Ok(()) }
//! ```

pub mod artifacts;
pub mod book;
mod build;
pub mod command;
pub mod context;
pub mod env;
pub mod error;
pub mod failure;
pub mod hash;
pub mod lease;
pub mod logs;
pub mod mask;
pub mod owned;
pub mod plan;
mod runner;
mod steps;

pub use build::PIPELINE_ID;
pub use context::{LoadedPlan, RunContext};
pub use env::EnvValue;
pub use error::PackRunError;
pub use failure::StepFailure;
pub use mask::Masker;
pub use plan::{Plan, PlanError, PlanStep};
pub use runner::{Finish, PackRunner, Resumable, RunSummary, RunnerOptions};
