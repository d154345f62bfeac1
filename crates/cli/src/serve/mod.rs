//! `berth serve`: the runs service — a JSON API over any store (runs, logs with live follow,
//! artifacts, approvals, resume, cancel) and a web console, in one process.
//!
//! Every `/api/v1` request carries a bearer token (see [`tokens`]); reads need the viewer role,
//! writes the approver role. Bodies are limited in size, requests (except live follows) in
//! time, and no CORS headers are sent, so browsers only call it from its own console.

pub mod approvals;
pub mod artifacts;
pub mod auth;
pub mod console;
pub mod error;
pub mod follow;
pub mod logs;
pub mod openapi;
pub mod redact;
pub mod runs;
pub mod tokens;

use crate::commands::Ctx;
use crate::exit::{self, CliError};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use berth::Store;
use berth_packrun::{PackRunner, RunnerOptions};
use error::ApiError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokens::Tokens;
use tokio_util::sync::CancellationToken;

/// Limits of the service.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest a request (other than a live follow) may take.
    pub timeout: Duration,
    /// Limit of a run's step attempt whose plan sets no `timeoutSeconds`.
    pub step_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 64 * 1024,
            timeout: Duration::from_secs(30),
            step_timeout: berth_packrun::command::DEFAULT_STEP_TIMEOUT,
        }
    }
}

/// What every handler gets.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Its API tokens.
    pub tokens: Tokens,
    /// Executes resumed runs in this process.
    pub runner: PackRunner,
    /// Artifacts root (absolute); downloads never leave it.
    pub artifacts_root: PathBuf,
    /// Live log follows, one store poll per followed run.
    pub follows: Arc<follow::Follows>,
    /// Cancelled when the service shuts down (ends live follows).
    pub shutdown: CancellationToken,
    /// Limits.
    pub limits: Limits,
}

impl AppState {
    /// State over `store`, with run outputs under `artifacts_root`.
    pub fn new(store: Store, artifacts_root: PathBuf, limits: Limits) -> Result<Self, CliError> {
        let artifacts_root = std::path::absolute(&artifacts_root).unwrap_or(artifacts_root);
        let shutdown = CancellationToken::new();
        Ok(AppState {
            tokens: Tokens::new(&store)?,
            runner: PackRunner::new(
                store.clone(),
                RunnerOptions {
                    artifacts_root: artifacts_root.clone(),
                    observer: None,
                    tenant: None,
                    step_timeout: limits.step_timeout,
                },
            ),
            follows: Arc::new(follow::Follows::new(store.clone(), shutdown.clone())),
            store,
            artifacts_root,
            shutdown,
            limits,
        })
    }
}

async fn time_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.limits.timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s",
                state.limits.timeout.as_secs_f64()
            ),
        )
        .with_hint("try again; if it keeps happening, check the store")
        .into_response(),
    }
}

async fn headers(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

async fn whoami(auth: auth::Auth) -> Json<serde_json::Value> {
    Json(
        serde_json::json!({ "name": auth.0.name, "role": auth.0.role, "tokenId": auth.0.token_id }),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

/// The whole service.
pub fn router(state: AppState) -> Router {
    let timed = Router::new()
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/resume", post(runs::resume))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/logs", get(logs::read))
        .route("/runs/{id}/artifacts", get(artifacts::list))
        .route("/runs/{id}/artifacts/{name}", get(artifacts::download))
        .route(
            "/runs/{id}/approvals/{gate}/approve",
            post(approvals::approve),
        )
        .route(
            "/runs/{id}/approvals/{gate}/reject",
            post(approvals::reject),
        )
        .route("/whoami", get(whoami))
        .route_layer(middleware::from_fn_with_state(state.clone(), time_limit));
    let api = timed.route("/runs/{id}/logs/stream", get(logs::stream));
    Router::new()
        .nest("/api/v1", api)
        .route("/openapi.json", get(openapi::document))
        .route("/healthz", get(|| async { "ok" }))
        .merge(console::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .layer(middleware::from_fn(headers))
        .with_state(state)
}

/// `berth serve`.
pub async fn serve(ctx: &Ctx, listen: SocketAddr, limits: Limits) -> Result<u8, CliError> {
    let store = ctx.store().await?;
    let state = AppState::new(store.clone(), ctx.cli.artifacts.clone(), limits)?;
    let shutdown = state.shutdown.clone();
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CliError::other(
            format!("cannot listen on {listen}: {e}"),
            "pick another address with --listen (port 0 picks a free port)",
            exit::FAILURE,
        )
    })?;
    let addr = listener.local_addr().map_err(|e| {
        CliError::other(
            e.to_string(),
            "pick another --listen address",
            exit::FAILURE,
        )
    })?;
    if ctx.out.json {
        ctx.out
            .json_line(&serde_json::json!({ "listening": format!("http://{addr}") }));
    } else {
        ctx.out.line(format!("listening on http://{addr}"));
        if !addr.ip().is_loopback() {
            ctx.out.line(
                "warning: listening beyond this machine; put a TLS reverse proxy in front (docs/serve.md)",
            );
        }
    }
    let stop = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        stop.cancel();
    });
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    // Runs resumed by this process stop at their last committed step; a later resume goes on.
    berth_packrun::command::kill_running_commands();
    berth_packrun::lease::release_this_runner(&store).await;
    result.map_err(|e| {
        CliError::other(
            format!("the server failed: {e}"),
            "see BERTH_LOG=debug",
            exit::FAILURE,
        )
    })?;
    Ok(exit::OK)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

impl crate::args::ServeArgs {
    /// The limits these options ask for.
    pub fn limits(&self, step_timeout: Duration) -> Limits {
        Limits {
            max_body: self.max_body,
            timeout: Duration::from_secs(self.request_timeout.max(1)),
            step_timeout,
        }
    }
}
