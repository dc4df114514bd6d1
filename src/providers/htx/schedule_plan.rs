//! The pure middle of the BackupSchedule reconcile: cron slots in UTC, the slot due now, the
//! deterministic Backup name of a slot, and which finished Backups to prune.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::jiff::tz::TimeZone;

use crate::api::BackupPhase;

/// A parsed `spec.schedule`.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    /// Six fields: the first is seconds, and slots may fall within a minute.
    with_seconds: bool,
}

impl Schedule {
    /// Five fields, six with seconds, or an `@daily`-style nickname; evaluated in UTC.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let fields = text.split_whitespace().count();
        let with_seconds = !text.starts_with('@') && fields == 6;
        if !text.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(format!(
                "'{text}' has {fields} fields: a schedule has five (minute hour day-of-month month day-of-week) or six (with seconds first)"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|error| format!("'{text}' is not a valid schedule: {error}"))?;
        Ok(Self { cron, with_seconds })
    }

    pub fn with_seconds(&self) -> bool {
        self.with_seconds
    }

    /// The latest slot at or before `at`.
    pub fn latest_until(&self, at: Timestamp) -> Option<Timestamp> {
        let zoned = at.to_zoned(TimeZone::UTC);
        let found = self.cron.find_previous_occurrence(&zoned, true).ok()?;
        Some(found.timestamp())
    }

    /// The first slot after `at`.
    pub fn next_after(&self, at: Timestamp) -> Option<Timestamp> {
        let zoned = at.to_zoned(TimeZone::UTC);
        let found = self.cron.find_next_occurrence(&zoned, false).ok()?;
        Some(found.timestamp())
    }
}

/// What the schedule should do about the slots since it last created a Backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// No slot has come since.
    Nothing,
    /// Create the Backup of this slot (the latest one; earlier missed slots are not made up).
    Take(Timestamp),
    /// The latest slot is later than `startingDeadlineSeconds` allows: skip it.
    TooLate(Timestamp),
}

/// The slot due at `now`: the latest slot after `since` (the last slot taken, else the
/// schedule's creation) and not after `now`. Like a CronJob, missed slots are taken at most once
/// in total: only the latest, and only within `deadline` when one is set.
pub fn due(
    schedule: &Schedule,
    since: Timestamp,
    now: Timestamp,
    deadline: Option<Duration>,
) -> Due {
    let Some(latest) = schedule.latest_until(now) else {
        return Due::Nothing;
    };
    if latest <= since {
        return Due::Nothing;
    }
    let late = Duration::try_from(now.duration_since(latest)).unwrap_or_default();
    match deadline {
        Some(deadline) if late > deadline => Due::TooLate(latest),
        _ => Due::Take(latest),
    }
}

/// Longest Backup name: a valid label value and DNS label, like the Jobs of a CronJob.
const MAX_NAME: usize = 63;

/// The Backup of `schedule`'s slot: `<schedule>-<unix minutes>`, or `<schedule>-<unix
/// seconds>` for a schedule with seconds. Deterministic, so a slot is never taken twice. A
/// schedule name too long for 63 characters is cut and given a short hash of the whole name,
/// so two long names that share a prefix still differ.
pub fn backup_name(schedule: &str, slot: Timestamp, with_seconds: bool) -> String {
    let seconds = slot.as_second();
    let suffix = if with_seconds {
        seconds.to_string()
    } else {
        seconds.div_euclid(60).to_string()
    };
    let room = MAX_NAME - 1 - suffix.len();
    let prefix = if schedule.len() <= room {
        schedule.to_owned()
    } else {
        let mut hasher = DefaultHasher::new();
        schedule.hash(&mut hasher);
        let hash = format!("{:08x}", hasher.finish() as u32);
        let cut = &schedule[..room - hash.len() - 1];
        format!("{}-{hash}", cut.trim_end_matches(['-', '.']))
    };
    format!("{prefix}-{suffix}")
}

/// A Backup the schedule made, as pruning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made<'a> {
    pub name: &'a str,
    pub phase: Option<BackupPhase>,
    /// Its slot (or creation time): the order of age.
    pub at: Timestamp,
}

/// The finished Backups beyond the history limits, oldest first. Pending and Running ones are
/// never pruned.
pub fn to_prune<'a>(made: &[Made<'a>], keep_completed: u32, keep_failed: u32) -> Vec<&'a str> {
    let mut pruned = Vec::new();
    for (phase, keep) in [
        (BackupPhase::Completed, keep_completed),
        (BackupPhase::Failed, keep_failed),
    ] {
        let mut of_phase: Vec<&Made> = made.iter().filter(|m| m.phase == Some(phase)).collect();
        of_phase.sort_by(|a, b| (a.at, a.name).cmp(&(b.at, b.name)));
        let excess = of_phase.len().saturating_sub(keep as usize);
        pruned.extend(of_phase[..excess].iter().map(|m| m.name));
    }
    pruned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn five_six_fields_and_nicknames_parse_in_utc() {
        let daily = Schedule::parse("0 3 * * *").unwrap();
        assert!(!daily.with_seconds());
        assert_eq!(
            daily.next_after(at("2026-03-01T03:00:00Z")),
            Some(at("2026-03-02T03:00:00Z"))
        );
        assert_eq!(
            daily.latest_until(at("2026-03-01T03:00:00Z")),
            Some(at("2026-03-01T03:00:00Z")),
            "a slot at exactly now is due"
        );
        let fast = Schedule::parse("*/20 * * * * *").unwrap();
        assert!(fast.with_seconds());
        assert_eq!(
            fast.next_after(at("2026-03-01T03:00:05Z")),
            Some(at("2026-03-01T03:00:20Z"))
        );
        let hourly = Schedule::parse("@hourly").unwrap();
        assert_eq!(
            hourly.latest_until(at("2026-03-01T03:59:59Z")),
            Some(at("2026-03-01T03:00:00Z"))
        );
        let weekdays = Schedule::parse("30 1 * * MON-FRI").unwrap();
        assert_eq!(
            weekdays.next_after(at("2026-03-06T02:00:00Z")), // a Friday
            Some(at("2026-03-09T01:30:00Z"))
        );
    }

    #[test]
    fn bad_schedules_say_why() {
        for bad in [
            "61 * * * *",
            "* * * *",
            "* * * * * * *",
            "0 0 31 2 x",
            "@often",
        ] {
            let error = Schedule::parse(bad).unwrap_err();
            assert!(error.contains(bad.trim()), "{error}");
        }
    }

    #[test]
    fn a_schedule_that_never_comes_has_no_slots() {
        let never = Schedule::parse("0 0 31 2 *").unwrap();
        let now = at("2026-03-01T10:00:00Z");
        assert_eq!(never.next_after(now), None);
        assert_eq!(
            due(&never, at("2020-01-01T00:00:00Z"), now, None),
            Due::Nothing
        );
    }

    #[test]
    fn the_latest_slot_since_the_last_one_is_due_once() {
        let every_minute = Schedule::parse("* * * * *").unwrap();
        let since = at("2026-03-01T10:00:00Z");
        assert_eq!(
            due(&every_minute, since, at("2026-03-01T10:00:59Z"), None),
            Due::Nothing
        );
        assert_eq!(
            due(&every_minute, since, at("2026-03-01T10:01:00Z"), None),
            Due::Take(at("2026-03-01T10:01:00Z"))
        );
        // Down for an hour: only the latest slot, however late, without a deadline.
        assert_eq!(
            due(&every_minute, since, at("2026-03-01T11:00:30Z"), None),
            Due::Take(at("2026-03-01T11:00:00Z"))
        );
        let deadline = Some(Duration::from_secs(20));
        assert_eq!(
            due(&every_minute, since, at("2026-03-01T11:00:30Z"), deadline),
            Due::TooLate(at("2026-03-01T11:00:00Z"))
        );
        assert_eq!(
            due(&every_minute, since, at("2026-03-01T11:00:15Z"), deadline),
            Due::Take(at("2026-03-01T11:00:00Z"))
        );
        // Once taken, the same slot is not due again.
        let taken = at("2026-03-01T11:00:00Z");
        assert_eq!(
            due(&every_minute, taken, at("2026-03-01T11:00:45Z"), None),
            Due::Nothing
        );
    }

    #[test]
    fn names_are_deterministic_valid_and_short() {
        let slot = at("2026-03-01T10:01:00Z");
        assert_eq!(
            backup_name("nightly", slot, false),
            format!("nightly-{}", slot.as_second() / 60)
        );
        assert_eq!(
            backup_name("fast", at("2026-03-01T10:01:20Z"), true),
            format!("fast-{}", slot.as_second() + 20)
        );
        assert_eq!(
            backup_name("nightly", slot, false),
            backup_name("nightly", slot, false)
        );
        let long_a = format!("{}-a", "x".repeat(70));
        let long_b = format!("{}-b", "x".repeat(70));
        let (a, b) = (
            backup_name(&long_a, slot, true),
            backup_name(&long_b, slot, true),
        );
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b, "cut names keep a hash of the whole name");
        let cut_at_dash = format!("{}-{}", "y".repeat(42), "z".repeat(30));
        let name = backup_name(&cut_at_dash, slot, true);
        assert!(name.len() <= 63 && !name.contains("--"), "{name}");
        let dns_label = |n: &str| {
            n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        };
        assert!(dns_label(&a) && dns_label(&name));
    }

    #[test]
    fn prune_keeps_the_newest_of_each_phase_and_never_running_ones() {
        let made = |name, phase, minute: i64| Made {
            name,
            phase,
            at: Timestamp::from_second(minute * 60).unwrap(),
        };
        let backups = [
            made("c3", Some(BackupPhase::Completed), 3),
            made("c1", Some(BackupPhase::Completed), 1),
            made("c2", Some(BackupPhase::Completed), 2),
            made("f1", Some(BackupPhase::Failed), 1),
            made("f2", Some(BackupPhase::Failed), 2),
            made("r0", Some(BackupPhase::Running), 0),
            made("p0", Some(BackupPhase::Pending), 0),
            made("new", None, 0),
        ];
        assert_eq!(to_prune(&backups, 2, 1), ["c1", "f1"]);
        assert_eq!(to_prune(&backups, 0, 0), ["c1", "c2", "c3", "f1", "f2"]);
        assert!(to_prune(&backups, 7, 1).len() == 1);
        assert!(to_prune(&backups, 7, 5).is_empty());
    }
}
