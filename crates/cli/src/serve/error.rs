//! API errors: a status, a typed kind (the CLI's kinds), a message and what to do next, as JSON.

use crate::exit::CliError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth::ErrorKind;
use berth_packrun::PackRunError;
use serde_json::json;

/// An error answer: `{"error": {"kind", "message", "hint", "exitCode"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Typed kind, snake case (`not_found`, `invalid_input`, `forbidden`, …).
    pub kind: &'static str,
    /// What went wrong.
    pub message: String,
    /// What to do next.
    pub hint: Option<String>,
    /// The exit code the CLI gives for the same failure.
    pub exit_code: Option<u8>,
}

impl ApiError {
    /// An error with no CLI counterpart.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            hint: None,
            exit_code: None,
        }
    }

    /// 400 invalid input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 401: no valid token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        e.hint = Some(
            "send `Authorization: Bearer <token>`; create one with `berth token create`".into(),
        );
        e
    }

    /// 403: the token's role is not enough.
    pub fn forbidden(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::FORBIDDEN, "forbidden", message);
        e.hint = Some("use a token with the approver or admin role".into());
        e
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// With a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

fn store_status(e: &berth::Error) -> (StatusCode, &'static str) {
    match e.kind() {
        ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "invalid_input"),
        ErrorKind::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        ErrorKind::StaleFence => (StatusCode::CONFLICT, "stale_fence"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorKind::Unsupported => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
        ErrorKind::Corrupt => (StatusCode::INTERNAL_SERVER_ERROR, "corrupt"),
        _ if e.is_retryable() => (StatusCode::SERVICE_UNAVAILABLE, "backend"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "backend"),
    }
}

fn kind_of(e: &CliError) -> (StatusCode, &'static str) {
    match e {
        CliError::PackRun(p) => match p {
            PackRunError::RunNotFound(_) | PackRunError::GateNotFound { .. } => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            PackRunError::NotResumable { .. } | PackRunError::NeverStarted(_) => {
                (StatusCode::CONFLICT, "not_resumable")
            }
            PackRunError::Busy { .. } => (StatusCode::CONFLICT, "busy"),
            PackRunError::Decision(_) | PackRunError::RunExists(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            PackRunError::PlanChanged { .. } => (StatusCode::CONFLICT, "plan_changed"),
            PackRunError::Plan { .. } => (StatusCode::BAD_REQUEST, "invalid_input"),
            PackRunError::SecretNotStored { .. } | PackRunError::MissingVariable { .. } => {
                (StatusCode::CONFLICT, "secret_unavailable")
            }
            PackRunError::Corrupt { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "corrupt"),
            PackRunError::Store(s) => store_status(s),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "backend"),
        },
        CliError::Store(s) => store_status(s),
        CliError::RunNotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "backend"),
    }
}

impl From<CliError> for ApiError {
    fn from(e: CliError) -> Self {
        let (status, kind) = kind_of(&e);
        ApiError {
            status,
            kind,
            message: e.to_string(),
            hint: e.hint(),
            exit_code: Some(e.code()),
        }
    }
}

impl From<berth::Error> for ApiError {
    fn from(e: berth::Error) -> Self {
        CliError::from(e).into()
    }
}

impl From<PackRunError> for ApiError {
    fn from(e: PackRunError) -> Self {
        CliError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(kind = self.kind, message = %self.message, "request failed");
        }
        let body = json!({ "error": {
            "kind": self.kind, "message": self.message, "hint": self.hint, "exitCode": self.exit_code,
        }});
        let mut res = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"berth\""),
            );
        }
        res
    }
}

/// Turns an extractor's rejection (bad JSON, oversized body, bad query) into a JSON error.
pub fn rejection(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "too_large",
            "the request body is larger than the limit",
        )
    } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        ApiError::new(status, "invalid_input", "send the body as application/json")
    } else {
        ApiError::invalid(text)
    }
}
