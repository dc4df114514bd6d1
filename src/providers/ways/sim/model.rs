//! What the portal keeps: databases with their user, password, settings, firewall rules, backup
//! policy and snapshots.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::assumed;
use crate::sim::ids::{random_secret, short_hex};

/// The two engines (`postgresql`, `mariadb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbType {
    Postgresql,
    Mariadb,
}

impl DbType {
    pub const ALL: [DbType; 2] = [DbType::Postgresql, DbType::Mariadb];

    pub fn as_str(self) -> &'static str {
        match self {
            DbType::Postgresql => "postgresql",
            DbType::Mariadb => "mariadb",
        }
    }

    pub fn parse(s: &str) -> Option<DbType> {
        DbType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Its part of a database name.
    pub fn token(self) -> &'static str {
        match self {
            DbType::Postgresql => assumed::POSTGRES_TOKEN,
            DbType::Mariadb => assumed::MARIADB_TOKEN,
        }
    }

    /// The scheme of its connection strings.
    fn scheme(self) -> &'static str {
        match self {
            DbType::Postgresql => "postgresql",
            DbType::Mariadb => "mysql",
        }
    }
}

impl fmt::Display for DbType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `cust_<customer>_<token>_<suffix>`.
pub fn db_name(customer: &str, db_type: DbType, suffix: &str) -> String {
    format!("cust_{customer}_{}_{suffix}", db_type.token())
}

/// How often a backup policy takes a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
}

impl Frequency {
    pub const ALL: [Frequency; 3] = [Frequency::Hourly, Frequency::Daily, Frequency::Weekly];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }
}

/// A backup policy (`PUT …/backup-policy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub enabled: bool,
    pub frequency: Frequency,
    pub retention_days: u32,
    /// `HH:MM`.
    pub time_of_day: Option<String>,
}

impl Default for Policy {
    /// ASSUMPTION (`assumed`, backup policy): disabled, daily, 7 days, no time.
    fn default() -> Self {
        Policy {
            enabled: false,
            frequency: Frequency::Daily,
            retention_days: 7,
            time_of_day: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub id: String,
    pub ip_address: String,
    pub description: Option<String>,
    pub created_ms: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub id: String,
    pub description: Option<String>,
    pub size_mb: f64,
    pub created_ms: u64,
    /// Made by the backup policy.
    pub automated: bool,
}

impl Snapshot {
    pub fn new(description: Option<String>, size_mb: f64, now_ms: u64, automated: bool) -> Self {
        let t = crate::sim::clock::rfc3339(now_ms);
        let stamp: String = t[..19].chars().filter(char::is_ascii_digit).collect();
        Snapshot {
            id: format!("snap_{}_{}_{}", &stamp[..8], &stamp[8..], short_hex(8)),
            description,
            size_mb,
            created_ms: now_ms,
            automated,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Database {
    pub db_type: DbType,
    pub name: String,
    pub customer: String,
    pub username: String,
    pub password: String,
    pub connection_limit: u32,
    pub description: Option<String>,
    pub size_mb: f64,
    pub created_ms: u64,
    pub firewall: Vec<Rule>,
    pub policy: Policy,
    pub last_backup_ms: Option<u64>,
    /// Oldest first.
    pub snapshots: Vec<Snapshot>,
    /// Bumped by every restore into this database.
    pub generation: u64,
    /// The snapshot its data last came from.
    pub restored_from: Option<String>,
}

impl Database {
    pub fn new(db_type: DbType, name: String, customer: &str, now_ms: u64) -> Database {
        let size_mb = f64::from(rand::rng().random_range(80..640_u32)) / 10.0;
        Database {
            db_type,
            username: name.clone(),
            name,
            customer: customer.to_owned(),
            password: new_password(),
            connection_limit: assumed::DEFAULT_CONNECTION_LIMIT,
            description: None,
            size_mb,
            created_ms: now_ms,
            firewall: Vec::new(),
            policy: Policy::default(),
            last_backup_ms: None,
            snapshots: Vec::new(),
            generation: 0,
            restored_from: None,
        }
    }

    pub fn host(&self) -> &'static str {
        assumed::host(self.db_type)
    }

    pub fn port(&self) -> u16 {
        assumed::port(self.db_type)
    }

    /// `scheme://user:password@host:port/name`.
    pub fn connection_string(&self, password: &str) -> String {
        format!(
            "{}://{}:{password}@{}:{}/{}",
            self.db_type.scheme(),
            self.username,
            self.host(),
            self.port(),
            self.name
        )
    }

    pub fn snapshot(&self, id: &str) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.id == id)
    }
}

pub(crate) fn new_password() -> String {
    random_secret(24)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_pattern() {
        assert_eq!(
            db_name("6dd1d906", DbType::Postgresql, "webapp_prod_db"),
            "cust_6dd1d906_pg_webapp_prod_db"
        );
        assert_eq!(
            db_name("c1", DbType::Mariadb, "orders"),
            format!("cust_c1_{}_orders", assumed::MARIADB_TOKEN)
        );
        assert_eq!(DbType::parse("mariadb"), Some(DbType::Mariadb));
        assert_eq!(DbType::parse("mysql"), None);
    }

    #[test]
    fn snapshot_ids_carry_their_time() {
        let s = Snapshot::new(None, 1.0, 1_764_167_400_000, false);
        assert!(s.id.starts_with("snap_20251126_143000_"), "{}", s.id);
        assert_eq!(s.id.len(), "snap_20251126_143000_a1b2c3d4".len());
    }

    #[test]
    fn connection_strings() {
        let db = Database::new(DbType::Mariadb, "cust_c1_mdb_x".into(), "c1", 0);
        assert_eq!(
            db.connection_string("pw"),
            "mysql://cust_c1_mdb_x:pw@mariadb.wayscloud.services:3306/cust_c1_mdb_x"
        );
    }
}
