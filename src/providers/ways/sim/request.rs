//! What every portal handler shares: its extractors, reading the `{db_type}` path parameter
//! with the body's problems, and the refusals of the store as answers.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::assumed;
use super::error::Refusal;
use super::gate::Caller;
use super::handle::Shared;
use super::model::DbType;
use super::store::Denied;
use super::validate::{Problem, path_enum};
use crate::sim::answer::json_response;

pub(crate) type Answer = Result<Response, Refusal>;
pub(crate) type St = State<Arc<Shared>>;
pub(crate) type Who = Extension<Caller>;

/// The `{db_type}` path parameter.
pub(crate) fn db_type(raw: &str) -> Result<DbType, Problem> {
    path_enum("db_type", raw, &["postgresql", "mariadb"], DbType::parse)
}

/// The path's database type and the body, or every problem of both (as FastAPI reports them).
pub(crate) fn valid<T>(
    path: Result<DbType, Problem>,
    body: Result<T, Vec<Problem>>,
) -> Result<(DbType, T), Refusal> {
    match (path, body) {
        (Ok(db_type), Ok(body)) => Ok((db_type, body)),
        (path, body) => {
            let mut problems: Vec<Problem> = path.err().into_iter().collect();
            problems.extend(body.err().unwrap_or_default());
            Err(Refusal::Invalid(problems))
        }
    }
}

/// The path's database type alone.
pub(crate) fn valid_type(raw: &str) -> Result<DbType, Refusal> {
    db_type(raw).map_err(|p| Refusal::Invalid(vec![p]))
}

/// The store's refusal about database `name`, as the portal says it.
pub(crate) fn denied(denied: Denied, name: &str) -> Refusal {
    let (status, text) = match denied {
        Denied::NotFound => (StatusCode::NOT_FOUND, format!("Database {name} not found")),
        Denied::NotOwner => (
            StatusCode::FORBIDDEN,
            format!("Access denied: database {name} does not belong to you"),
        ),
        Denied::Quota { used, limit } => {
            (assumed::QUOTA_STATUS, assumed::quota_exceeded(used, limit))
        }
        Denied::Exists(name) => (
            StatusCode::CONFLICT,
            format!("Database {name} already exists"),
        ),
    };
    Refusal::Detail(status, text)
}

/// 404 for something of a database other than the database itself.
pub(crate) fn not_found(what: &str) -> Refusal {
    Refusal::Detail(StatusCode::NOT_FOUND, format!("{what} not found"))
}

/// 200 with `body`.
pub(crate) fn ok(body: Value) -> Answer {
    Ok(json_response(StatusCode::OK, &body))
}

/// `assumed::CREATED` with `body`.
pub(crate) fn made(body: Value) -> Answer {
    Ok(json_response(assumed::CREATED, &body))
}

/// `{"success": true, "message": …}`.
pub(crate) fn done(message: String) -> Answer {
    ok(serde_json::json!({ "success": true, "message": message }))
}
