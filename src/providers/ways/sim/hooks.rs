//! The `/_sim/` test hooks over HTTP: no key, no rate limit, not counted. Each one calls the
//! matching [`SimHandle`] method.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::bodies::parse_policy;
use super::config::KeySpec;
use super::error::{SimError, invalid};
use super::faults::{Armed, Faults};
use super::handle::{Shared, SimHandle};
use super::model::DbType;
use crate::sim::answer::json_response;

type Res = Result<Response, SimError>;
type St = State<Arc<Shared>>;
type Db = Path<(String, String)>;

const DATABASE: &str = "/_sim/databases/{db_type}/{db_name}";

fn handle(s: &St) -> SimHandle {
    SimHandle {
        shared: s.0.clone(),
    }
}

fn ok(body: &impl serde::Serialize) -> Res {
    Ok(json_response(StatusCode::OK, body))
}

/// Parses a JSON body; an empty body counts as `{}`.
fn body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, SimError> {
    crate::sim::hook::body(bytes).map_err(SimError::Invalid)
}

fn db_type(raw: &str) -> Result<DbType, SimError> {
    DbType::parse(raw).ok_or_else(|| {
        SimError::Invalid(format!(
            "unknown db_type {raw:?}: expected postgresql or mariadb"
        ))
    })
}

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/stats/reset", post(reset_stats))
        .route(
            "/_sim/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/_sim/faults/arm", post(arm_fault))
        .route("/_sim/keys", post(put_key))
        .route("/_sim/rate", get(get_rate).post(set_rate))
        .route("/_sim/quota", get(get_quota).post(set_quota))
        .route("/_sim/databases", get(databases).post(create_database))
        .route(DATABASE, get(database).delete(delete_database))
        .route(
            "/_sim/databases/{db_type}/{db_name}/connection-limit",
            post(set_connection_limit),
        )
        .route(
            "/_sim/databases/{db_type}/{db_name}/firewall",
            post(add_firewall_rule),
        )
        .route(
            "/_sim/databases/{db_type}/{db_name}/firewall/{rule_id}",
            delete(remove_firewall_rule),
        )
        .route(
            "/_sim/databases/{db_type}/{db_name}/backup-policy",
            put(set_backup_policy),
        )
        .route("/_sim/databases/{db_type}/{db_name}/rotate", post(rotate))
        .route(
            "/_sim/databases/{db_type}/{db_name}/policy-snapshot",
            post(policy_snapshot),
        )
}

async fn stats(s: St) -> Res {
    ok(&handle(&s).stats())
}

async fn reset_stats(s: St) -> Res {
    handle(&s).reset_stats();
    ok(&json!({}))
}

async fn get_faults(s: St) -> Res {
    ok(&handle(&s).faults())
}

async fn set_faults(s: St, b: Bytes) -> Res {
    let faults: Faults = body(&b)?;
    handle(&s).set_faults(faults.clone())?;
    ok(&faults)
}

async fn clear_faults(s: St) -> Res {
    handle(&s).clear_faults();
    ok(&json!({}))
}

async fn arm_fault(s: St, b: Bytes) -> Res {
    let armed: Armed = body(&b)?;
    handle(&s).arm(armed);
    ok(&armed)
}

async fn put_key(s: St, b: Bytes) -> Res {
    let spec: KeySpec = body(&b)?;
    handle(&s).put_key(spec)?;
    Ok(json_response(StatusCode::CREATED, &json!({})))
}

async fn get_rate(s: St) -> Res {
    ok(&json!({ "per_minute": handle(&s).rate_per_minute() }))
}

async fn set_rate(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Rate {
        per_minute: u32,
    }
    let r: Rate = body(&b)?;
    handle(&s).set_rate_per_minute(r.per_minute);
    ok(&json!({ "per_minute": r.per_minute }))
}

async fn get_quota(s: St) -> Res {
    ok(&json!({ "limit": handle(&s).quota() }))
}

async fn set_quota(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Quota {
        limit: u32,
    }
    let q: Quota = body(&b)?;
    handle(&s).set_quota(q.limit);
    ok(&json!({ "limit": q.limit }))
}

async fn databases(s: St) -> Res {
    ok(&handle(&s).databases())
}

async fn create_database(s: St, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Create {
        customer: String,
        db_type: String,
        requested_name: String,
    }
    let c: Create = body(&b)?;
    let created =
        handle(&s).create_database(&c.customer, db_type(&c.db_type)?, &c.requested_name)?;
    Ok(json_response(StatusCode::CREATED, &created))
}

async fn database(s: St, Path((t, name)): Db) -> Res {
    let db_type = db_type(&t)?;
    match handle(&s).database(db_type, &name) {
        Some(state) => ok(&state),
        None => Err(SimError::NotFound(format!(
            "{db_type} database {name:?} not found"
        ))),
    }
}

async fn delete_database(s: St, Path((t, name)): Db) -> Res {
    handle(&s).delete_database(db_type(&t)?, &name)?;
    ok(&json!({}))
}

async fn set_connection_limit(s: St, Path((t, name)): Db, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Limit {
        connection_limit: u32,
    }
    let l: Limit = body(&b)?;
    handle(&s).set_connection_limit(db_type(&t)?, &name, l.connection_limit)?;
    ok(&json!({ "connection_limit": l.connection_limit }))
}

async fn add_firewall_rule(s: St, Path((t, name)): Db, b: Bytes) -> Res {
    #[derive(Deserialize)]
    struct Rule {
        ip_address: String,
        description: Option<String>,
    }
    let r: Rule = body(&b)?;
    let id = handle(&s).add_firewall_rule(
        db_type(&t)?,
        &name,
        &r.ip_address,
        r.description.as_deref(),
    )?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "rule_id": id }),
    ))
}

async fn remove_firewall_rule(
    s: St,
    Path((t, name, rule_id)): Path<(String, String, String)>,
) -> Res {
    handle(&s).remove_firewall_rule(db_type(&t)?, &name, &rule_id)?;
    ok(&json!({}))
}

async fn set_backup_policy(s: St, Path((t, name)): Db, b: Bytes) -> Res {
    let policy = parse_policy(&b).map_err(invalid)?;
    handle(&s).set_backup_policy(db_type(&t)?, &name, policy.clone())?;
    ok(&policy)
}

async fn rotate(s: St, Path((t, name)): Db) -> Res {
    let password = handle(&s).rotate_password(db_type(&t)?, &name)?;
    ok(&json!({ "password": password }))
}

async fn policy_snapshot(s: St, Path((t, name)): Db) -> Res {
    let id = handle(&s).take_policy_snapshot(db_type(&t)?, &name)?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "snapshot_id": id }),
    ))
}
