//! Stored resources and the JSON the portal shows for them.
//!
//! Status is computed lazily from timestamps: a record is pending (`creating`, `deploying`,
//! `provisioning`) until `ready_ms`, then ready (`online`, `active`), unless a hook pinned another
//! status. Connection details appear once the record is provisioned.

use std::str::FromStr;

use rand::Rng;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::assumed::{self, FunctionBody, ProxyBody};
use super::config::ParseError;
use super::rules;
use crate::sim::clock::rfc3339;
use crate::sim::ids::{new_id, random_secret, short_hex};

/// A product with its own resources, scope and quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    Databases,
    Functions,
    Proxies,
}

impl Product {
    pub const ALL: [Product; 3] = [Product::Databases, Product::Functions, Product::Proxies];

    pub fn as_str(self) -> &'static str {
        match self {
            Product::Databases => "databases",
            Product::Functions => "functions",
            Product::Proxies => "proxies",
        }
    }

    pub(crate) fn singular(self) -> &'static str {
        match self {
            Product::Databases => "database",
            Product::Functions => "function",
            Product::Proxies => "proxy",
        }
    }

    pub(crate) fn pending_status(self) -> &'static str {
        match self {
            Product::Databases => "creating",
            Product::Functions => "deploying",
            Product::Proxies => "provisioning",
        }
    }

    pub(crate) fn ready_status(self) -> &'static str {
        match self {
            Product::Databases => "online",
            Product::Functions | Product::Proxies => "active",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl FromStr for Product {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "databases" => Ok(Product::Databases),
            "functions" => Ok(Product::Functions),
            "proxies" => Ok(Product::Proxies),
            _ => Err(ParseError(format!(
                "unknown product {s:?}: expected databases, functions or proxies"
            ))),
        }
    }
}

/// What portal creates and deletes are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Databases,
    Functions,
    Proxies,
    Backups,
}

impl From<Product> for Kind {
    fn from(p: Product) -> Kind {
        match p {
            Product::Databases => Kind::Databases,
            Product::Functions => Kind::Functions,
            Product::Proxies => Kind::Proxies,
        }
    }
}

/// One database, function or proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub id: String,
    pub name: String,
    pub created_ms: u64,
    pub ready_ms: u64,
    #[serde(default)]
    pub status_override: Option<String>,
    /// An accepted asynchronous delete in progress.
    #[serde(default)]
    pub deleting: Option<Deletion>,
    /// The account that created it (empty: the shared account); never shown in answers.
    #[serde(default)]
    pub account: String,
    pub body: Body,
}

/// An asynchronous delete the portal accepted: the resource shows `deleting` until `until_ms`,
/// then goes, or, if `abandoned`, comes back as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Deletion {
    pub until_ms: u64,
    pub abandoned: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Body {
    Database(DbBody),
    Function(FunctionBody),
    Proxy(ProxyBody),
}

impl Record {
    pub fn new(name: String, body: Body, created_ms: u64, ready_ms: u64) -> Record {
        Record {
            id: new_id(),
            name,
            created_ms,
            ready_ms,
            status_override: None,
            deleting: None,
            account: String::new(),
            body,
        }
    }

    pub fn product(&self) -> Product {
        match self.body {
            Body::Database(_) => Product::Databases,
            Body::Function(_) => Product::Functions,
            Body::Proxy(_) => Product::Proxies,
        }
    }

    pub fn provisioned(&self, now_ms: u64) -> bool {
        now_ms >= self.ready_ms
    }

    pub fn status(&self, now_ms: u64) -> &str {
        if self.deleting.is_some_and(|d| now_ms < d.until_ms) {
            return DELETING_STATUS;
        }
        match &self.status_override {
            Some(s) => s,
            None if self.provisioned(now_ms) => self.product().ready_status(),
            None => self.product().pending_status(),
        }
    }

    pub fn view(&self, now_ms: u64) -> View<'_> {
        View { rec: self, now_ms }
    }
}

/// What a resource shows while an accepted asynchronous delete runs.
pub(crate) const DELETING_STATUS: &str = "deleting";

/// Parses a create body of `product` into the name and the stored body.
pub(crate) fn parse_create(product: Product, body: &Value) -> Result<(String, Body), String> {
    let obj = body
        .as_object()
        .ok_or_else(|| "request body must be a JSON object".to_owned())?;
    let name = str_field(obj, "name")?;
    rules::validate_name(name)?;
    let body = match product {
        Product::Databases => Body::Database(DbBody::parse(name, obj)?),
        Product::Functions => Body::Function(assumed::parse_function(name, obj)?),
        Product::Proxies => Body::Proxy(assumed::parse_proxy(name, obj)?),
    };
    Ok((name.to_owned(), body))
}

/// A required string field.
pub(crate) fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(format!("missing required field {key:?}")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("field {key:?} must be a string")),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DbBody {
    pub engine: String,
    pub sku: String,
    pub cluster_target: String,
    pub connection: Connection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Connection {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub database: String,
}

impl DbBody {
    fn parse(name: &str, obj: &Map<String, Value>) -> Result<DbBody, String> {
        let engine = str_field(obj, "engine")?;
        rules::validate_engine(engine)?;
        let sku = str_field(obj, "sku")?;
        rules::validate_sku(sku)?;
        let cluster_target = "hcm-1".to_owned();
        let (port, database) = match engine {
            "postgresql" => (5432, "defaultdb"),
            "mysql" => (3306, "defaultdb"),
            "mongodb" => (27017, "admin"),
            _ => (9440, "default"),
        };
        let connection = Connection {
            host: format!("{name}-{}.db.{cluster_target}.vinacis.com", short_hex(6)),
            port,
            username: "htxadmin".to_owned(),
            password: random_secret(24),
            database: database.to_owned(),
        };
        Ok(DbBody {
            engine: engine.to_owned(),
            sku: sku.to_owned(),
            cluster_target,
            connection,
        })
    }

    fn uri(&self) -> String {
        let c = &self.connection;
        let (scheme, params) = match self.engine.as_str() {
            "postgresql" => ("postgresql", "sslmode=require"),
            "mysql" => ("mysql", "ssl-mode=REQUIRED"),
            "mongodb" => ("mongodb", "tls=true&authSource=admin"),
            _ => ("clickhouse", "secure=true"),
        };
        format!(
            "{scheme}://{}:{}@{}:{}/{}?{params}",
            c.username, c.password, c.host, c.port, c.database
        )
    }

    fn write<M: SerializeMap>(&self, m: &mut M, provisioned: bool) -> Result<(), M::Error> {
        m.serialize_entry("engine", &self.engine)?;
        m.serialize_entry("sku", &self.sku)?;
        m.serialize_entry("cluster_target", &self.cluster_target)?;
        if provisioned {
            #[derive(Serialize)]
            struct ConnView<'a> {
                #[serde(flatten)]
                c: &'a Connection,
                uri: String,
            }
            m.serialize_entry(
                "connection",
                &ConnView {
                    c: &self.connection,
                    uri: self.uri(),
                },
            )?;
        }
        Ok(())
    }
}

/// A record as the portal renders it.
pub(crate) struct View<'a> {
    rec: &'a Record,
    now_ms: u64,
}

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.rec;
        let provisioned = r.provisioned(self.now_ms);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &r.id)?;
        m.serialize_entry("name", &r.name)?;
        m.serialize_entry("status", r.status(self.now_ms))?;
        m.serialize_entry("created_at", &rfc3339(r.created_ms))?;
        match &r.body {
            Body::Database(b) => b.write(&mut m, provisioned)?,
            Body::Function(b) => b.write(&mut m, provisioned)?,
            Body::Proxy(b) => b.write(&mut m, provisioned)?,
        }
        m.end()
    }
}

/// One on-demand backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Backup {
    pub id: String,
    pub database: String,
    pub created_ms: u64,
    pub done_ms: u64,
    pub size_bytes: u64,
}

impl Backup {
    pub fn new(database: &str, created_ms: u64, done_ms: u64) -> Backup {
        Backup {
            id: new_id(),
            database: database.to_owned(),
            created_ms,
            done_ms,
            size_bytes: rand::rng().random_range(8..=2048) * 1024 * 1024,
        }
    }

    pub fn view(&self, now_ms: u64) -> BackupView<'_> {
        BackupView { b: self, now_ms }
    }
}

pub(crate) struct BackupView<'a> {
    b: &'a Backup,
    now_ms: u64,
}

impl Serialize for BackupView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.b;
        let done = self.now_ms >= b.done_ms;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &b.id)?;
        m.serialize_entry("database", &b.database)?;
        m.serialize_entry("status", if done { "completed" } else { "running" })?;
        m.serialize_entry("created_at", &rfc3339(b.created_ms))?;
        if done {
            m.serialize_entry("completed_at", &rfc3339(b.done_ms))?;
            m.serialize_entry("size_bytes", &b.size_bytes)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn database_lifecycle_view() {
        let (name, body) = parse_create(
            Product::Databases,
            &json!({"name":"analytics","engine":"postgresql","sku":"db-s-1vcpu-2gb"}),
        )
        .unwrap();
        let rec = Record::new(name, body, 1_000, 3_000);
        let v = serde_json::to_value(rec.view(2_000)).unwrap();
        assert_eq!(v["status"], "creating");
        assert_eq!(v["cluster_target"], "hcm-1");
        assert!(v.get("connection").is_none());
        let v = serde_json::to_value(rec.view(3_000)).unwrap();
        assert_eq!(v["status"], "online");
        let uri = v["connection"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("postgresql://htxadmin:"), "{uri}");
        assert!(uri.ends_with(":5432/defaultdb?sslmode=require"), "{uri}");
    }

    #[test]
    fn create_body_errors() {
        let p = Product::Databases;
        let e = |v: Value| parse_create(p, &v).unwrap_err();
        assert!(e(json!([])).contains("JSON object"));
        assert!(e(json!({"engine":"mysql","sku":"db-s-1"})).contains("\"name\""));
        assert!(e(json!({"name":5,"engine":"mysql","sku":"db-s-1"})).contains("must be a string"));
        assert!(e(json!({"name":"abc","engine":"oracle","sku":"db-s-1"})).contains("engine"));
        assert!(e(json!({"name":"abc","engine":"mysql","sku":"big"})).contains("sku"));
        assert!(e(json!({"name":"A","engine":"mysql","sku":"db-s-1"})).contains("name"));
    }
}
