//! The portal's routes (`/v1/...`): what each needs and which write it is, and the router.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, delete, get, post};

use super::config::Permission;
use super::error::detail;
use super::faults::Call;
use super::gate::gate;
use super::handle::Shared;
use super::{access, account, backups, databases};

pub(crate) const DATABASES: &str = "/v1/databases";
pub(crate) const ENGINES: &str = "/v1/databases/engines";
pub(crate) const HISTORY: &str = "/v1/databases/history";
pub(crate) const BY_TYPE: &str = "/v1/databases/{db_type}";
pub(crate) const DATABASE: &str = "/v1/databases/{db_type}/{db_name}";
pub(crate) const RESTART: &str = "/v1/databases/{db_type}/{db_name}/restart";
pub(crate) const CREDENTIALS: &str = "/v1/databases/{db_type}/{db_name}/credentials";
pub(crate) const ROTATE: &str = "/v1/databases/{db_type}/{db_name}/credentials/rotate";
pub(crate) const INFO: &str = "/v1/databases/{db_type}/{db_name}/info";
pub(crate) const FIREWALL: &str = "/v1/databases/{db_type}/{db_name}/firewall";
pub(crate) const FIREWALL_RULE: &str = "/v1/databases/{db_type}/{db_name}/firewall/{rule_id}";
pub(crate) const METRICS: &str = "/v1/databases/{db_type}/{db_name}/metrics";
pub(crate) const QUOTA: &str = "/v1/quota";
pub(crate) const SNAPSHOTS: &str = "/v1/databases/{db_type}/{db_name}/snapshots";
pub(crate) const SNAPSHOT: &str = "/v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}";
pub(crate) const RESTORE: &str = "/v1/databases/{db_type}/{db_name}/restore";
pub(crate) const BACKUP_POLICY: &str = "/v1/databases/{db_type}/{db_name}/backup-policy";

/// What a route needs and does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    /// `None`: any valid key.
    pub permission: Option<Permission>,
    /// The write it is, if it is one.
    pub call: Option<Call>,
}

/// The permission and write of a method on a route template (ASSUMPTION where the document
/// names no permission: `assumed`, permissions).
pub(crate) fn classify(method: &Method, route: &str) -> Option<Op> {
    use Permission::{Create, Delete, Read, Update};
    let op = |permission, call| Some(Op { permission, call });
    match (method.as_str(), route) {
        ("GET", ENGINES) => op(None, None),
        ("GET", QUOTA | HISTORY | BY_TYPE | CREDENTIALS | INFO | FIREWALL | METRICS)
        | ("GET", SNAPSHOTS | BACKUP_POLICY) => op(Some(Read), None),
        ("POST", DATABASES) => op(Some(Create), Some(Call::Create)),
        ("DELETE", DATABASES | DATABASE) => op(Some(Delete), Some(Call::Delete)),
        ("PATCH", DATABASE) => op(Some(Update), Some(Call::Patch)),
        ("POST", RESTART) => op(Some(Update), Some(Call::Restart)),
        ("POST", ROTATE) => op(Some(Update), Some(Call::Rotate)),
        ("POST", FIREWALL) => op(Some(Update), Some(Call::FirewallAdd)),
        ("DELETE", FIREWALL_RULE) => op(Some(Update), Some(Call::FirewallDelete)),
        ("POST", SNAPSHOTS) => op(Some(Read), Some(Call::Snapshot)),
        ("DELETE", SNAPSHOT) => op(Some(Delete), Some(Call::SnapshotDelete)),
        ("POST", RESTORE) => op(Some(Update), Some(Call::Restore)),
        ("PUT", BACKUP_POLICY) => op(Some(Update), Some(Call::PolicyPut)),
        _ => None,
    }
}

pub(crate) fn router(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let route = |path: &'static str, methods: MethodRouter<Arc<Shared>>| {
        (path, portal(shared, path, methods))
    };
    [
        route(
            DATABASES,
            post(databases::create).delete(databases::delete_by_body),
        ),
        route(ENGINES, get(account::engines)),
        route(HISTORY, get(account::history)),
        route(QUOTA, get(account::quota)),
        route(BY_TYPE, get(databases::list)),
        route(
            DATABASE,
            axum::routing::patch(databases::update).delete(databases::delete_by_path),
        ),
        route(RESTART, post(databases::restart)),
        route(INFO, get(databases::info)),
        route(METRICS, get(databases::metrics)),
        route(CREDENTIALS, get(access::credentials)),
        route(ROTATE, post(access::rotate)),
        route(FIREWALL, get(access::rules).post(access::add_rule)),
        route(FIREWALL_RULE, delete(access::delete_rule)),
        route(
            SNAPSHOTS,
            get(backups::snapshots).post(backups::take_snapshot),
        ),
        route(SNAPSHOT, delete(backups::delete_snapshot)),
        route(RESTORE, post(backups::restore)),
        route(BACKUP_POLICY, get(backups::policy).put(backups::set_policy)),
    ]
    .into_iter()
    .fold(Router::new(), |router, (path, methods)| {
        router.route(path, methods)
    })
}

/// Puts the gate in front of a portal route and answers other methods with a counted 405.
fn portal(
    shared: &Arc<Shared>,
    route: &'static str,
    methods: MethodRouter<Arc<Shared>>,
) -> MethodRouter<Arc<Shared>> {
    methods
        .route_layer(from_fn_with_state((shared.clone(), route), gate))
        .fallback(
            move |State(s): State<Arc<Shared>>, method: Method| async move {
                s.stats.request(&method, route, 405);
                detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_route_is_classified() {
        let documented = [
            ("POST", DATABASES),
            ("DELETE", DATABASES),
            ("DELETE", DATABASE),
            ("PATCH", DATABASE),
            ("GET", BY_TYPE),
            ("GET", ENGINES),
            ("POST", RESTART),
            ("GET", CREDENTIALS),
            ("POST", ROTATE),
            ("GET", INFO),
            ("POST", FIREWALL),
            ("GET", FIREWALL),
            ("DELETE", FIREWALL_RULE),
            ("GET", METRICS),
            ("GET", QUOTA),
            ("GET", HISTORY),
            ("POST", SNAPSHOTS),
            ("GET", SNAPSHOTS),
            ("POST", RESTORE),
            ("DELETE", SNAPSHOT),
            ("GET", BACKUP_POLICY),
            ("PUT", BACKUP_POLICY),
        ];
        for (method, route) in documented {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert!(classify(&method, route).is_some(), "{method} {route}");
        }
        assert_eq!(classify(&Method::PUT, DATABASE), None);
        // As documented: a snapshot needs only read, a restore update, a snapshot delete delete.
        let needs = |m: Method, r| classify(&m, r).unwrap().permission;
        assert_eq!(needs(Method::POST, SNAPSHOTS), Some(Permission::Read));
        assert_eq!(needs(Method::POST, RESTORE), Some(Permission::Update));
        assert_eq!(needs(Method::DELETE, SNAPSHOT), Some(Permission::Delete));
        assert_eq!(needs(Method::GET, ENGINES), None);
    }
}
