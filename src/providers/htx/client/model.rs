//! What the portal sends and accepts. Readers are tolerant: unknown fields are ignored (functions
//! and proxies keep them in `extra`, where their free-form parameters come back), missing ones
//! default, ids may be strings or numbers, and `status` is kept verbatim.

use serde::{Deserialize, Deserializer, Serialize};

use crate::reconcile::lifecycle::Lifecycle;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A portal database (`GET /api/portal/databases`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Database {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub engine: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_target: Option<String>,
    /// Connection details, when the portal returns them (host, port, username, password, uri…),
    /// kept as the JSON text: snapshots hold thousands of databases and read this for few of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Box<RawValue>>,
}

impl Database {
    /// The connection details as fields, if the portal sent an object.
    pub fn connection_details(&self) -> Option<Map<String, Value>> {
        serde_json::from_str(self.connection.as_ref()?.get()).ok()
    }
}

/// The body of `POST /api/portal/databases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateDatabase {
    pub name: String,
    pub engine: String,
    pub sku: String,
}

/// A backup of one database (`GET /api/portal/databases/{name}/backups`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// A serverless function (`GET /api/portal/functions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Function {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A SOCKS5 proxy (`GET /api/portal/proxies`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Proxy {
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_port",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of a function or proxy create: the name, the typed fields, and free-form parameters
/// passed through verbatim (DESIGN §1 assumption: `{name, …fields of the product}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateProduct {
    pub name: String,
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A backup's own life cycle: for a backup "running" means "not finished yet".
pub fn backup_lifecycle(status: &str) -> Lifecycle {
    match status.trim().to_ascii_lowercase().as_str() {
        "completed" | "complete" | "succeeded" | "success" | "done" | "available" => {
            Lifecycle::Ready
        }
        "failed" | "error" | "errored" | "cancelled" | "canceled" => Lifecycle::Failed,
        _ => Lifecycle::InProgress,
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

fn lenient_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u16>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_default() {
        let db: Database = serde_json::from_value(json!({
            "id": 42, "name": "app", "status": "rebalancing", "region": "hcm"
        }))
        .unwrap();
        assert_eq!(db.id, "42");
        assert_eq!(db.status, "rebalancing");
        assert_eq!(db.engine, "");
        assert_eq!(Lifecycle::of(&db.status), Lifecycle::InProgress);
    }

    #[test]
    fn ports_may_be_strings() {
        let proxy: Proxy =
            serde_json::from_value(json!({"name": "p", "port": "1080", "type": "socks5"})).unwrap();
        assert_eq!(proxy.port, Some(1080));
        assert_eq!(proxy.kind.as_deref(), Some("socks5"));
    }

    #[test]
    fn statuses_classify_with_unknown_as_in_progress() {
        assert_eq!(backup_lifecycle("running"), Lifecycle::InProgress);
        assert_eq!(backup_lifecycle("completed"), Lifecycle::Ready);
        assert_eq!(backup_lifecycle("failed"), Lifecycle::Failed);
    }

    #[test]
    fn product_creates_flatten_their_fields() {
        let mut fields = Map::new();
        fields.insert("runtime".into(), json!("nodejs20"));
        fields.insert("memory_mb".into(), json!(256));
        let body = serde_json::to_value(CreateProduct {
            name: "f".into(),
            fields,
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"name": "f", "runtime": "nodejs20", "memory_mb": 256})
        );
    }
}
