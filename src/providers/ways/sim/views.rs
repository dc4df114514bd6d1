//! What is shown of a database: the portal's JSON answers, and [`DatabaseState`], everything a
//! test may look at (password and data generation included).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::assumed::{self, timestamp};
use super::model::{Database, Frequency, Policy, Rule, Snapshot};
use crate::sim::clock::rfc3339;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The answer to a create: the database's password, or for an existing database (`idempotent`)
/// a fresh one that was never applied (ASSUMPTION, `assumed`: idempotent creates).
pub(crate) fn created(db: &Database, idempotent: bool) -> Value {
    let password = if idempotent {
        super::model::new_password()
    } else {
        db.password.clone()
    };
    let message = if idempotent {
        "Database already exists"
    } else {
        "Database created successfully"
    };
    json!({
        "success": true,
        "db_type": db.db_type,
        "db_name": db.name,
        "username": db.username,
        "password": password,
        "host": db.host(),
        "port": db.port(),
        "connection_string": db.connection_string(&password),
        "message": message,
        "password_generated": true,
        "idempotent": idempotent,
    })
}

/// `POST …/credentials/rotate`.
pub(crate) fn rotated(db: &Database, now_ms: u64) -> Value {
    json!({
        "success": true,
        "db_name": db.name,
        "username": db.username,
        "password": db.password,
        "host": db.host(),
        "port": db.port(),
        "connection_string": db.connection_string(&db.password),
        "created_at": timestamp(now_ms),
    })
}

/// `GET …/credentials`: the password masked.
pub(crate) fn credentials(db: &Database) -> Value {
    json!({
        "host": db.host(),
        "port": db.port(),
        "database": db.name,
        "username": db.username,
        "password": assumed::MASKED,
        "connection_string": db.connection_string(assumed::MASKED),
    })
}

/// An element of `GET /v1/databases/{db_type}`.
pub(crate) fn listed(db: &Database) -> Value {
    json!({
        "db_name": db.name,
        "db_type": db.db_type,
        "username": db.username,
        "created_at": timestamp(db.created_ms),
        "size_mb": db.size_mb,
    })
}

/// `GET …/info`.
pub(crate) fn info(db: &Database) -> Value {
    json!({
        "db_name": db.name,
        "db_type": db.db_type,
        "size_mb": db.size_mb,
        "connection_count": 0,
        "connection_limit": db.connection_limit,
        "created_at": timestamp(db.created_ms),
        "owner": db.username,
    })
}

pub(crate) fn rule(db: &Database, rule: &Rule) -> Value {
    json!({
        "rule_id": rule.id,
        "db_name": db.name,
        "db_type": db.db_type,
        "ip_address": rule.ip_address,
        "port": db.port(),
        "description": rule.description,
        "created_at": timestamp(rule.created_ms),
    })
}

pub(crate) fn snapshot(db: &Database, snapshot: &Snapshot) -> Value {
    json!({
        "snapshot_id": snapshot.id,
        "db_name": db.name,
        "db_type": db.db_type,
        "size_mb": snapshot.size_mb,
        "created_at": timestamp(snapshot.created_ms),
        "description": snapshot.description,
        "type": snapshot_type(snapshot),
    })
}

fn snapshot_type(snapshot: &Snapshot) -> &'static str {
    if snapshot.automated {
        assumed::AUTOMATED
    } else {
        "manual"
    }
}

/// `GET|PUT …/backup-policy`.
pub(crate) fn policy(db: &Database, now_ms: u64) -> Value {
    let p = &db.policy;
    json!({
        "db_name": db.name,
        "db_type": db.db_type,
        "enabled": p.enabled,
        "frequency": p.frequency,
        "retention_days": p.retention_days,
        "time_of_day": p.time_of_day,
        "last_backup": db.last_backup_ms.map(timestamp),
        "next_backup": next_backup(p, now_ms).map(timestamp),
    })
}

/// When an enabled policy takes its next snapshot: the next full hour, or the next time of day
/// (midnight without one).
fn next_backup(policy: &Policy, now_ms: u64) -> Option<u64> {
    if !policy.enabled {
        return None;
    }
    if policy.frequency == Frequency::Hourly {
        return Some((now_ms / HOUR_MS + 1) * HOUR_MS);
    }
    let minutes = policy.time_of_day.as_deref().map_or(0, |t| {
        let (h, m) = t.split_once(':').unwrap_or(("0", "0"));
        h.parse::<u64>().unwrap_or(0) * 60 + m.parse::<u64>().unwrap_or(0)
    });
    let today = now_ms / DAY_MS * DAY_MS + minutes * 60_000;
    Some(if today > now_ms {
        today
    } else {
        today + DAY_MS
    })
}

/// A database as a test sees it (`GET /_sim/databases/{db_type}/{db_name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatabaseState {
    pub db_type: String,
    pub db_name: String,
    pub customer: String,
    pub username: String,
    /// The current password: the one a connection Secret must hold.
    pub password: String,
    pub connection_limit: u32,
    pub description: Option<String>,
    pub size_mb: f64,
    pub created_at: String,
    pub firewall: Vec<RuleState>,
    pub backup_policy: Policy,
    /// Oldest first.
    pub snapshots: Vec<SnapshotState>,
    /// Restores into this database so far.
    pub generation: u64,
    /// The snapshot its data last came from.
    pub restored_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    pub rule_id: String,
    pub ip_address: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotState {
    pub snapshot_id: String,
    pub description: Option<String>,
    /// `manual` or `automated`.
    #[serde(rename = "type")]
    pub kind: String,
    pub size_mb: f64,
}

impl From<&Database> for DatabaseState {
    fn from(db: &Database) -> Self {
        DatabaseState {
            db_type: db.db_type.as_str().to_owned(),
            db_name: db.name.clone(),
            customer: db.customer.clone(),
            username: db.username.clone(),
            password: db.password.clone(),
            connection_limit: db.connection_limit,
            description: db.description.clone(),
            size_mb: db.size_mb,
            created_at: rfc3339(db.created_ms),
            firewall: db
                .firewall
                .iter()
                .map(|r| RuleState {
                    rule_id: r.id.clone(),
                    ip_address: r.ip_address.clone(),
                    description: r.description.clone(),
                })
                .collect(),
            backup_policy: db.policy.clone(),
            snapshots: db
                .snapshots
                .iter()
                .map(|s| SnapshotState {
                    snapshot_id: s.id.clone(),
                    description: s.description.clone(),
                    kind: snapshot_type(s).to_owned(),
                    size_mb: s.size_mb,
                })
                .collect(),
            generation: db.generation,
            restored_from: db.restored_from.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ways::sim::model::DbType;

    #[test]
    fn next_backups() {
        let now = 10 * DAY_MS + 5 * HOUR_MS + 30 * 60_000; // day 10, 05:30
        let policy = |enabled, frequency, time: Option<&str>| Policy {
            enabled,
            frequency,
            retention_days: 7,
            time_of_day: time.map(str::to_owned),
        };
        assert_eq!(
            next_backup(&policy(false, Frequency::Daily, None), now),
            None
        );
        assert_eq!(
            next_backup(&policy(true, Frequency::Hourly, None), now),
            Some(10 * DAY_MS + 6 * HOUR_MS)
        );
        assert_eq!(
            next_backup(&policy(true, Frequency::Daily, Some("06:15")), now),
            Some(10 * DAY_MS + 6 * HOUR_MS + 15 * 60_000)
        );
        assert_eq!(
            next_backup(&policy(true, Frequency::Weekly, Some("02:00")), now),
            Some(11 * DAY_MS + 2 * HOUR_MS)
        );
    }

    #[test]
    fn an_idempotent_answer_holds_no_usable_password() {
        let db = Database::new(DbType::Postgresql, "cust_c_pg_a".into(), "c", 0);
        let fresh = created(&db, false);
        assert_eq!(fresh["password"], db.password.as_str());
        assert_eq!(fresh["idempotent"], false);
        let again = created(&db, true);
        assert_ne!(again["password"], db.password.as_str());
        assert!(
            !again["connection_string"]
                .as_str()
                .unwrap()
                .contains(&db.password)
        );
        let masked = credentials(&db);
        assert_eq!(masked["password"], assumed::MASKED);
        assert!(!masked.to_string().contains(&db.password));
    }
}
