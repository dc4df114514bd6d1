//! Errors of the library API and the portal's `{"error": "…"}` responses.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::sim::answer::json_response;

/// What the simulator's library API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("state file {path}: {message}")]
    State { path: PathBuf, message: String },
    /// Bad input (HTTP 422 on the hooks).
    #[error("{0}")]
    Invalid(String),
    /// Already exists (HTTP 409 on the hooks).
    #[error("{0}")]
    Conflict(String),
    /// No such thing (HTTP 404 on the hooks).
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl SimError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            SimError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SimError::Conflict(_) => StatusCode::CONFLICT,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        error_response(self.status(), &self.to_string())
    }
}

/// `{"error": message}` with `status`.
pub(crate) fn error_response(status: StatusCode, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": message }))
}
