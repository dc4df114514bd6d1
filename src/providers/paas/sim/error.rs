//! The portal's errors, `{"detail": "…"}` with a documented status (400, 401, 403, 404, 429),
//! and the errors of the simulator's own library API.

use std::io;
use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::sim::answer::json_response;

/// A refusal the portal answers with `{"detail": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// Seconds, sent as `Retry-After` (with a 429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400: the body or a parameter is invalid, or the resource is in a state that refuses it.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 404 for `what` (e.g. "web service") with `id`.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("{what} {id} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = detail_response(self.status, &self.detail);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// What the simulator's library API (the in-process hooks) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    /// Bad input (HTTP 400 on the hooks).
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

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> SimError {
        match e.status {
            StatusCode::NOT_FOUND => SimError::NotFound(e.detail),
            _ => SimError::Invalid(e.detail),
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = match self {
            SimError::Invalid(_) => StatusCode::BAD_REQUEST,
            SimError::Conflict(_) => StatusCode::CONFLICT,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        detail_response(status, &self.to_string())
    }
}

/// `{"detail": detail}` with `status`.
pub(crate) fn detail_response(status: StatusCode, detail: &str) -> Response {
    json_response(status, &serde_json::json!({ "detail": detail }))
}
