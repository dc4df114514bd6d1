//! The portal API routes (`/api/...`) and their handlers.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get};
use serde_json::Value;

use super::auth::{Account, Action};
use super::error::error_response;
use super::gate::gate;
use super::handle::Shared;
use super::model::{Kind, Product, Record, parse_create};
use super::store::{BackupError, Deleted, InsertError, Store};
use crate::sim::answer::json_response;
use crate::sim::clock::now_ms;

pub(crate) const OPENAPI: &str = "/api/openapi";
pub(crate) const DATABASES: &str = "/api/portal/databases";
pub(crate) const DATABASE: &str = "/api/portal/databases/{name}";
pub(crate) const BACKUPS: &str = "/api/portal/databases/{name}/backups";
pub(crate) const FUNCTIONS: &str = "/api/portal/functions";
pub(crate) const FUNCTION: &str = "/api/portal/functions/{name}";
pub(crate) const PROXIES: &str = "/api/portal/proxies";
pub(crate) const PROXY: &str = "/api/portal/proxies/{name}";

const SPEC: &str = include_str!("htx-openapi.json");

/// What a matched route does: `kind == None` is a public route (no token needed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub action: Action,
    pub kind: Option<Kind>,
}

/// Classifies a request by method and matched route template.
pub(crate) fn classify(method: &Method, route: &str) -> Option<Op> {
    let read = *method == Method::GET || *method == Method::HEAD;
    let (kind, action) = match route {
        OPENAPI if read => (None, Action::Read),
        DATABASES | FUNCTIONS | PROXIES | BACKUPS if read => (Some(kind_of(route)), Action::Read),
        DATABASE if read => (Some(Kind::Databases), Action::Read),
        DATABASES | FUNCTIONS | PROXIES | BACKUPS if *method == Method::POST => {
            (Some(kind_of(route)), Action::Create)
        }
        DATABASE | FUNCTION | PROXY if *method == Method::DELETE => {
            (Some(kind_of(route)), Action::Delete)
        }
        _ => return None,
    };
    Some(Op { action, kind })
}

fn kind_of(route: &str) -> Kind {
    match route {
        BACKUPS => Kind::Backups,
        r if r.starts_with(FUNCTIONS) => Kind::Functions,
        r if r.starts_with(PROXIES) => Kind::Proxies,
        _ => Kind::Databases,
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    use Product::*;
    let sh = &shared;
    Router::new()
        .route(OPENAPI, portal(sh, OPENAPI, get(openapi)))
        .route(
            DATABASES,
            portal(
                sh,
                DATABASES,
                get(|s: St, a: Acc| list(s, a, Databases))
                    .post(|s: St, a: Acc, b: Bytes| create(s, a, Databases, b)),
            ),
        )
        .route(
            DATABASE,
            portal(
                sh,
                DATABASE,
                get(get_database)
                    .delete(|s: St, a: Acc, n: Path<String>| remove(s, a, Databases, n)),
            ),
        )
        .route(
            BACKUPS,
            portal(sh, BACKUPS, get(list_backups).post(create_backup)),
        )
        .route(
            FUNCTIONS,
            portal(
                sh,
                FUNCTIONS,
                get(|s: St, a: Acc| list(s, a, Functions))
                    .post(|s: St, a: Acc, b: Bytes| create(s, a, Functions, b)),
            ),
        )
        .route(
            FUNCTION,
            portal(
                sh,
                FUNCTION,
                delete(|s: St, a: Acc, n: Path<String>| remove(s, a, Functions, n)),
            ),
        )
        .route(
            PROXIES,
            portal(
                sh,
                PROXIES,
                get(|s: St, a: Acc| list(s, a, Proxies))
                    .post(|s: St, a: Acc, b: Bytes| create(s, a, Proxies, b)),
            ),
        )
        .route(
            PROXY,
            portal(
                sh,
                PROXY,
                delete(|s: St, a: Acc, n: Path<String>| remove(s, a, Proxies, n)),
            ),
        )
}

type St = State<Arc<Shared>>;
/// The account the gate admitted the request in.
type Acc = Extension<Account>;

/// Puts the gate in front of a portal route and answers other methods with a JSON 405.
fn portal(
    shared: &Arc<Shared>,
    route: &'static str,
    methods: MethodRouter<Arc<Shared>>,
) -> MethodRouter<Arc<Shared>> {
    methods
        .route_layer(from_fn_with_state((shared.clone(), route), gate))
        .fallback(move |State(s): St, method: Method| async move {
            s.stats.request(&method, route, 405);
            error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("method {method} is not allowed on {route}"),
            )
        })
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        SPEC,
    )
        .into_response()
}

fn not_found(product: Product, name: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("{} {name:?} not found", product.singular()),
    )
}

/// The record `name` if `account` may see it: another account's resources are not there for it.
fn visible(store: &Store, account: &Account, product: Product, name: &str) -> Option<Arc<Record>> {
    store
        .get(product, name)
        .filter(|record| account.owns(record))
}

async fn list(State(s): St, Extension(account): Acc, product: Product) -> Response {
    let now = now_ms();
    let lag = s.faults.list_lag_ms();
    let mut list = s.settled_store(now).list_as_of(product, now, lag);
    list.retain(|record| account.owns(record));
    let omitted = s.faults.omissions(list.len());
    let seen_at = now.saturating_sub(lag);
    let views: Vec<_> = list
        .iter()
        .zip(omitted)
        .filter(|(_, omitted)| !omitted)
        .map(|(r, _)| r.view(seen_at))
        .collect();
    json_response(StatusCode::OK, &views)
}

async fn create(State(s): St, Extension(account): Acc, product: Product, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => {
            return error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request body must be a JSON object",
            );
        }
        Err(e) => {
            return error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("request body is not valid JSON: {e}"),
            );
        }
    };
    if let Some(name) = value.get("name").and_then(Value::as_str) {
        s.stats.create_attempted(product.as_str(), name);
    }
    let (name, parsed) = match parse_create(product, &value) {
        Ok(p) => p,
        Err(e) => return error_response(StatusCode::UNPROCESSABLE_ENTITY, &e),
    };
    let now = now_ms();
    let record = Record {
        account: account.0.to_string(),
        ..Record::new(name, parsed, now, now + s.provision_ms)
    };
    let inserted = s.settled_store(now).insert(record, true);
    match inserted {
        Ok(rec) => {
            s.touched();
            s.stats.created(product.into());
            json_response(StatusCode::CREATED, &rec.view(now))
        }
        Err(InsertError::Quota(max)) => error_response(
            StatusCode::PAYMENT_REQUIRED,
            &format!(
                "plan quota reached: your plan allows {max} {}",
                product.as_str()
            ),
        ),
        Err(InsertError::Duplicate) => error_response(
            StatusCode::CONFLICT,
            &format!(
                "a {} named {:?} already exists",
                product.singular(),
                value["name"].as_str().unwrap_or_default()
            ),
        ),
    }
}

async fn get_database(State(s): St, Extension(account): Acc, Path(name): Path<String>) -> Response {
    let now = now_ms();
    let rec = visible(&s.settled_store(now), &account, Product::Databases, &name);
    match rec {
        Some(rec) => json_response(StatusCode::OK, &rec.view(now)),
        None => not_found(Product::Databases, &name),
    }
}

async fn remove(
    State(s): St,
    Extension(account): Acc,
    product: Product,
    Path(name): Path<String>,
) -> Response {
    let now = now_ms();
    let plan = s.faults.delete_plan();
    let delay = plan.map(|_| s.provision_ms);
    let deleted = {
        let mut store = s.settled_store(now);
        visible(&store, &account, product, &name)
            .and_then(|_| store.delete(product, &name, now, delay, plan.unwrap_or(false)))
    };
    match deleted {
        Some(Deleted::Now) => {
            s.touched();
            s.stats.deleted(product.into());
            json_response(StatusCode::OK, &serde_json::json!({}))
        }
        Some(Deleted::Accepted) => {
            s.touched();
            json_response(StatusCode::ACCEPTED, &serde_json::json!({}))
        }
        None => not_found(product, &name),
    }
}

async fn list_backups(State(s): St, Extension(account): Acc, Path(name): Path<String>) -> Response {
    let now = now_ms();
    let list = {
        let store = s.settled_store(now);
        visible(&store, &account, Product::Databases, &name).and_then(|_| store.backups(&name))
    };
    let Some(list) = list else {
        return not_found(Product::Databases, &name);
    };
    let listed_before = now.saturating_sub(s.faults.list_lag_ms());
    let listed: Vec<_> = list
        .iter()
        .filter(|b| b.created_ms <= listed_before)
        .collect();
    let omitted = s.faults.omissions(listed.len());
    let views: Vec<_> = listed
        .iter()
        .zip(omitted)
        .filter(|(_, omitted)| !omitted)
        .map(|(b, _)| b.view(now))
        .collect();
    json_response(StatusCode::OK, &views)
}

async fn create_backup(
    State(s): St,
    Extension(account): Acc,
    Path(name): Path<String>,
) -> Response {
    let now = now_ms();
    let added = {
        let mut store = s.store();
        match visible(&store, &account, Product::Databases, &name) {
            Some(_) => store.add_backup(&name, now, s.backup_ms),
            None => Err(BackupError::NoDatabase),
        }
    };
    match added {
        Ok(b) => {
            s.touched();
            s.stats.created(Kind::Backups);
            json_response(StatusCode::CREATED, &b.view(now))
        }
        Err(BackupError::NoDatabase) => not_found(Product::Databases, &name),
        Err(BackupError::NotReady(status)) => error_response(
            StatusCode::CONFLICT,
            &format!(
                "database {name:?} is not online (status: {status}); backups can be taken once it is online"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let c = |m: Method, r: &str| classify(&m, r).map(|o| (o.action, o.kind));
        assert_eq!(c(Method::GET, OPENAPI), Some((Action::Read, None)));
        assert_eq!(c(Method::POST, OPENAPI), None);
        assert_eq!(
            c(Method::GET, DATABASES),
            Some((Action::Read, Some(Kind::Databases)))
        );
        assert_eq!(
            c(Method::POST, BACKUPS),
            Some((Action::Create, Some(Kind::Backups)))
        );
        assert_eq!(
            c(Method::GET, BACKUPS),
            Some((Action::Read, Some(Kind::Backups)))
        );
        assert_eq!(
            c(Method::DELETE, FUNCTION),
            Some((Action::Delete, Some(Kind::Functions)))
        );
        assert_eq!(
            c(Method::POST, PROXIES),
            Some((Action::Create, Some(Kind::Proxies)))
        );
        assert_eq!(
            c(Method::DELETE, DATABASE),
            Some((Action::Delete, Some(Kind::Databases)))
        );
        assert_eq!(c(Method::GET, FUNCTION), None);
        assert_eq!(c(Method::PUT, DATABASE), None);
    }
}
