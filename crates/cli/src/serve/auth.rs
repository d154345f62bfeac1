//! Bearer-token authentication and role checks of the API.

use crate::serve::error::ApiError;
use crate::serve::tokens::{Caller, Role};
use crate::serve::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

/// The caller of an API request, from its `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct Auth(pub Caller);

impl Auth {
    /// Refuses callers whose role is below `role` (403, before anything is written).
    pub fn require(&self, role: Role) -> Result<&Caller, ApiError> {
        if self.0.role >= role {
            Ok(&self.0)
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {role} role; the token of {} has the {} role",
                self.0.name, self.0.role
            )))
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("no bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").map(str::trim))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header is not `Bearer <token>`")
            })?;
        match state.tokens.verify(token).await? {
            Ok(caller) => Ok(Auth(caller)),
            Err(refused) => Err(ApiError::unauthorized(refused.to_string())),
        }
    }
}
