//! What a route handler takes (the authenticated caller, a JSON body) and gives (a reply).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body::parse_json;
use super::error::{ApiError, detail_response};
use super::handle::Shared;
use super::model::Kind;
use super::store::Store;
use crate::sim::answer::json_response;

/// The account of the request's key, put in the request by the gate.
#[derive(Debug, Clone)]
pub(crate) struct Account(pub Arc<str>);

/// A request's account and the simulator it reaches.
pub(crate) struct Caller {
    shared: Arc<Shared>,
    account: Arc<str>,
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> Result<Self, Response> {
        let Some(Account(account)) = parts.extensions.get::<Account>().cloned() else {
            return Err(detail_response(
                StatusCode::UNAUTHORIZED,
                "not authenticated",
            ));
        };
        Ok(Caller {
            shared: shared.clone(),
            account,
        })
    }
}

impl Caller {
    /// Runs `op` on the store as this account, now.
    pub fn run(
        self,
        op: impl FnOnce(&mut Store, &str, u64) -> Result<Reply, ApiError>,
    ) -> Response {
        let account = self.account;
        self.shared
            .with_store(|store, now| op(store, &account, now))
            .into_response()
    }

    /// A create: counted as an attempt by its name (`key`, `alias_key`) whatever comes of it,
    /// answered 201.
    pub fn create(
        self,
        kind: Kind,
        body: &Value,
        op: impl FnOnce(&mut Store, &str, u64) -> Result<Value, ApiError>,
    ) -> Response {
        let name = ["name", "key", "alias_key"]
            .iter()
            .find_map(|field| body.get(field).and_then(Value::as_str));
        if let Some(name) = name {
            self.shared.stats.create_attempted(kind, name);
        }
        self.run(|store, account, now| op(store, account, now).map(Reply::Created))
    }
}

/// A JSON body; 400 when it is missing or not JSON.
pub(crate) struct Body(pub Value);

/// A JSON body that may be left out (then `{}`).
pub(crate) struct OptionalBody(pub Value);

async fn bytes(req: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &())
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        parse_json(&bytes(req).await?).map(Body)
    }
}

impl<S: Send + Sync> FromRequest<S> for OptionalBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(Value::Object(Default::default())));
        }
        parse_json(&bytes).map(OptionalBody)
    }
}

/// A successful answer. ASSUMPTION STATUS_CODES.
pub(crate) enum Reply {
    Ok(Value),
    Created(Value),
    /// DATASTORE_DELETE_ASYNC.
    Accepted(Value),
    NoContent,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Ok(v) => json_response(StatusCode::OK, &v),
            Reply::Created(v) => json_response(StatusCode::CREATED, &v),
            Reply::Accepted(v) => json_response(StatusCode::ACCEPTED, &v),
            Reply::NoContent => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

/// For `map`: a deletion done.
pub(crate) fn deleted(_: ()) -> Reply {
    Reply::NoContent
}
