//! The account's routes: quota, history and the engines offered (shapes the document does not
//! give are ASSUMPTIONS, `assumed`: answers).

use axum::Extension;
use axum::extract::State;
use serde_json::json;

use super::assumed::{self, timestamp};
use super::model::DbType;
use super::request::{Answer, St, Who, ok};

pub(crate) async fn quota(State(s): St, Extension(caller): Who) -> Answer {
    let store = s.store();
    let used = store.used(&caller.customer);
    let storage_mb: f64 = store
        .all()
        .filter(|db| db.customer == caller.customer)
        .map(|db| db.size_mb)
        .sum();
    ok(json!({
        "used": used,
        "limit": store.quota,
        "storage_used_gb": storage_mb / 1024.0,
        "storage_limit_gb": f64::from(store.quota) * assumed::STORAGE_GB_PER_DATABASE,
    }))
}

pub(crate) async fn history(State(s): St, Extension(caller): Who) -> Answer {
    let entries: Vec<_> = s
        .store()
        .history(&caller.customer)
        .map(|e| {
            json!({
                "db_name": e.name,
                "db_type": e.db_type,
                "created_at": timestamp(e.created_ms),
                "deleted_at": e.deleted_ms.map(timestamp),
            })
        })
        .collect();
    ok(json!({ "total": entries.len(), "databases": entries }))
}

pub(crate) async fn engines() -> Answer {
    let engine = |db_type: DbType, name: &str, versions: &[&str]| {
        json!({
            "db_type": db_type,
            "name": name,
            "versions": versions,
            "default_port": assumed::port(db_type),
            "features": ["snapshots", "firewall", "backup_policy", "credential_rotation"],
        })
    };
    ok(json!({
        "engines": [
            engine(DbType::Postgresql, "PostgreSQL", &["16", "15"]),
            engine(DbType::Mariadb, "MariaDB", &["11.4", "10.11"]),
        ]
    }))
}
