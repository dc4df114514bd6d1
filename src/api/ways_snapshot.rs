//! `WaysSnapshot`: one snapshot of a WaysCloud database, taken exactly once, and the way
//! WaysCloud kinds name the database they act on (shared with `WaysRestore`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DeletionPolicy, ProviderConfigRef};
use super::rules::{exactly_one_of, fixed_once};
use super::ways_database::DbType;

/// The CEL condition of a WaysSnapshot whose snapshot was asked for.
const SNAPSHOT_ASKED: &str =
    "has(oldSelf.status) && (has(oldSelf.status.snapshotId) || has(oldSelf.status.requestedAt))";

/// Which WaysCloud database, and through which credentials. Exactly one of `databaseRef` and
/// `databaseName` (then with `dbType`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one_of(
    "databaseRef",
    "databaseName",
    "set exactly one of spec.databaseRef (a WaysDatabase in this namespace) and spec.databaseName (a portal database name, with spec.dbType)"
))]
#[x_kube(validation = (
    "has(self.databaseName) == has(self.dbType)",
    "spec.dbType goes with spec.databaseName, and only with it (a WaysDatabase of spec.databaseRef has its own)"
))]
pub struct WaysDatabaseSource {
    /// A WaysDatabase in this namespace; waited for until it is Ready. Its portal database, type
    /// and credentials (its `providerConfigRef`) are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ref: Option<WaysObjectRef>,

    /// The portal name of a database no WaysDatabase here manages
    /// (`cust_<customer>_<type>_<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[a-z0-9_]+$"))]
    pub database_name: Option<String>,

    /// `postgresql` or `mariadb`: the type of `databaseName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DbType")]
    pub db_type: Option<DbType>,

    /// A ProviderConfig of this namespace. Absent: the WaysDatabase's (with `databaseRef`), else
    /// the operator's default WaysCloud credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config_ref: Option<ProviderConfigRef>,
}

/// Where a source names its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaysDatabaseTarget<'a> {
    /// A WaysDatabase object in the same namespace.
    Object(&'a str),
    /// A portal database of this type.
    Portal(DbType, &'a str),
}

impl WaysDatabaseSource {
    /// The one database named, or what is wrong with the spec.
    pub fn target(&self) -> Result<WaysDatabaseTarget<'_>, &'static str> {
        match (&self.database_ref, &self.database_name, self.db_type) {
            (Some(reference), None, None) => Ok(WaysDatabaseTarget::Object(&reference.name)),
            (None, Some(name), Some(db_type)) => Ok(WaysDatabaseTarget::Portal(db_type, name)),
            (None, Some(_), None) => {
                Err("spec.databaseName needs spec.dbType (postgresql or mariadb)")
            }
            (Some(_), None, Some(_)) => Err(
                "spec.dbType goes with spec.databaseName only: the WaysDatabase of spec.databaseRef has its own",
            ),
            (Some(_), Some(_), _) => Err(
                "set only one of spec.databaseRef (a WaysDatabase here) and spec.databaseName (a portal name)",
            ),
            (None, None, _) => Err(
                "set spec.databaseRef (a WaysDatabase in this namespace) or spec.databaseName with spec.dbType",
            ),
        }
    }
}

/// An object of this namespace, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaysObjectRef {
    /// The object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One snapshot of a WaysCloud database, taken once. Deleting the object leaves the snapshot at
/// the portal unless `deletionPolicy: Delete`.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "wayscloud.vinacis.com",
    version = "v1alpha1",
    kind = "WaysSnapshot",
    namespaced,
    validation = fixed_once(
        SNAPSHOT_ASKED,
        &["databaseRef", "databaseName", "dbType", "description"],
        "spec.databaseRef, databaseName, dbType and description cannot change once the snapshot is asked for (status.requestedAt): create a new WaysSnapshot instead"
    ),
    status = "WaysSnapshotStatus",
    shortname = "wayssnap",
    category = "wayscloud",
    doc = "One snapshot of a WaysCloud database, taken exactly once. deletionPolicy Orphan (the default) leaves it at the portal when the object is deleted; Delete deletes it.",
    printcolumn = r#"{"name":"Database","type":"string","jsonPath":".status.databaseName"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotId"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"SizeMB","type":"number","jsonPath":".status.sizeMb"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WaysSnapshotSpec {
    #[serde(flatten)]
    pub source: WaysDatabaseSource,

    /// Kept with the snapshot at the portal, followed by this object's identity (which is how
    /// the operator finds the snapshot again if the answer to its request was lost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 150))]
    pub description: Option<String>,

    /// `Orphan` (the default: a backup outlives its object) leaves the snapshot at the portal
    /// when this object is deleted; `Delete` deletes it there. Snapshots taken by the database's
    /// backup policy are never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DeletionPolicy")]
    pub deletion_policy: Option<DeletionPolicy>,
}

impl WaysSnapshotSpec {
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy.unwrap_or(DeletionPolicy::Orphan)
    }
}

/// Where the snapshot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SnapshotPhase {
    /// Not taken yet (waiting for the database, credentials, or the answer to the request).
    Pending,
    /// Taken: the portal holds it (`Ready`).
    Completed,
    /// The request's answer was lost and the portal never listed a snapshot carrying this
    /// object's identity (or listed several): whether it was taken cannot be told. Final: the
    /// operator never asks twice.
    OutcomeUnknown,
    /// The portal no longer lists it (deleted there, or with its database). Final.
    Missing,
}

impl SnapshotPhase {
    pub fn is_final(self) -> bool {
        matches!(self, Self::OutcomeUnknown | Self::Missing)
    }
}

/// What the operator asked for and what the portal reports; `Ready` once the snapshot is taken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaysSnapshotStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the snapshot is taken (otherwise why not: `DatabaseNotReady`, `OutcomeUnknown`,
    /// `NotFound` …). `Synced`: the last reconcile reached the portal without error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Pending, Completed, OutcomeUnknown or Missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SnapshotPhase>,
    /// The portal database snapshotted; fixed once the snapshot is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DbType")]
    pub db_type: Option<DbType>,
    /// The portal's id of the snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The description sent with the request: the spec's, then this object's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The snapshot's size, as the portal reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mb: Option<f64>,
    /// When the portal took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Time>,
    /// Set just before the operator asks for the snapshot; with it, a restarted operator looks
    /// for the snapshot by its description instead of asking twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}
