//! Kubernetes-style conditions whose transition times move only on real transitions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";

/// One condition as a reconcile wants it; the time is filled in by [`merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

impl Wanted {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn ready(status: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: READY,
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn synced(status: bool, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            type_: SYNCED,
            status,
            reason,
            message: message.into(),
        }
    }
}

/// The conditions after applying `wanted` to `current`: a condition whose status is unchanged
/// keeps its `lastTransitionTime`; other condition types are kept as they are.
pub fn merge(
    current: &[Condition],
    wanted: &[Wanted],
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = current
        .iter()
        .filter(|condition| !wanted.iter().any(|w| w.type_ == condition.type_))
        .cloned()
        .collect();
    for want in wanted {
        let status = if want.status { "True" } else { "False" };
        let previous = current.iter().find(|c| c.type_ == want.type_);
        let last_transition_time = match previous {
            Some(previous) if previous.status == status => previous.last_transition_time.clone(),
            _ => Time(now),
        };
        merged.push(Condition {
            type_: want.type_.to_owned(),
            status: status.to_owned(),
            reason: want.reason.to_owned(),
            message: want.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    merged.sort_by(|a, b| a.type_.cmp(&b.type_));
    merged
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let first = merge(
            &[],
            &[Wanted::ready(false, "Creating", "creating")],
            Some(1),
            at(100),
        );
        assert_eq!(first[0].last_transition_time, Time(at(100)));

        let same = merge(
            &first,
            &[Wanted::ready(false, "Creating", "still")],
            Some(1),
            at(200),
        );
        assert_eq!(same[0].last_transition_time, Time(at(100)));
        assert_eq!(same[0].message, "still");

        let flipped = merge(
            &same,
            &[Wanted::ready(true, "Available", "ok")],
            Some(2),
            at(300),
        );
        assert_eq!(flipped[0].last_transition_time, Time(at(300)));
        assert_eq!(flipped[0].observed_generation, Some(2));
    }

    #[test]
    fn other_types_are_kept_and_order_is_stable() {
        let both = merge(
            &[],
            &[
                Wanted::synced(true, "Synced", ""),
                Wanted::ready(true, "Available", ""),
            ],
            None,
            at(1),
        );
        let only_ready = merge(&both, &[Wanted::ready(false, "Deleting", "")], None, at(2));
        let types: Vec<_> = only_ready.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["Ready", "Synced"]);
        assert!(is_true(&only_ready, SYNCED));
        assert!(!is_true(&only_ready, READY));
    }
}
