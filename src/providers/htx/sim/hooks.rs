//! The `/_sim/` test hooks over HTTP: no auth, no rate limit, not counted. Each one calls the
//! matching [`SimHandle`] method.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::config::TokenSpec;
use super::error::SimError;
use super::faults::{Armed, Faults};
use super::handle::{Shared, SimHandle};
use super::model::Product;
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
        .route("/_sim/tokens", post(add_token))
        .route("/_sim/tokens/{token}/revoke", post(revoke_token))
        .route("/_sim/tokens/{token}/rotate", post(rotate_token))
        .route("/_sim/hold-creates", post(hold_creates))
        .route("/_sim/release-creates", post(release_creates))
        .route("/_sim/held", get(held))
        .route("/_sim/quota", get(get_quota).post(set_quota))
        .route("/_sim/rate", get(get_rate).post(set_rate))
        .route("/_sim/state", get(state));
    for p in Product::ALL {
        r = r
            .route(
                &format!("/_sim/{}", p.as_str()),
                post(move |s: St, b: Bytes| oob_create(s, p, b)),
            )
            .route(
                &format!("/_sim/{}/{{name}}", p.as_str()),
                delete(move |s: St, n: Path<String>| oob_delete(s, p, n)),
            )
            .route(
                &format!("/_sim/{}/{{name}}/status", p.as_str()),
                post(move |s: St, n: Path<String>, b: Bytes| oob_status(s, p, n, b)),
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

async fn arm_fault(s: St, b: Bytes) -> Res {
    let armed: Armed = body(&b)?;
    handle(&s).arm(armed);
    Ok(json_response(StatusCode::OK, &armed))
}

async fn clear_faults(s: St) -> Res {
    handle(&s).clear_faults();
    ok(json!({}))
}

async fn add_token(s: St, b: Bytes) -> Res {
    let spec: TokenSpec = body(&b)?;
    handle(&s).add_token(spec)?;
    Ok(json_response(StatusCode::CREATED, &json!({})))
}

async fn revoke_token(s: St, Path(token): Path<String>) -> Res {
    handle(&s).revoke_token(&token)?;
    ok(json!({}))
}

async fn rotate_token(s: St, Path(token): Path<String>, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Rotate {
        new_token: String,
    }
    let r: Rotate = body(&b)?;
    handle(&s).rotate_token(&token, &r.new_token)?;
    ok(json!({}))
}

async fn hold_creates(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Hold {
        enabled: bool,
    }
    let h: Hold = body(&b)?;
    let sim = handle(&s);
    sim.hold_creates(h.enabled);
    ok(json!({ "enabled": h.enabled, "held": sim.held() }))
}

async fn release_creates(s: St) -> Res {
    ok(json!({ "released": handle(&s).release_creates() }))
}

async fn held(s: St) -> Res {
    ok(json!({ "held": handle(&s).held() }))
}

async fn get_quota(s: St) -> Res {
    Ok(json_response(StatusCode::OK, &handle(&s).quota()))
}

/// Merges: a key sets that quota, `null` removes it, absent keys stay as they are.
async fn set_quota(s: St, b: Bytes) -> Res {
    let changes: Map<String, Value> = body(&b)?;
    let sim = handle(&s);
    let mut quota = sim.quota();
    for (key, value) in changes {
        let slot = match key.as_str() {
            "databases" => &mut quota.databases,
            "functions" => &mut quota.functions,
            "proxies" => &mut quota.proxies,
            _ => return Err(SimError::Invalid(format!("unknown quota {key:?}"))),
        };
        *slot = match value {
            Value::Null => None,
            v => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        SimError::Invalid(format!("quota {key:?} must be a count or null"))
                    })?,
            ),
        };
    }
    sim.set_quota(quota);
    Ok(json_response(StatusCode::OK, &quota))
}

async fn get_rate(s: St) -> Res {
    ok(json!({ "per_minute": handle(&s).rate_per_minute() }))
}

async fn set_rate(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Rate {
        per_minute: u32,
    }
    let r: Rate = body(&b)?;
    handle(&s).set_rate_per_minute(r.per_minute);
    ok(json!({ "per_minute": r.per_minute }))
}

async fn state(s: St) -> Res {
    ok(handle(&s).state())
}

async fn oob_create(s: St, product: Product, b: Bytes) -> Res {
    let v: Value = body(&b)?;
    let created = handle(&s).create_out_of_band(product, v)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn oob_delete(s: St, product: Product, Path(name): Path<String>) -> Res {
    handle(&s).delete_out_of_band(product, &name)?;
    ok(json!({}))
}

async fn oob_status(s: St, product: Product, Path(name): Path<String>, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Status {
        status: String,
    }
    let st: Status = body(&b)?;
    ok(handle(&s).set_status(product, &name, &st.status)?)
}
