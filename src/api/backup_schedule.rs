//! `BackupSchedule`: Backup objects on a cron schedule, like a CronJob makes Jobs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backup::DatabaseSource;

/// Kept when `successfulBackupsHistoryLimit` is not set.
pub const DEFAULT_SUCCESSFUL_HISTORY: u32 = 7;
/// Kept when `failedBackupsHistoryLimit` is not set.
pub const DEFAULT_FAILED_HISTORY: u32 = 1;

/// Creates a Backup object of one database at every time the schedule names, and deletes the
/// oldest finished ones beyond the history limits. Exactly one of `databaseRef` and
/// `databaseName` must be set (else `Ready=False, reason=InvalidSpec`); they and
/// `tokenSecretRef` are copied into each Backup.
///
/// Each Backup is named after the schedule and its slot (`<schedule>-<unix minutes>`, or
/// `<schedule>-<unix seconds>` for a schedule with a seconds field), so no slot is taken twice,
/// even across an operator crash. The Backups are owned by the schedule: deleting it deletes
/// them (their backups stay at the portal, which cannot delete backups). The schedule itself
/// makes no portal call: its Backups report their own progress and errors.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "htx.vinacis.com",
    version = "v1alpha1",
    kind = "BackupSchedule",
    namespaced,
    status = "BackupScheduleStatus",
    shortname = "htxbackupschedule",
    category = "htx",
    doc = "Backups of an HTX Cloud database on a cron schedule: a Backup object per scheduled time, the oldest pruned beyond the history limits.",
    printcolumn = r#"{"name":"Schedule","type":"string","jsonPath":".spec.schedule"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Last","type":"date","jsonPath":".status.lastScheduleTime"}"#,
    printcolumn = r#"{"name":"Next","type":"string","jsonPath":".status.nextScheduleTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleSpec {
    /// When to back up, in UTC: a cron expression of five fields (minute hour day-of-month
    /// month day-of-week, e.g. `0 3 * * *`), six with a leading seconds field (e.g.
    /// `*/30 * * * * *`), or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. The shape is
    /// checked on admission; a value out of range is reported as
    /// `Ready=False, reason=InvalidSchedule`.
    #[schemars(
        length(min = 7, max = 200),
        regex(
            pattern = r"^\s*(@(yearly|annually|monthly|weekly|daily|hourly)|\S+(\s+\S+){4,5})\s*$"
        )
    )]
    pub schedule: String,

    /// `true`: create no further Backups (pruning goes on). Default `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// How many Completed Backups to keep; older ones are deleted (their backups stay at the
    /// portal). Default 7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub successful_backups_history_limit: Option<u32>,

    /// How many Failed Backups to keep. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub failed_backups_history_limit: Option<u32>,

    /// A slot missed by more than this many seconds (the operator was down) is skipped; only the
    /// latest missed slot is ever taken, once. Absent: the latest missed slot is taken however
    /// late, like a CronJob without `startingDeadlineSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub starting_deadline_seconds: Option<i64>,

    /// The database of every Backup, and its token (copied into each Backup's spec).
    #[serde(flatten)]
    pub source: DatabaseSource,
}

impl BackupScheduleSpec {
    pub fn suspended(&self) -> bool {
        self.suspend.unwrap_or(false)
    }

    pub fn successful_history(&self) -> u32 {
        self.successful_backups_history_limit
            .unwrap_or(DEFAULT_SUCCESSFUL_HISTORY)
    }

    pub fn failed_history(&self) -> u32 {
        self.failed_backups_history_limit
            .unwrap_or(DEFAULT_FAILED_HISTORY)
    }
}

/// The schedule's progress and the condition `Ready` (the schedule is valid and in effect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupScheduleStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the schedule is valid and in effect (reason `Scheduled` or `Suspended`), or why
    /// not (`InvalidSchedule`, `InvalidSpec`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The slot of the newest Backup this schedule created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_schedule_time: Option<Time>,
    /// The next slot (absent while suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_schedule_time: Option<Time>,
    /// The newest Completed Backup of this schedule still kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_backup: Option<String>,
    /// When that Backup completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_time: Option<Time>,
    /// When the operator last changed this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
}
