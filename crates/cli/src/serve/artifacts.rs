//! `/api/v1/runs/{id}/artifacts`: the list, and downloads that never leave the artifacts root.

use crate::serve::auth::Auth;
use crate::serve::error::ApiError;
use crate::serve::runs::get_run;
use crate::serve::tokens::Role;
use crate::serve::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth::packrun::{Artifact, ArtifactStatus};
use serde_json::{json, Value};

/// `GET /runs/{id}/artifacts`.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Role::Viewer)?;
    get_run(&state, &id).await?;
    let artifacts = state.store.artifacts().list(&id).await?;
    Ok(Json(json!({ "artifacts": artifacts })))
}

/// The stored file of `a`, if it is a regular file under `root` once every link is resolved.
pub fn resolve(root: &std::path::Path, a: &Artifact) -> Result<std::path::PathBuf, ApiError> {
    let gone = || ApiError::not_found(format!("artifact {} has no stored file", a.name));
    if a.status != ArtifactStatus::Copied {
        return Err(gone());
    }
    let stored = a.stored_path.as_deref().ok_or_else(gone)?;
    let root = root.canonicalize().map_err(|_| gone())?;
    let path = std::path::Path::new(stored)
        .canonicalize()
        .map_err(|_| gone())?;
    if !path.starts_with(&root) {
        tracing::warn!(run = %a.run_id, artifact = %a.name, "artifact path outside the artifacts root refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("artifact {} is stored outside the artifacts root", a.name),
        ));
    }
    if !path.is_file() {
        return Err(gone());
    }
    Ok(path)
}

/// `GET /runs/{id}/artifacts/{name}`: the file, with the content type of its name, as an
/// attachment (never rendered inside the console's origin).
pub async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    auth.require(Role::Viewer)?;
    get_run(&state, &id).await?;
    let artifact = state
        .store
        .artifacts()
        .get(&id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("run {id} has no artifact {name:?}")))?;
    let path = resolve(&state.artifacts_root, &artifact)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "backend",
            format!("cannot read artifact {name}: {e}"),
        )
    })?;
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let mime = if mime.type_() == mime_guess::mime::TEXT && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let filename: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut res = (StatusCode::OK, Body::from(bytes)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(res)
}
