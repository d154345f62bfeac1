//! berth-pipeline: a routing pipeline engine whose every stage commit is durable.
//!
//! A [`Pipeline`] is a sequence of [`Stage`]s ordered by `order`. A stage runs its
//! [`Step`]s concurrently; each step's async action returns a JSON state patch (merged by
//! the rules of [`patch`]). When every step succeeded, the stage's [`Router`] looks at the
//! state with the patches applied and decides: [`Route::Advance`] (next stage by order, or
//! the natural end), [`Route::Jump`] (an unknown stage fails the run), [`Route::Terminate`],
//! or [`Route::Pause`]. A stage may also run child pipelines ([`SubPipeline`]) that share
//! the run's state under a namespace.
//!
//! State is JSON ([`serde_json::Value`]) or any serde type: [`Engine::start_typed`],
//! [`StepContext::state_as`] and [`RunReport::state_as`] convert at the edges. Patches merge
//! deeply: objects key by key, arrays replace, `null` deletes a key (see [`patch`]). The
//! stored layout (run records, stage log, checkpoints) is described in [`record`].
//!
//! Guarantees, on any berth backend (the engine only sees [`berth_core::Store`]):
//!
//! - **Stage atomicity.** A stage's patches, the run's cursor and status, a stage log entry
//!   and — when it pauses — the [`Checkpoint`](berth_core::Checkpoint) are committed in one
//!   batch. If a step still fails after its retries, nothing of the stage is committed and
//!   the run fails with every cause ([`Outcome::Failed`]).
//! - **Exactly-once commits, at-least-once steps.** Each commit is guarded by
//!   `Precondition::Version` on the run record, so no stage is committed twice and no patch
//!   applied twice, even if two processes resume the same run. After a crash,
//!   [`Engine::resume`] continues from the last committed stage; the steps of the
//!   interrupted stage run again, so side effects should use
//!   [`StepContext::idempotency_key`] (run id + stage commit number + stage + step +
//!   attempt).
//! - **Pause and resume.** A paused run stays live in the [`Registry`] until its pause
//!   timeout (the engine's default, or the router's; zero releases it at once); then its
//!   exported context ([`record::Bundle`]) is written into the checkpoint and it is
//!   dropped. [`Engine::resume`] takes the live run if there is one (fast path) or rebuilds
//!   it from storage (slow path), also in a fresh process.
//! - **Abort.** Cancelling the run's `CancellationToken` (or [`Engine::abort`]) stops the
//!   steps in flight (they see it through [`StepContext::cancelled`]); the run ends
//!   [`Outcome::Aborted`] and nothing of the interrupted stage is committed.
//! - **Events.** Every transition is sent on a `tokio::sync::broadcast` channel
//!   ([`Engine::subscribe`]) as an [`Event`] with run id, pipeline id, path and time.
//! - **Cheap runs.** A run is a future: no thread, no timer unless paused or backing off.
//!
//! On top of the engine, the `berth-packrun` crate executes task-pack plans (commands,
//! approval gates, parallel blocks, maps) durably: the runner behind the `berth` CLI.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), berth_pipeline::PipelineError> {
//! use berth_pipeline::{Engine, Outcome, Pipeline, Route, Stage, Step};
//! use serde_json::json;
//!
//! let pipeline = Pipeline::new("orders")
//!     .stage(Stage::new("price").step(Step::new("sum", |ctx| async move {
//!         let n = ctx.state()["items"].as_u64().unwrap_or(0);
//!         Ok(json!({"total": n * 10}))
//!     })))
//!     .stage(Stage::new("approve")
//!         .step(Step::new("check", |_| async { Ok(json!({"checked": true})) }))
//!         .router(|input| if input.state["total"].as_u64() > Some(100) {
//!             Route::pause_at("ship")
//!         } else {
//!             Route::Advance
//!         }))
//!     .stage(Stage::new("ship").step(Step::new("send", |_| async { Ok(json!({"shipped": true})) })));
//!
//! let store = berth_state_memory::open(berth_core::OpenOptions::default());
//! let engine = Engine::new(store, pipeline)?;
//! let report = engine.start(json!({"items": 3})).await?;
//! assert_eq!(report.outcome, Outcome::Completed);
//! assert_eq!(report.state, json!({"items": 3, "total": 30, "checked": true, "shipped": true}));
//!
//! let big = engine.start(json!({"items": 20})).await?;
//! assert!(matches!(big.outcome, Outcome::Paused { .. }));
//! let done = engine.resume(&big.run_id).await?;
//! assert_eq!(done.state["shipped"], json!(true));
//! # Ok(()) }
//! ```

mod address;
mod builder;
mod commit;
mod context;
mod definition;
mod engine;
mod error;
mod events;
mod inner;
mod manage;
mod outcome;
mod owned;
pub mod patch;
pub mod record;
mod registry;
mod retry;
mod router;
mod run;
mod scope;
mod step;

pub use address::{ChildAddress, ResumeAddress};
pub use builder::{EngineBuilder, DEFAULT_PAUSE_TIMEOUT};
pub use context::StepContext;
pub use definition::{Action, Pipeline, Stage, Step, SubPipeline};
pub use engine::{Engine, PausedRun, StartOptions};
pub use error::{PipelineError, StepError};
pub use events::{Event, EventKind, PathNode, ResumeSource};
pub use outcome::{Cause, Failure, Outcome, RunReport};
pub use registry::Registry;
pub use retry::RetryPolicy;
pub use router::{Pause, Route, Router, RouterInput};
pub use tokio_util::sync::CancellationToken;
