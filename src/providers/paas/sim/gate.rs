//! The middleware in front of every API route: injected faults, 401 key, 429 rate limit, 403
//! scope; then the handler, the effect counted, armed faults, dropped answers and counters.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::Access;
use super::error::{ApiError, detail_response};
use super::extract::Account;
use super::handle::Shared;
use super::routes::{Op, classify};
use crate::sim::answer::{deliver, drop_connection, faulted_answer};
use crate::sim::bearer::bearer;
use crate::sim::faults::CallName;
use crate::sim::ratelimit::retry_after_secs;
use crate::sim::serve::ConnCtl;

pub(crate) async fn gate(
    State((s, route)): State<(Arc<Shared>, &'static str)>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let op = classify(&method, route);
    let ctl = req.extensions().get::<Arc<ConnCtl>>().cloned();
    let roll = s.faults.roll();
    if !roll.latency.is_zero() {
        tokio::time::sleep(roll.latency).await;
    }
    let resp = if roll.error {
        unavailable()
    } else {
        match admit(&s, &req, op) {
            Err(refused) => refused.into_response(),
            Ok(_) if roll.drop && roll.drop_before_effect => {
                return drop_connection(s.stats.requests(), &method, route, ctl).await;
            }
            Ok(account) => {
                req.extensions_mut().insert(account);
                let resp = next.run(req).await;
                after_effect(&s, op, resp)
            }
        }
    };
    let resp = deliver(s.stats.requests(), &method, route, ctl, roll.drop, resp).await;
    tracing::debug!(%method, route, status = resp.status().as_u16(), "paas request");
    resp
}

fn unavailable() -> Response {
    detail_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "service temporarily unavailable (injected fault)",
    )
}

/// The key's account, or the refusal: 401 missing or unknown key (ASSUMPTION KEYS_ONLY), 429
/// over the rate (ASSUMPTION RATE), 403 out of scope (ASSUMPTION SCOPES).
fn admit(s: &Shared, req: &Request, op: Op) -> Result<Account, ApiError> {
    let Some(key) = bearer(req.headers()) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing credentials: send Authorization: Bearer <API key>",
        ));
    };
    let Some(entry) = s.keys.lookup(key) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid or expired API key",
        ));
    };
    let own = *entry
        .rate_per_minute
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let limit = own.unwrap_or_else(|| s.rate_per_minute.load(Ordering::Relaxed));
    let acquired = entry
        .window
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .try_acquire(limit, Instant::now());
    if let Err(wait) = acquired {
        let secs = retry_after_secs(wait);
        return Err(ApiError {
            retry_after: Some(secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit exceeded: {limit} requests per minute for this key; retry after {secs}s"
                ),
            )
        });
    }
    if !entry.permits(op.area, op.access) {
        let access = if op.access == Access::Read {
            "read"
        } else {
            "write"
        };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "insufficient scope: this key needs {}:{access}",
                op.area.as_str()
            ),
        ));
    }
    Ok(Account(entry.account.as_str().into()))
}

/// Counts what a successful write did, then lets an armed fault take its answer.
fn after_effect(s: &Shared, op: Op, resp: Response) -> Response {
    let Some(effect) = op.effect.filter(|_| resp.status().is_success()) else {
        return resp;
    };
    s.stats.effect(effect);
    if let Some(call) = effect.call()
        && let Some(fault) = s.faults.take_armed(call)
    {
        s.stats.fired(call.as_str(), fault.as_str());
        return faulted_answer(fault, unavailable());
    }
    resp
}
