//! What goes to WaysCloud and what comes back, read tolerantly (see [`super::assumed`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::assumed::requested_part;

/// A value the portal sends that grants access (a password, a connection string holding one):
/// never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `POST /v1/databases`.
#[derive(Debug, Serialize)]
pub struct CreateDatabase<'a> {
    pub db_type: &'a str,
    pub requested_name: &'a str,
}

/// A database at the portal, as a list, a create or a rotation shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub db_type: String,
    /// `cust_<customer>_<token>_<requested>`.
    pub db_name: String,
    /// The part the operator asked for (empty when the name has another shape).
    pub requested: String,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub username: Option<String>,
    /// Only in the answer to a create or a rotation.
    pub credentials: Option<Credentials>,
}

/// A password and the connection string made with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    pub password: Sensitive,
    pub connection_string: Option<Sensitive>,
}

impl Database {
    fn named(db_type: &str, db_name: String) -> Self {
        Self {
            db_type: db_type.to_owned(),
            requested: requested_part(&db_name).unwrap_or_default().to_owned(),
            db_name,
            host: None,
            port: None,
            username: None,
            credentials: None,
        }
    }
}

/// The answer to a create: the database, and whether it existed already (`idempotent`).
#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub database: Database,
    pub existed: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct CredentialsAnswer {
    #[serde(default)]
    db_type: Option<String>,
    db_name: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Sensitive>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    connection_string: Option<Sensitive>,
    #[serde(default)]
    idempotent: Option<bool>,
}

impl CredentialsAnswer {
    /// The database it describes, with its password unless the database existed already (an
    /// idempotent answer's password is never trusted).
    pub(super) fn into_created(self, db_type: &str) -> Created {
        let existed = self.idempotent == Some(true);
        let credentials = match self.password {
            Some(password) if !existed && !password.expose().is_empty() => Some(Credentials {
                password,
                connection_string: self.connection_string,
            }),
            _ => None,
        };
        let mut database =
            Database::named(self.db_type.as_deref().unwrap_or(db_type), self.db_name);
        database.host = self.host;
        database.port = self.port;
        database.username = self.username;
        database.credentials = credentials;
        Created { database, existed }
    }
}

/// `GET /v1/databases/{type}`: elements are bare names or objects naming one.
#[derive(Debug, Deserialize)]
pub(super) struct ListAnswer {
    #[serde(default)]
    databases: Vec<Value>,
}

impl ListAnswer {
    pub(super) fn into_databases(self, db_type: &str) -> Vec<Database> {
        self.databases
            .into_iter()
            .filter_map(|element| listed(db_type, element))
            .collect()
    }
}

fn listed(db_type: &str, element: Value) -> Option<Database> {
    let text = |value: &Value, key: &str| value.get(key)?.as_str().map(str::to_owned);
    match element {
        Value::String(name) => Some(Database::named(db_type, name)),
        Value::Object(_) => {
            let name = text(&element, "db_name").or_else(|| text(&element, "name"))?;
            let mut database = Database::named(db_type, name);
            database.host = text(&element, "host");
            database.port = element
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok());
            database.username = text(&element, "username");
            Some(database)
        }
        _ => None,
    }
}

/// `GET …/info`. The document gives the numbers' types as "object": read what is a number.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Info {
    #[serde(default)]
    size_mb: Option<Value>,
    #[serde(default)]
    connection_limit: Option<Value>,
}

impl Info {
    pub fn size_mb(&self) -> Option<f64> {
        number(self.size_mb.as_ref()?)
    }

    pub fn connection_limit(&self) -> Option<u32> {
        number(self.connection_limit.as_ref()?).map(|n| n as u32)
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// `PATCH /v1/databases/{type}/{name}`: only what changes.
#[derive(Debug, Default, Serialize)]
pub struct Update<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub rule_id: String,
    #[serde(alias = "cidr")]
    pub ip_address: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct RulesAnswer {
    #[serde(default)]
    pub(super) rules: Vec<Rule>,
}

/// `POST …/firewall`.
#[derive(Debug, Serialize)]
pub struct NewRule<'a> {
    pub ip_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
}

/// A backup policy, as sent and as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub enabled: bool,
    #[serde(default)]
    pub frequency: Option<String>,
    #[serde(default)]
    pub retention_days: Option<u32>,
    #[serde(default)]
    pub time_of_day: Option<String>,
}

/// A snapshot at the portal, as its list or the answer to its create shows it. Only the id is
/// required; the rest is read where present (see [`super::assumed`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Snapshot {
    #[serde(alias = "id")]
    pub snapshot_id: String,
    #[serde(default)]
    size_mb: Option<Value>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl Snapshot {
    pub fn size_mb(&self) -> Option<f64> {
        number(self.size_mb.as_ref()?)
    }
}

/// `GET …/snapshots`: elements that do not read as a snapshot are skipped.
#[derive(Debug, Deserialize)]
pub(super) struct SnapshotsAnswer {
    #[serde(default)]
    snapshots: Vec<Value>,
}

impl SnapshotsAnswer {
    pub(super) fn into_snapshots(self) -> Vec<Snapshot> {
        self.snapshots
            .into_iter()
            .filter_map(|element| serde_json::from_value(element).ok())
            .collect()
    }
}

/// `POST …/snapshots`.
#[derive(Debug, Serialize)]
pub struct NewSnapshot<'a> {
    pub description: &'a str,
}

/// `POST …/restore`: into the database itself, or into a new one (`target_db_name`, a requested
/// name).
#[derive(Debug, Serialize)]
pub struct RestoreRequest<'a> {
    pub snapshot_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_db_name: Option<&'a str>,
}

/// The answer to a restore: the database restored into, where it says.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Restored {
    /// `false`: the portal answered that the restore did not happen.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub db_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn list_elements_are_names_or_objects_naming_one() {
        let answer: ListAnswer = serde_json::from_value(json!({
            "db_type": "postgresql",
            "databases": [
                "cust_c1_pg_orders",
                {"db_name": "cust_c1_pg_billing", "host": "db1", "port": 5432},
                {"name": "cust_c1_pg_shop"},
                {"size_mb": 3},
                17
            ]
        }))
        .unwrap();
        let databases = answer.into_databases("postgresql");
        let requested: Vec<&str> = databases.iter().map(|d| d.requested.as_str()).collect();
        assert_eq!(requested, ["orders", "billing", "shop"]);
        assert_eq!(databases[1].port, Some(5432));
    }

    #[test]
    fn an_idempotent_answer_carries_no_password() {
        let answer = |idempotent: bool| -> CredentialsAnswer {
            serde_json::from_value(json!({
                "success": true, "db_type": "postgresql", "db_name": "cust_c1_pg_orders",
                "username": "u", "password": "pw", "host": "h", "port": 5432,
                "connection_string": "postgresql://u:pw@h:5432/cust_c1_pg_orders",
                "message": "ok", "idempotent": idempotent
            }))
            .unwrap()
        };
        let fresh = answer(false).into_created("postgresql");
        assert!(!fresh.existed);
        assert_eq!(fresh.database.credentials.unwrap().password.expose(), "pw");
        let existing = answer(true).into_created("postgresql");
        assert!(existing.existed);
        assert!(existing.database.credentials.is_none());
        assert!(!format!("{existing:?}").contains("pw@"));
    }

    #[test]
    fn snapshots_are_read_tolerantly() {
        let answer: SnapshotsAnswer = serde_json::from_value(json!({
            "db_name": "cust_c1_pg_orders",
            "snapshots": [
                {"snapshot_id": "snap_1", "size_mb": 12.5, "created_at": "2026-01-01T10:00:00.000000",
                 "description": "before migration", "type": "manual"},
                {"id": "snap_2"},
                {"description": "no id"},
                "snap_3"
            ]
        }))
        .unwrap();
        let snapshots = answer.into_snapshots();
        let ids: Vec<&str> = snapshots.iter().map(|s| s.snapshot_id.as_str()).collect();
        assert_eq!(ids, ["snap_1", "snap_2"]);
        assert_eq!(snapshots[0].size_mb(), Some(12.5));
        assert_eq!(snapshots[1].description, None);
    }

    #[test]
    fn info_numbers_are_read_wherever_they_are_numbers() {
        let info: Info =
            serde_json::from_value(json!({"size_mb": "12.5", "connection_limit": 200})).unwrap();
        assert_eq!(info.size_mb(), Some(12.5));
        assert_eq!(info.connection_limit(), Some(200));
        let empty: Info = serde_json::from_value(json!({"connection_limit": null})).unwrap();
        assert_eq!(empty.connection_limit(), None);
    }
}
