//! `WaysDatabase`: a PostgreSQL or MariaDB database at WaysCloud
//! (`seeds/wayscloud-databases-api.txt`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ManagedSpec, ManagedStatus};
use super::rules::immutable;

/// The API group of the WaysCloud kinds.
pub const WAYS_GROUP: &str = "wayscloud.vinacis.com";

/// Annotation on the connection Secret: when the password in it was set (RFC 3339), so that tools
/// restarting what uses the Secret (Reloader and the like) and people can tell.
pub const PASSWORD_SET_ANNOTATION: &str = "wayscloud.vinacis.com/password-set-at";

/// Admission rule: without `spec.requestedName`, `metadata.name` (hyphens as underscores) is the
/// requested name and must be a valid one.
pub const NAME_MAKES_A_REQUESTED_NAME: (&str, &str) = (
    "has(self.spec.requestedName) || self.metadata.name.matches('^[a-z0-9-]{1,30}$')",
    "metadata.name does not make a WaysCloud database name (at most 30 lowercase letters, digits and hyphens, which become underscores): set spec.requestedName",
);

/// A database wanted at WaysCloud. The operator creates it (looking first: the portal answers a
/// create for an existing name as a success), keeps its connection limit, description, firewall
/// and backup policy as the spec says, puts its password into the connection Secret, rotates it
/// when asked, and deletes it when this object is deleted (unless `deletionPolicy: Orphan`).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "wayscloud.vinacis.com",
    version = "v1alpha1",
    kind = "WaysDatabase",
    validation = NAME_MAKES_A_REQUESTED_NAME,
    namespaced,
    status = "WaysDatabaseStatus",
    shortname = "waysdb",
    category = "wayscloud",
    doc = "A WaysCloud managed database (PostgreSQL or MariaDB), kept in step with the WaysCloud Databases API.",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.dbType"}"#,
    printcolumn = r#"{"name":"Database","type":"string","jsonPath":".status.dbName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Credentials","type":"string","jsonPath":".status.conditions[?(@.type==\"CredentialsReady\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WaysDatabaseSpec {
    /// `postgresql` or `mariadb`. Cannot change.
    #[x_kube(validation = immutable(
        "dbType cannot change: the portal cannot move a database to another engine; create a new WaysDatabase instead"
    ))]
    pub db_type: DbType,

    /// The name asked of the portal, which makes the database `cust_<customer>_<type>_<name>`.
    /// Defaults to `metadata.name` with hyphens as underscores. Lowercase letters, digits and
    /// underscores, at most 30. Cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 30), regex(pattern = r"^[a-z0-9_]+$"))]
    #[x_kube(validation = immutable(
        "requestedName cannot change: it names the portal database; create a new WaysDatabase instead"
    ))]
    pub requested_name: Option<String>,

    /// Most simultaneous connections (10 to 1000), changed in place. Absent: the portal's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 1000))]
    pub connection_limit: Option<u32>,

    /// Notes kept at the portal, changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,

    /// Absent: the database's firewall is left as it is. Present: exactly these sources may
    /// connect (missing ones are added, others and duplicates removed); empty allows none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub firewall: Option<Vec<FirewallSource>>,

    /// Automated backups at the portal; set whenever it differs. Absent: left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_policy: Option<BackupPolicy>,

    /// When to rotate the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,

    #[serde(flatten)]
    pub managed: ManagedSpec,
}

/// The database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DbType {
    Postgresql,
    Mariadb,
}

impl DbType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgresql => "postgresql",
            Self::Mariadb => "mariadb",
        }
    }
}

/// A source allowed to connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallSource {
    /// An IPv4 address or CIDR block: `192.0.2.10` (one address, the same as `/32`) or
    /// `10.0.0.0/24`.
    #[schemars(regex(pattern = r"^(\d{1,3}\.){3}\d{1,3}(/\d{1,2})?$"))]
    pub cidr: String,
    /// Shown at the portal, set when the rule is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200))]
    pub description: Option<String>,
}

/// Automated backups at the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    pub enabled: bool,
    /// `hourly`, `daily` (the default) or `weekly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "BackupFrequency")]
    pub frequency: Option<BackupFrequency>,
    /// Days to keep backups (default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: Option<u32>,
    /// `HH:MM` (UTC) for daily and weekly backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([01]\d|2[0-3]):[0-5]\d$"))]
    pub time_of_day: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackupFrequency {
    Hourly,
    Daily,
    Weekly,
}

impl BackupFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

/// When the password is rotated (each rotation invalidates the old password at once; the
/// connection Secret follows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// Rotate this long after the last rotation, e.g. `2160h` (at least `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d+(ms|s|m|h)?$"))]
    pub rotate_every: Option<String>,
    /// Any new value rotates once (a timestamp is customary). Also the way to get a password for
    /// an adopted or observed database, whose password the operator cannot know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub rotation_requested_at: Option<String>,
}

/// What the operator last saw at the portal, and the conditions `Ready`, `Synced` and
/// `CredentialsReady`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaysDatabaseStatus {
    #[serde(flatten)]
    pub managed: ManagedStatus,
    /// The database's name at the portal (`cust_<customer>_<type>_<requested>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The connection limit the portal reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<u32>,
    /// The description last set (the portal does not report it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The size the portal reports, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mb: Option<f64>,
    /// The firewall rules at the portal (when `spec.firewall` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<Vec<FirewallRuleStatus>>,
    /// The backup policy at the portal (when `spec.backupPolicy` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_policy: Option<BackupPolicy>,
    /// When the password now in the connection Secret was set (at create or by a rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation_time: Option<Time>,
    /// The connection Secret holding the current password, once the operator put it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<String>,
    /// The last `spec.credentials.rotationRequestedAt` acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_handled: Option<String>,
    /// When the settings, firewall and backup policy were last read from the portal, and for
    /// which generation of the spec (see `--deep-resync`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deep_sync_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep_synced_generation: Option<i64>,
}

/// A firewall rule at the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRuleStatus {
    pub rule_id: String,
    pub cidr: String,
}
