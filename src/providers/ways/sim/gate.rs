//! The middleware in front of every portal route, in the order of `assumed` (checks): injected
//! faults, 401 key, 429 rate, 403 permission; then the handler, the armed faults, dropped
//! connections and the request counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::api_key;
use super::error::{detail, server_error};
use super::handle::Shared;
use super::routes::{Op, classify};
use crate::sim::answer::{deliver, faulted_answer};
use crate::sim::ratelimit::retry_after_secs;
use crate::sim::serve::ConnCtl;

/// The customer whose key a request carries (in the request's extensions for the handlers).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub customer: String,
}

pub(crate) async fn gate(
    State((s, route)): State<(Arc<Shared>, &'static str)>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let Some(op) = classify(&method, route) else {
        return next.run(req).await;
    };
    let ctl = req.extensions().get::<Arc<ConnCtl>>().cloned();
    let roll = s.faults.roll();
    if !roll.latency.is_zero() {
        tokio::time::sleep(roll.latency).await;
    }
    let resp = if roll.error {
        server_error()
    } else {
        match admit(&s, &mut req, op) {
            Some(refused) => refused,
            None => {
                let resp = next.run(req).await;
                after_effect(&s, op, resp)
            }
        }
    };
    deliver(s.stats.requests(), &method, route, ctl, roll.drop, resp).await
}

/// Key, rate and permission: the refusal, or `None` with the [`Caller`] in the request.
fn admit(s: &Shared, req: &mut Request, op: Op) -> Option<Response> {
    let Some(key) = api_key(req.headers()) else {
        return Some(detail(
            StatusCode::UNAUTHORIZED,
            "Missing API key: send it in the X-API-Key header",
        ));
    };
    let Some(entry) = s.keys.lookup(key) else {
        return Some(detail(StatusCode::UNAUTHORIZED, "Invalid API key"));
    };
    let limit = s.rate_per_minute.load(Ordering::Relaxed);
    let acquired = entry
        .window
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .try_acquire(limit, Instant::now());
    if let Err(wait) = acquired {
        let secs = retry_after_secs(wait);
        let mut resp = detail(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Rate limit exceeded: {limit} requests per minute per API key"),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Some(resp);
    }
    if let Some(needed) = op.permission
        && !entry.permissions.contains(&needed)
    {
        return Some(detail(
            StatusCode::FORBIDDEN,
            &format!("Permission denied: this API key lacks '{needed}'"),
        ));
    }
    req.extensions_mut().insert(Caller {
        customer: entry.customer.clone(),
    });
    None
}

/// A successful write, hit by a fault armed on it: the change stays, the answer does not.
fn after_effect(s: &Shared, op: Op, resp: Response) -> Response {
    if let Some(call) = op.call
        && resp.status().is_success()
        && let Some(fault) = s.faults.take_armed(call)
    {
        s.stats.fired(call, fault.as_str());
        return faulted_answer(fault, server_error());
    }
    resp
}
