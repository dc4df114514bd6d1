//! `WaysRestore`: one restore of a WaysCloud snapshot, into a new database or in place, never
//! repeated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::rules::exactly_one_of;
use super::ways_database::DbType;
use super::ways_snapshot::{WaysDatabaseSource, WaysObjectRef};

/// Admission rule: the whole spec is fixed once the restore is asked for.
const FIXED_ONCE_ASKED: (&str, &str) = (
    "!has(oldSelf.status) || !has(oldSelf.status.requestedAt) || self.spec == oldSelf.spec",
    "the spec of a WaysRestore cannot change once the restore is asked for (status.requestedAt): a restore is never repeated; create a new WaysRestore to restore again",
);

/// The refusal of a restore that names no target (the operator's `InvalidSpec` says the same).
pub const TARGET_REQUIRED: &str = "set spec.targetName (restore into a new database) or spec.inPlace: true (replace the database's data with the snapshot's, which cannot be undone): exactly one";

/// One restore of a snapshot of a WaysCloud database, asked for once. Deleting the object changes
/// nothing at the portal.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "wayscloud.vinacis.com",
    version = "v1alpha1",
    kind = "WaysRestore",
    namespaced,
    validation = FIXED_ONCE_ASKED,
    status = "WaysRestoreStatus",
    shortname = "waysrestore",
    category = "wayscloud",
    doc = "One restore of a WaysCloud snapshot into a new database (targetName) or in place (inPlace: true), asked for once and never repeated.",
    printcolumn = r#"{"name":"Database","type":"string","jsonPath":".status.databaseName"}"#,
    printcolumn = r#"{"name":"Snapshot","type":"string","jsonPath":".status.snapshotId"}"#,
    printcolumn = r#"{"name":"Into","type":"string","jsonPath":".status.restoredInto"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one_of(
    "snapshotRef",
    "snapshotId",
    "set exactly one of spec.snapshotRef (a WaysSnapshot in this namespace) and spec.snapshotId (a portal snapshot id)"
))]
#[x_kube(validation = (
    "has(self.targetName) != (has(self.inPlace) && self.inPlace)",
    TARGET_REQUIRED
))]
pub struct WaysRestoreSpec {
    /// The database whose snapshot is restored (the restore is asked of it).
    #[serde(flatten)]
    pub source: WaysDatabaseSource,

    /// A WaysSnapshot in this namespace, of the same database; waited for until it is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_ref: Option<WaysObjectRef>,

    /// The portal's id of a snapshot of the database (e.g. one its backup policy took).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub snapshot_id: Option<String>,

    /// Restore into a new database of this requested name (it becomes
    /// `cust_<customer>_<type>_<targetName>`; lowercase letters, digits and underscores, at most
    /// 30). Nothing owns the new database: a WaysDatabase with `requestedName: <targetName>` and
    /// `adoptExisting: true` takes it over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 30), regex(pattern = r"^[a-z0-9_]+$"))]
    pub target_name: Option<String>,

    /// `true`: replace the database's own data with the snapshot's. The portal warns this cannot
    /// be undone, so it is never the default: without it (or `targetName`) nothing is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_place: Option<bool>,
}

/// Where the restore is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum RestorePhase {
    /// Not asked for yet (waiting for the database, the snapshot, credentials …).
    Pending,
    /// Asked for; the answer is awaited.
    Running,
    /// The portal answered that the restore is done. Final.
    Completed,
    /// The portal answered that it failed. Final: create a new WaysRestore to try again.
    Failed,
    /// Asked for, and the answer lost (a dropped connection, a crash): whether the data was
    /// replaced cannot be told. Final: the operator never restores twice on its own.
    OutcomeUnknown,
}

impl RestorePhase {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::OutcomeUnknown)
    }
}

/// What was asked for and what came of it; `Ready` once the restore is done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaysRestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the restore is done (otherwise why not: `InvalidSpec`, `DatabaseNotReady`,
    /// `SnapshotNotReady`, `OutcomeUnknown` …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Pending, Running, Completed, Failed or OutcomeUnknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    /// The portal database whose snapshot is restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "DbType")]
    pub db_type: Option<DbType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// The database restored into, as the portal named it (the database itself in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_into: Option<String>,
    /// Set just before the restore is asked for. A restore has no id at the portal: with this
    /// set and no answer recorded, the outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_at: Option<Time>,
    /// When the portal answered that it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}
