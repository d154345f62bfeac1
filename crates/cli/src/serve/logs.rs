//! `/api/v1/runs/{id}/logs`: pages by sequence cursor, and live follow as Server-Sent Events.

use crate::serve::auth::Auth;
use crate::serve::error::{rejection, ApiError};
use crate::serve::follow::Tip;
use crate::serve::runs::{ended, get_run};
use crate::serve::tokens::Role;
use crate::serve::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use berth::packrun::LogEntry;
use berth::Store;
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Most entries in one page.
pub const MAX_LIMIT: usize = 1_000;

/// Query of the log endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Only entries with a greater sequence.
    after: Option<u64>,
    /// Page size, 1–1000 (default 200); pages only.
    limit: Option<usize>,
}

/// `GET /runs/{id}/logs?after=&limit=`: `{entries, next, ended}`; pass `next` as `after`.
pub async fn read(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Role::Viewer)?;
    let Query(q) = query.map_err(|e| rejection(e.status(), e.body_text()))?;
    let limit = q.limit.unwrap_or(200);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(format!("limit must be 1–{MAX_LIMIT}")));
    }
    let status = get_run(&state, &id).await?.status;
    let entries = state.store.logs().read(&id, q.after, limit).await?;
    let next = entries.last().map(|e| e.sequence).or(q.after);
    Ok(Json(json!({
        "entries": entries, "next": next, "ended": ended(status) && entries.len() < limit,
    })))
}

struct Follower {
    store: Store,
    run: String,
    after: Option<u64>,
    rx: watch::Receiver<Tip>,
    pending: VecDeque<LogEntry>,
    fresh: bool,
    done: bool,
    stop: CancellationToken,
}

impl Follower {
    async fn next(mut self) -> Option<(Event, Follower)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.after = Some(e.sequence);
                let event = Event::default()
                    .event("log")
                    .id(e.sequence.to_string())
                    .json_data(&e)
                    .unwrap_or_else(|_| Event::default().comment("unencodable entry"));
                return Some((event, self));
            }
            if self.done {
                return None;
            }
            // The tip is taken before the read: if it says ended, the read sees every entry.
            let tip = *self.rx.borrow_and_update();
            if self.fresh || tip.last > self.after {
                self.fresh = false;
                match self.store.logs().read(&self.run, self.after, 500).await {
                    Ok(page) if !page.is_empty() => {
                        self.pending.extend(page);
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        self.done = true;
                        let data = json!({ "kind": "backend", "message": e.to_string() });
                        return Some((
                            Event::default().event("error").data(data.to_string()),
                            self,
                        ));
                    }
                }
            }
            if tip.polled && tip.ended && tip.last <= self.after {
                self.done = true;
                let data = json!({ "after": self.after });
                return Some((Event::default().event("end").data(data.to_string()), self));
            }
            tokio::select! {
                changed = self.rx.changed() => if changed.is_err() { return None },
                _ = self.stop.cancelled() => return None,
            }
        }
    }
}

/// `GET /runs/{id}/logs/stream?after=`: every entry after `after` (or the `Last-Event-ID`
/// header), then new ones as they are stored, as `log` events with the sequence as id; an
/// `end` event once the run has ended and everything is sent.
pub async fn stream(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    auth.require(Role::Viewer)?;
    let Query(q) = query.map_err(|e| rejection(e.status(), e.body_text()))?;
    let last_event = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Last-Event-ID must be a log sequence"))?,
        ),
        None => None,
    };
    get_run(&state, &id).await?;
    let follower = Follower {
        store: state.store.clone(),
        rx: state.follows.watch(&id),
        run: id,
        after: last_event.or(q.after),
        pending: VecDeque::new(),
        fresh: true,
        done: false,
        stop: state.follows.shutdown().clone(),
    };
    let events = futures::stream::unfold(follower, |f| async move {
        f.next().await.map(|(e, f)| (Ok(e), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
