//! The middleware in front of every portal route, in the documented order: injected faults,
//! 401 token, 403 IP allowlist, 429 rate limit, 403 scope; then the handler, then hold-creates,
//! success-code overrides, dropped connections and the request counters.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::{Account, Action, permits};
use super::error::error_response;
use super::faults::{Call, Roll};
use super::handle::Shared;
use super::model::Kind;
use super::routes::{Op, classify};
use crate::sim::answer::{deliver, drop_connection, faulted_answer};
use crate::sim::bearer::bearer;
use crate::sim::faults::CallName;
use crate::sim::ratelimit::retry_after_secs;
use crate::sim::serve::ConnCtl;

pub(crate) async fn gate(
    State((s, route)): State<(Arc<Shared>, &'static str)>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let Some(op) = classify(&method, route) else {
        return next.run(req).await;
    };
    let ctl = req.extensions().get::<Arc<ConnCtl>>().cloned();
    let roll = s.faults.roll();
    if let Some(base) = &roll.settings.redirect_to {
        let target = format!("{}{}", base.trim_end_matches('/'), req.uri().path());
        let mut resp = error_response(StatusCode::TEMPORARY_REDIRECT, "moved");
        if let Ok(location) = HeaderValue::from_str(&target) {
            resp.headers_mut().insert(header::LOCATION, location);
        }
        s.stats.request(&method, route, resp.status().as_u16());
        return resp;
    }
    let presented = roll
        .settings
        .echo_token
        .then(|| bearer(req.headers()).map(str::to_owned))
        .flatten();
    if !roll.latency.is_zero() {
        tokio::time::sleep(roll.latency).await;
    }
    let resp = if roll.error {
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "service temporarily unavailable (injected fault)",
        )
    } else {
        match admit(&s, &req, op) {
            Err(resp) => *resp,
            Ok(_) if roll.drop && roll.drop_before_effect => {
                return drop_connection(s.stats.requests(), &method, route, ctl).await;
            }
            Ok(account) => {
                let mut req = req;
                req.extensions_mut().insert(account);
                let resp = next.run(req).await;
                after_effect(&s, op, &roll, resp).await
            }
        }
    };
    let resp = match presented {
        Some(token) if resp.status().as_u16() >= 400 => repeat_token(resp, &token).await,
        _ => resp,
    };
    let resp = deliver(s.stats.requests(), &method, route, ctl, roll.drop, resp).await;
    tracing::debug!(%method, route, status = resp.status().as_u16(), "portal request");
    resp
}

/// The same error with the presented token in its text, as a careless portal writes it.
async fn repeat_token(resp: Response, token: &str) -> Response {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let text = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut echoed = error_response(status, &format!("{text} (API token '{token}')"));
    if let Some(retry_after) = headers.get(header::RETRY_AFTER) {
        echoed
            .headers_mut()
            .insert(header::RETRY_AFTER, retry_after.clone());
    }
    echoed
}

/// Token, IP allowlist, rate limit and scope: the account the request acts in, or the error
/// response. Public routes pass (in no account).
fn admit(s: &Shared, req: &Request, op: Op) -> Result<Account, Box<Response>> {
    let Some(kind) = op.kind else {
        return Ok(Account::default());
    };
    let Some(token) = bearer(req.headers()) else {
        return Err(Box::new(error_response(
            StatusCode::UNAUTHORIZED,
            "missing bearer token: send Authorization: Bearer <token>",
        )));
    };
    let Some(entry) = s.tokens.lookup(token) else {
        return Err(Box::new(error_response(
            StatusCode::UNAUTHORIZED,
            "invalid or revoked token",
        )));
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| {
            c.0.ip().to_canonical()
        });
    if !entry.allows(ip) {
        return Err(Box::new(error_response(
            StatusCode::FORBIDDEN,
            &format!("client IP {ip} is not allowlisted for this token"),
        )));
    }
    let limit = s.rate_per_minute.load(Ordering::Relaxed);
    let acquired = entry
        .window
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .try_acquire(limit, Instant::now());
    if let Err(wait) = acquired {
        let secs = retry_after_secs(wait);
        let mut resp = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "rate limit exceeded: {limit} requests per minute per token; retry after {secs}s"
            ),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return Err(Box::new(resp));
    }
    if !permits(entry.scope, op.action, kind) {
        let verb = if op.action == Action::Create {
            "creating"
        } else {
            "deleting"
        };
        let what = match kind {
            Kind::Databases => "databases",
            Kind::Functions => "functions",
            Kind::Proxies => "proxies",
            Kind::Backups => "database backups",
        };
        return Err(Box::new(error_response(
            StatusCode::FORBIDDEN,
            &format!(
                "token scope \"{}\" does not permit {verb} {what}",
                entry.scope
            ),
        )));
    }
    Ok(entry.account.clone())
}

/// Holds successful creates while hold-creates is on, and applies success-code overrides.
async fn after_effect(s: &Shared, op: Op, roll: &Roll, resp: Response) -> Response {
    let call = match op.action {
        Action::Create => Some(Call::Create),
        Action::Delete => Some(Call::Delete),
        Action::Read => None,
    };
    if let Some(call) = call
        && resp.status().is_success()
        && let Some(fault) = s.faults.take_armed(call)
    {
        s.stats.fired(call.as_str(), fault.as_str());
        let server_error = error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "service temporarily unavailable (injected fault)",
        );
        return faulted_answer(fault, server_error);
    }
    let replacement = match op.action {
        Action::Create if resp.status() == StatusCode::CREATED => {
            s.hold.wait().await;
            roll.settings.create_status
        }
        Action::Delete if resp.status() == StatusCode::OK => roll.settings.delete_status,
        _ => None,
    };
    let Some(code) = replacement.and_then(|c| StatusCode::from_u16(c).ok()) else {
        return resp;
    };
    if code == StatusCode::NO_CONTENT {
        let mut empty = Response::new(Body::empty());
        *empty.status_mut() = code;
        return empty;
    }
    let mut resp = resp;
    *resp.status_mut() = code;
    resp
}
