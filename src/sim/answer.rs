//! Answers on the wire: JSON bodies, and what faults make of an answer (a server error in its
//! place, no answer at all, or none until the client gives up), counted as they go.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::faults::AfterEffect;
use super::serve::ConnCtl;
use super::stats::Requests;

/// Serialises `body` as the answer.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{{\"error\":\"cannot render response: {e}\"}}"),
        )
            .into_response(),
    }
}

/// What a call that took effect answers when an armed fault hits it: `server_error` (the
/// provider's own error shape), or a marker that makes [`deliver`] withhold the answer.
pub fn faulted_answer(fault: AfterEffect, server_error: Response) -> Response {
    match fault {
        AfterEffect::ServerError => server_error,
        AfterEffect::LoseAnswer | AfterEffect::Stall => {
            let mut marker = Response::new(Body::empty());
            marker.extensions_mut().insert(fault);
            marker
        }
    }
}

/// Sends `resp` and counts it under its status, unless a fault withholds it: a marker from
/// [`faulted_answer`], or `drop` (a random dropped connection). A withheld answer is counted
/// with status 0.
pub async fn deliver(
    requests: &Requests,
    method: &Method,
    route: &'static str,
    ctl: Option<Arc<ConnCtl>>,
    drop: bool,
    resp: Response,
) -> Response {
    match resp.extensions().get::<AfterEffect>() {
        Some(AfterEffect::Stall) => {
            // Never answer: the client times out, and the connection closes when it goes.
            requests.record(method, route, 0);
            return std::future::pending().await;
        }
        Some(AfterEffect::LoseAnswer) => {
            return drop_connection(requests, method, route, ctl).await;
        }
        _ => {}
    }
    if drop {
        return drop_connection(requests, method, route, ctl).await;
    }
    requests.record(method, route, resp.status().as_u16());
    resp
}

/// Closes the connection without an answer (status 0 in the counters). Without a connection
/// control (a router called outside [`Serving`](super::serve::Serving)) it answers 503.
pub async fn drop_connection(
    requests: &Requests,
    method: &Method,
    route: &'static str,
    ctl: Option<Arc<ConnCtl>>,
) -> Response {
    requests.record(method, route, 0);
    match ctl {
        Some(ctl) => {
            ctl.drop_now();
            std::future::pending().await
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "connection dropped").into_response(),
    }
}
