//! The database routes: create, list, update, delete (by body or by path), info, metrics and
//! restart.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::assumed::{self, timestamp};
use super::bodies::{CreateBody, DeleteBody, PatchBody};
use super::error::Refusal;
use super::faults::Call;
use super::gate::Caller;
use super::request::{Answer, St, Who, db_type, denied, done, made, ok, valid, valid_type};
use super::views;
use crate::sim::clock::now_ms;
use crate::sim::ids::short_hex;

pub(crate) async fn create(State(s): St, Extension(caller): Who, body: Bytes) -> Answer {
    let body = CreateBody::parse(&body)?;
    let now = now_ms();
    let suffix = match body.requested_name {
        Some(requested) => requested,
        None => assumed::generated_suffix(now, &short_hex(6)),
    };
    let name = super::model::db_name(&caller.customer, body.db_type, &suffix);
    s.stats.create_attempted(body.db_type.as_str(), &name);
    let answer = {
        let mut store = s.store();
        let (db, is_new) = store
            .create(&caller.customer, body.db_type, &suffix, now)
            .map_err(|d| denied(d, &name))?;
        (views::created(db, !is_new), is_new)
    };
    match answer {
        (view, true) => {
            s.stats.effective(Call::Create);
            made(view)
        }
        (view, false) => ok(view),
    }
}

pub(crate) async fn delete_by_body(State(s): St, Extension(caller): Who, body: Bytes) -> Answer {
    let body = DeleteBody::parse(&body)?;
    delete(&s, &caller, body)
}

#[derive(Deserialize)]
pub(crate) struct UserQuery {
    username: Option<String>,
}

pub(crate) async fn delete_by_path(
    State(s): St,
    Extension(caller): Who,
    Path((db_type, db_name)): Path<(String, String)>,
    Query(query): Query<UserQuery>,
) -> Answer {
    let body = DeleteBody {
        db_type: valid_type(&db_type)?,
        db_name,
        username: query.username,
    };
    delete(&s, &caller, body)
}

/// One delete logic for both routes (as the document says).
fn delete(s: &super::handle::Shared, caller: &Caller, body: DeleteBody) -> Answer {
    let name = &body.db_name;
    {
        let mut store = s.store();
        let db = store
            .owned(&caller.customer, body.db_type, name)
            .map_err(|d| denied(d, name))?;
        if let Some(user) = &body.username
            && *user != db.username
        {
            return Err(Refusal::Detail(
                StatusCode::BAD_REQUEST,
                format!("User {user} does not belong to database {name}"),
            ));
        }
        store.remove(body.db_type, name, now_ms());
    }
    s.stats.effective(Call::Delete);
    done(format!("Database {name} deleted successfully"))
}

pub(crate) async fn list(
    State(s): St,
    Extension(caller): Who,
    Path(raw_type): Path<String>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let databases: Vec<_> = s
        .store()
        .of_type(db_type)
        .filter(|db| db.customer == caller.customer)
        .map(views::listed)
        .collect();
    ok(json!({ "db_type": db_type, "databases": databases }))
}

pub(crate) async fn update(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (db_type, patch) = valid(db_type(&raw_type), PatchBody::parse(&body))?;
    {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        if patch.connection_limit.is_none() && patch.description.is_none() {
            return Err(Refusal::Detail(
                StatusCode::BAD_REQUEST,
                "No updates provided: give connection_limit or description".into(),
            ));
        }
        if let Some(limit) = patch.connection_limit {
            db.connection_limit = limit;
        }
        if let Some(description) = patch.description {
            db.description = Some(description);
        }
    }
    s.stats.effective(Call::Patch);
    done(format!("Database {name} updated successfully"))
}

pub(crate) async fn info(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    ok(views::info(db))
}

/// ASSUMPTION (`assumed`, answers): figures as of the last five-minute collection.
pub(crate) async fn metrics(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    let backup_mb: f64 = db.snapshots.iter().map(|s| s.size_mb).sum();
    let collected = now_ms() / 300_000 * 300_000;
    ok(json!({
        "database_id": db.name,
        "storage_gb": db.size_mb / 1024.0,
        "backup_gb": backup_mb / 1024.0,
        "active_connections": 0,
        "max_connections": db.connection_limit,
        "total_queries": 0,
        "queries_per_sec": 0.0,
        "cache_hit_ratio": 100.0,
        "cpu_percent": 0.0,
        "memory_percent": 0.0,
        "measured_at": timestamp(collected),
    }))
}

pub(crate) async fn restart(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    s.store()
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    s.stats.effective(Call::Restart);
    done(format!(
        "All connections to database {name} were terminated"
    ))
}
