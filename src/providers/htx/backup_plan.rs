//! The pure middle of the Backup reconcile: what a portal backup says, the baseline recorded
//! with a request, and which listed backup is the one this object asked for.
//!
//! # Finding the backup after a crash
//!
//! Portal backups have no name the caller chooses, so a request cannot be made idempotent. The
//! operator instead records its intent before the request: `status.createRequestedAt` and
//! `status.requestBaseline`, the newest `created_at` among the database's backups just listed
//! (the portal's own clock, so no clock skew enters) and the ids of the backups carrying it. When
//! a reconcile finds the intent without a `backupId` (the operator died between the request and
//! the status write, or the write failed), it lists the database's backups again and looks at
//! the [`candidates`]: the backups that are not in the baseline's ids, are not older than the
//! baseline's newest time (or have no readable time), and that no other Backup object claims
//! (their `status.backupId`). Exactly one is this object's ([`recover`]).
//!
//! A list may lag behind the request, so none found is looked for again until `--list-lag` has
//! passed since the intent. Still none then (or several no other Backup claims): the outcome
//! cannot be told, and the Backup stops at `OutcomeUnknown` for a person to decide; it never asks
//! twice. Requests for one database are serialised: within one operator process (intent, request,
//! status write under one lock), and across a restart, since no request is sent while another
//! Backup of the namespace has one for that database still [`awaiting_answer`]. So a Backup's
//! baseline holds every backup asked for before it, and no backup asked for after it is new to
//! it unless its Backup still claims it: deleting that Backup later (a schedule pruning it)
//! cannot make it look like the lost one.
//!
//! Limits: a backup of the same database made at that moment by something else (the portal's web
//! UI, another tool, a Backup in a namespace this operator does not look at) that is the only new
//! one can be taken for this object's.

use std::collections::HashSet;

use k8s_openapi::jiff::Timestamp;

use super::client::{self as portal, backup_lifecycle};
use crate::api::{BackupPhase, BackupStatus, RequestBaseline};
use crate::reconcile::lifecycle::Lifecycle;
pub use crate::reconcile::recovery::{Recovery, recover};

/// What the portal reports of one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub phase: BackupPhase,
    pub state: String,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub size_bytes: Option<u64>,
}

pub fn observe(backup: &portal::Backup) -> Observed {
    let phase = match backup_lifecycle(&backup.status) {
        Lifecycle::Ready => BackupPhase::Completed,
        Lifecycle::Failed => BackupPhase::Failed,
        Lifecycle::InProgress | Lifecycle::Stopped | Lifecycle::Deleting => BackupPhase::Running,
    };
    Observed {
        phase,
        state: backup.status.clone(),
        started_at: parse_time(backup.created_at.as_deref()),
        completed_at: parse_time(backup.completed_at.as_deref()),
        size_bytes: backup.size_bytes,
    }
}

/// A portal time, if it is an RFC 3339 instant.
pub fn parse_time(text: Option<&str>) -> Option<Timestamp> {
    text?.trim().parse().ok()
}

/// The baseline to record with a request, from the database's backups listed just before it.
pub fn baseline(existing: &[portal::Backup]) -> RequestBaseline {
    let newest = existing
        .iter()
        .filter_map(|b| parse_time(b.created_at.as_deref()))
        .max();
    let ids = existing
        .iter()
        .filter(|b| {
            let created = parse_time(b.created_at.as_deref());
            created.is_none() || created == newest
        })
        .map(|b| b.id.clone())
        .collect();
    RequestBaseline {
        newest_created_at: newest.map(|t| t.to_string()),
        ids,
    }
}

/// The backups among `listed` that may be the one this object asked for: not in the baseline's
/// ids, not older than its newest time (undated ones count), and not claimed by another Backup
/// object. Oldest first, undated last, in the portal's order otherwise.
pub fn candidates<'a>(
    listed: &'a [portal::Backup],
    baseline: &RequestBaseline,
    claimed: &HashSet<String>,
) -> Vec<&'a portal::Backup> {
    let newest = parse_time(baseline.newest_created_at.as_deref());
    let mut found: Vec<_> = listed
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            !b.id.is_empty() && !baseline.ids.contains(&b.id) && !claimed.contains(&b.id)
        })
        .filter_map(|(index, b)| {
            let created = parse_time(b.created_at.as_deref());
            match (created, newest) {
                (Some(created), Some(newest)) if created < newest => None,
                _ => Some(((created.is_none(), created, index), b)),
            }
        })
        .collect();
    found.sort_by_key(|(order, _)| *order);
    found.into_iter().map(|(_, b)| b).collect()
}

/// Whether a Backup asked for a backup of `database` and has not yet found out what became of it
/// (found it, or given up at `OutcomeUnknown`).
pub fn awaiting_answer(status: &BackupStatus, database: &str) -> bool {
    status.database_name.as_deref() == Some(database)
        && status.create_requested_at.is_some()
        && status.backup_id.is_none()
        && status.phase != Some(BackupPhase::OutcomeUnknown)
}

/// A size for people: `512 MiB`, `1.5 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = if unit == 0 || value >= 100.0 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.1}");
        text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
    };
    format!("{text} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(id: &str, created_at: Option<&str>) -> portal::Backup {
        portal::Backup {
            id: id.to_owned(),
            status: "running".to_owned(),
            created_at: created_at.map(str::to_owned),
            ..portal::Backup::default()
        }
    }

    const T1: &str = "2026-01-01T10:00:00.000Z";
    const T2: &str = "2026-01-01T10:00:05.000Z";
    const T3: &str = "2026-01-01T10:00:07.250Z";

    #[test]
    fn only_an_asked_unanswered_request_for_that_database_awaits_an_answer() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        let asked = BackupStatus {
            database_name: Some("shop".to_owned()),
            create_requested_at: Some(Time(Timestamp::UNIX_EPOCH)),
            phase: Some(BackupPhase::Pending),
            ..BackupStatus::default()
        };
        assert!(awaiting_answer(&asked, "shop"));
        assert!(!awaiting_answer(&asked, "other"));
        let answered = BackupStatus {
            backup_id: Some("b-1".to_owned()),
            ..asked.clone()
        };
        assert!(!awaiting_answer(&answered, "shop"));
        let given_up = BackupStatus {
            phase: Some(BackupPhase::OutcomeUnknown),
            ..asked.clone()
        };
        assert!(!awaiting_answer(&given_up, "shop"));
        let not_asked = BackupStatus {
            create_requested_at: None,
            ..asked
        };
        assert!(!awaiting_answer(&not_asked, "shop"));
    }

    #[test]
    fn the_baseline_keeps_only_the_newest_and_the_undated() {
        let existing = [
            backup("old", Some(T1)),
            backup("tie-a", Some(T2)),
            backup("tie-b", Some("2026-01-01T10:00:05Z")),
            backup("undated", None),
        ];
        let recorded = baseline(&existing);
        assert_eq!(
            recorded.newest_created_at.as_deref(),
            Some("2026-01-01T10:00:05Z")
        );
        assert_eq!(recorded.ids, ["tie-a", "tie-b", "undated"]);
        assert_eq!(baseline(&[]), RequestBaseline::default());
    }

    fn ids<'a>(found: &[&'a portal::Backup]) -> Vec<&'a str> {
        found.iter().map(|b| b.id.as_str()).collect()
    }

    #[test]
    fn the_backup_that_appeared_after_the_baseline_is_ours() {
        let before = [backup("old", Some(T1)), backup("prev", Some(T2))];
        let recorded = baseline(&before);
        let after = [
            backup("old", Some(T1)),
            backup("prev", Some(T2)),
            backup("ours", Some(T3)),
        ];
        let found = candidates(&after, &recorded, &HashSet::new());
        assert_eq!(ids(&found), ["ours"]);
        assert_eq!(recover(&found, false), Recovery::Found(found[0]));
    }

    #[test]
    fn nothing_new_is_waited_on_then_unknown_never_asked_again() {
        let before = [backup("old", Some(T1))];
        let recorded = baseline(&before);
        let found = candidates(&before, &recorded, &HashSet::new());
        assert!(found.is_empty());
        assert_eq!(recover(&found, true), Recovery::Wait, "the list may lag");
        assert_eq!(recover(&found, false), Recovery::Unknown);
        // An empty database: anything listed later is new.
        let recorded = baseline(&[]);
        assert_eq!(
            ids(&candidates(&before, &recorded, &HashSet::new())),
            ["old"]
        );
    }

    #[test]
    fn backups_claimed_by_others_are_skipped_and_two_left_are_ambiguous() {
        let recorded = baseline(&[backup("old", Some(T1))]);
        let after = [
            backup("later", Some(T3)),
            backup("theirs", Some(T2)),
            backup("ours", Some("2026-01-01T10:00:06Z")),
            backup("undated", None),
        ];
        let claimed: HashSet<String> = ["theirs".to_owned()].into();
        let found = candidates(&after, &recorded, &claimed);
        assert_eq!(ids(&found), ["ours", "later", "undated"]);
        assert_eq!(recover(&found, true), Recovery::Wait);
        assert_eq!(recover(&found, false), Recovery::Unknown);
        let claimed: HashSet<String> = ["theirs", "ours", "later"].map(str::to_owned).into();
        let found = candidates(&after, &recorded, &claimed);
        assert_eq!(ids(&found), ["undated"]);
    }

    #[test]
    fn an_older_backup_than_the_baseline_is_never_ours_even_if_unknown() {
        // Created by someone else before the request but missing from the recorded ids (the
        // baseline keeps only the newest instant): its time excludes it.
        let recorded = baseline(&[backup("prev", Some(T2))]);
        let after = [backup("elder", Some(T1)), backup("prev", Some(T2))];
        assert!(candidates(&after, &recorded, &HashSet::new()).is_empty());
    }

    #[test]
    fn phases_follow_the_portal_status() {
        let mut b = backup("x", Some(T1));
        assert_eq!(observe(&b).phase, BackupPhase::Running);
        b.status = "completed".into();
        b.completed_at = Some(T2.into());
        b.size_bytes = Some(3 << 20);
        let seen = observe(&b);
        assert_eq!(seen.phase, BackupPhase::Completed);
        assert_eq!(seen.started_at, Some(T1.parse().unwrap()));
        assert_eq!(seen.completed_at, Some(T2.parse().unwrap()));
        b.status = "error".into();
        assert_eq!(observe(&b).phase, BackupPhase::Failed);
        b.status = "queued".into();
        assert_eq!(observe(&b).phase, BackupPhase::Running);
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(512 << 20), "512 MiB");
        assert_eq!(human_size(1536 << 20), "1.5 GiB");
        assert_eq!(human_size(8 << 20), "8 MiB");
        assert_eq!(human_size((10 << 30) + (1 << 29)), "10.5 GiB");
    }
}
