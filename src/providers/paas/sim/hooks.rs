//! The `/_sim/` test hooks over HTTP: no auth, no rate limit, not counted. Each one calls the
//! matching [`SimHandle`] method.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::config::KeySpec;
use super::deployments::Outcome;
use super::error::SimError;
use super::faults::{Armed, Faults};
use super::handle::{Shared, SimHandle};
use super::model::Kind;
use crate::sim::answer::json_response;

type Res = Result<Response, SimError>;
type St = State<Arc<Shared>>;

fn handle(s: &St) -> SimHandle {
    SimHandle {
        shared: s.0.clone(),
    }
}

fn ok(body: Value) -> Res {
    Ok(json_response(StatusCode::OK, &body))
}

/// Parses a JSON body; an empty body counts as `{}`.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    crate::sim::hook::body(bytes).map_err(SimError::Invalid)
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    let mut r = Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route(
            "/_sim/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/_sim/faults/arm", post(arm_fault))
        .route("/_sim/keys", post(add_key))
        .route("/_sim/keys/{key}/revoke", post(revoke_key))
        .route("/_sim/keys/{key}/rate", post(key_rate))
        .route("/_sim/rate", get(get_rate).post(set_rate))
        .route("/_sim/deploy-outcome", post(deploy_outcome))
        .route("/_sim/state", get(state));
    for kind in Kind::ALL {
        r = r
            .route(
                &format!("/_sim/{}", kind.segment()),
                post(move |s: St, b: Bytes| oob_create(s, kind, b)),
            )
            .route(
                &format!("/_sim/{}/{{id}}", kind.segment()),
                axum::routing::delete(move |s: St, id: Path<String>| oob_delete(s, kind, id))
                    .patch(move |s: St, id: Path<String>, b: Bytes| oob_modify(s, kind, id, b)),
            );
    }
    r
}

async fn stats(s: St) -> Res {
    Ok(json_response(StatusCode::OK, &handle(&s).stats()))
}

async fn reset_stats(s: St) -> Res {
    handle(&s).reset_stats();
    ok(json!({}))
}

async fn get_faults(s: St) -> Res {
    Ok(json_response(StatusCode::OK, &handle(&s).faults()))
}

async fn set_faults(s: St, b: Bytes) -> Res {
    let faults: Faults = body(&b)?;
    handle(&s).set_faults(faults.clone())?;
    Ok(json_response(StatusCode::OK, &faults))
}

async fn clear_faults(s: St) -> Res {
    handle(&s).clear_faults();
    ok(json!({}))
}

async fn arm_fault(s: St, b: Bytes) -> Res {
    let armed: Armed = body(&b)?;
    handle(&s).arm(armed);
    Ok(json_response(StatusCode::OK, &armed))
}

async fn add_key(s: St, b: Bytes) -> Res {
    let spec: KeySpec = body(&b)?;
    handle(&s).add_key(spec)?;
    Ok(json_response(StatusCode::CREATED, &json!({})))
}

async fn revoke_key(s: St, Path(key): Path<String>) -> Res {
    handle(&s).revoke_key(&key)?;
    ok(json!({}))
}

#[derive(Deserialize)]
struct Rate {
    per_minute: Option<u32>,
}

/// `{"per_minute": n}` gives the key its own rate, `null` gives it the simulator's back.
async fn key_rate(s: St, Path(key): Path<String>, b: Bytes) -> Res {
    let r: Rate = body(&b)?;
    handle(&s).set_key_rate(&key, r.per_minute)?;
    ok(json!({ "per_minute": r.per_minute }))
}

async fn get_rate(s: St) -> Res {
    ok(json!({ "per_minute": handle(&s).rate_per_minute() }))
}

async fn set_rate(s: St, b: Bytes) -> Res {
    let r: Rate = body(&b)?;
    let per_minute = r
        .per_minute
        .ok_or_else(|| SimError::Invalid("give \"per_minute\"".into()))?;
    handle(&s).set_rate_per_minute(per_minute);
    ok(json!({ "per_minute": per_minute }))
}

async fn deploy_outcome(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Body {
        outcome: Outcome,
    }
    let o: Body = body(&b)?;
    handle(&s).set_deploy_outcome(o.outcome);
    ok(json!({ "outcome": o.outcome }))
}

async fn state(s: St) -> Res {
    ok(handle(&s).state())
}

async fn oob_create(s: St, kind: Kind, b: Bytes) -> Res {
    let v: Value = body(&b)?;
    let created = handle(&s).create_out_of_band(kind, v)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn oob_delete(s: St, kind: Kind, Path(id): Path<String>) -> Res {
    handle(&s).delete_out_of_band(kind, &id)?;
    ok(json!({}))
}

async fn oob_modify(s: St, kind: Kind, Path(id): Path<String>, b: Bytes) -> Res {
    let v: Value = body(&b)?;
    ok(handle(&s).modify_out_of_band(kind, &id, v)?)
}
