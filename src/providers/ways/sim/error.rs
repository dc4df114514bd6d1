//! Errors of the library API, and the portal's error answers: `{"detail": "text"}`, 422 with
//! pydantic's problem list, and Starlette's plain-text 500.

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::assumed;
use super::validate::Problem;
use crate::sim::answer::json_response;

/// What the simulator's library API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// Bad input (HTTP 422 on the hooks).
    #[error("{0}")]
    Invalid(String),
    /// Already exists (HTTP 409 on the hooks).
    #[error("{0}")]
    Conflict(String),
    /// No such thing (HTTP 404 on the hooks).
    #[error("{0}")]
    NotFound(String),
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            SimError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SimError::Conflict(_) => StatusCode::CONFLICT,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            SimError::Bind { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        detail(status, &self.to_string())
    }
}

/// Why the portal refused a request.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// `{"detail": text}`.
    Detail(StatusCode, String),
    /// 422 `{"detail": [problems]}`.
    Invalid(Vec<Problem>),
}

impl From<Vec<Problem>> for Refusal {
    fn from(problems: Vec<Problem>) -> Self {
        Refusal::Invalid(problems)
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Detail(status, text) => detail(status, &text),
            Refusal::Invalid(problems) => json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({ "detail": problems }),
            ),
        }
    }
}

/// `{"detail": text}` with `status`.
pub(crate) fn detail(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({ "detail": text }))
}

/// An injected server error, as Starlette answers an unhandled exception.
pub(crate) fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        assumed::SERVER_ERROR,
    )
        .into_response()
}

/// A hook body's problems as one line.
pub(crate) fn invalid(problems: Vec<Problem>) -> SimError {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| {
            let loc: Vec<String> = p
                .loc
                .iter()
                .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_owned))
                .collect();
            format!("{}: {}", loc.join("."), p.msg)
        })
        .collect();
    SimError::Invalid(lines.join("; "))
}
