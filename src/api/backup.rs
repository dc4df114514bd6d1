//! `Backup`: one on-demand backup of an HTX database, taken exactly once.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{ONE_CREDENTIAL_SOURCE, ProviderConfigRef, TokenSecretRef};
use super::rules::{at_most_one_of, exactly_one_of};

/// Admission rule of Backup: once the backup is asked for (`status.backupId` or
/// `status.createRequestedAt`), the database named in the spec stays that one (the operator keeps
/// following the backup of the database in `status.databaseName`).
const SOURCE_FIXED_ONCE_ASKED: (&str, &str) = (
    concat!(
        "!has(oldSelf.status) || !(has(oldSelf.status.backupId) || has(oldSelf.status.createRequestedAt)) || (",
        "has(self.spec.databaseRef) == has(oldSelf.spec.databaseRef) && ",
        "(!has(self.spec.databaseRef) || self.spec.databaseRef.name == oldSelf.spec.databaseRef.name) && ",
        "has(self.spec.databaseName) == has(oldSelf.spec.databaseName) && ",
        "(!has(self.spec.databaseName) || self.spec.databaseName == oldSelf.spec.databaseName))"
    ),
    "spec.databaseRef and spec.databaseName cannot change once the backup is asked for (status.createRequestedAt): create a new Backup for another database",
);

/// One backup of one database at the portal, asked for once when the object is created.
///
/// Exactly one of `databaseRef` and `databaseName` must be set (else
/// `Ready=False, reason=InvalidSpec`); once the backup is asked for, a change of either has no
/// effect. The operator sends exactly one backup request per object, also across a crash between
/// the request and the status write (the intent is recorded in status first; see
/// `status.createRequestedAt`). The object carries no finalizer: the portal has no route to
/// delete a backup, so deleting this object only forgets the backup, which stays at the portal.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "Backup",
    namespaced,
    validation = SOURCE_FIXED_ONCE_ASKED,
    status = "BackupStatus",
    shortname = "htxbackup",
    category = "htx",
    doc = "One backup of an HTX Cloud database, taken exactly once. Deleting the object leaves the backup at the portal (the portal cannot delete backups).",
    printcolumn = r#"{"name":"Database","type":"string","jsonPath":".status.databaseName"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Size","type":"string","jsonPath":".status.size"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    #[serde(flatten)]
    pub source: DatabaseSource,
}

/// Which database to back up, and with which token. Exactly one of `databaseRef` and
/// `databaseName` must be set (checked by the operator: `Ready=False, reason=InvalidSpec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = exactly_one_of(
    "databaseRef",
    "databaseName",
    "set exactly one of spec.databaseRef (a Database in this namespace) and spec.databaseName (a portal database name)"
))]
#[x_kube(validation = at_most_one_of("tokenSecretRef", "providerConfigRef", ONE_CREDENTIAL_SOURCE))]
pub struct DatabaseSource {
    /// A Database object in this namespace. The backup waits until it is Ready
    /// (`Ready=False, reason=DatabaseNotReady` until then); its portal name and its
    /// `tokenSecretRef` are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_ref: Option<DatabaseRef>,

    /// The portal name of a database not managed by a Database object here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 3, max = 63),
        regex(pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
    )]
    pub database_name: Option<String>,

    /// The Secret, in this namespace, holding the portal API token. Absent (and no
    /// `providerConfigRef`): the referenced Database's credentials (with `databaseRef`), else the
    /// operator's default token Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<TokenSecretRef>,

    /// A ProviderConfig of this namespace, instead of `tokenSecretRef` (not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config_ref: Option<ProviderConfigRef>,
}

impl DatabaseSource {
    /// How the source names its own credentials (none: the Database's, or the default).
    pub fn credential_refs(&self) -> crate::reconcile::credentials::CredentialRefs<'_> {
        crate::reconcile::credentials::CredentialRefs {
            provider_config: self.provider_config_ref.as_ref().map(|r| r.name.as_str()),
            token_secret: self.token_secret_ref.as_ref(),
        }
    }
}

/// A Database in the same namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DatabaseRef {
    /// The Database object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Where a database to back up is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseTarget<'a> {
    /// A Database object in the same namespace.
    Object(&'a str),
    /// A portal name.
    Portal(&'a str),
}

impl DatabaseSource {
    /// The one database named, or why the spec names none or two.
    pub fn target(&self) -> Result<DatabaseTarget<'_>, &'static str> {
        match (&self.database_ref, &self.database_name) {
            (Some(reference), None) => Ok(DatabaseTarget::Object(&reference.name)),
            (None, Some(name)) => Ok(DatabaseTarget::Portal(name)),
            (Some(_), Some(_)) => Err(
                "set only one of spec.databaseRef (a Database here) and spec.databaseName (a portal name)",
            ),
            (None, None) => Err(
                "set spec.databaseRef (a Database in this namespace) or spec.databaseName (a portal database name)",
            ),
        }
    }
}

/// Where the backup is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackupPhase {
    /// Not asked for at the portal yet (waiting for the database, a token, …).
    Pending,
    /// The portal is taking it.
    Running,
    /// The portal reports it complete. Final.
    Completed,
    /// The portal reports it failed. Final: create a new Backup to try again.
    Failed,
    /// The request's answer was lost and the portal never listed a backup that could be this
    /// one's: whether it was taken cannot be told. Final: the operator never asks twice; check
    /// the portal, and create a new Backup to ask again.
    OutcomeUnknown,
}

impl BackupPhase {
    /// Completed, Failed and OutcomeUnknown do not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::OutcomeUnknown)
    }
}

/// What the operator asked for and what the portal reports, and the conditions `Ready`
/// (True once the backup is complete) and `Synced`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the backup is complete (otherwise the reason: `DatabaseNotReady`, `Running`,
    /// `Failed`, `Forbidden` …). `Synced`: the last reconcile reached the portal without error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Pending, Running, Completed, Failed or OutcomeUnknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BackupPhase>,
    /// The portal name of the database backed up; fixed once the backup is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    /// The portal's id of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
    /// The portal's raw status string (e.g. `running`, `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Set just before the operator asks the portal for the backup. With it and
    /// `requestBaseline` a restarted operator finds the backup it asked for instead of asking
    /// twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_requested_at: Option<Time>,
    /// The database's newest backups just before the request (see `createRequestedAt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_baseline: Option<RequestBaseline>,
    /// When the portal started the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the portal finished it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// The backup's size in bytes, once the portal reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// The size for people, e.g. `1.5 GiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// When the operator last wrote what the portal reports of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}

/// The portal's newest backups of the database when the request was made, by the portal's own
/// clock: a backup that appeared later and that no other Backup claims is this object's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestBaseline {
    /// The newest `created_at` the portal listed (absent: it listed no dated backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_created_at: Option<String>,
    /// The ids of the backups created at that instant or without a readable time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
}
