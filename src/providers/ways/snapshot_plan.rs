//! The pure middle of the WaysSnapshot reconcile: the description a request carries and which
//! listed snapshots are this object's.
//!
//! # Finding the snapshot after a crash
//!
//! Snapshot ids come from the portal, and the only thing a caller chooses is the description. So
//! the description carries the object's identity (its uid, which no other object ever has, and
//! for people its namespace and name), and the intent is recorded in status before the request.
//! An intent without a `snapshotId` (the operator died between the request and the status
//! write, or the answer was lost) is resolved by listing the database's snapshots and taking the
//! one that carries the uid ([`ours`], then [`recover`](crate::reconcile::recovery::recover)): a
//! list may lag, so none is looked for again until `--list-lag` passed; still none (or two) then
//! is `OutcomeUnknown`, never a second request. Unlike the HTX Backup's baseline, the uid makes
//! the match certain whatever else is taken meanwhile, so requests need no serialising.
//!
//! Deletion touches only what carries the uid (or the id the portal gave this object): what
//! the backup policy, people or other objects took never does.

use crate::providers::ways::client::Snapshot;

/// The longest description sent (the document gives none; the simulator takes 255).
const DESCRIPTION_MAX: usize = 255;

/// How a snapshot names the object that asked for it.
pub fn identity(uid: &str) -> String {
    format!("k8s-uid:{uid}")
}

/// The description of the object's request: the spec's text, then the object's identity. The
/// text is shortened where both would not fit; the identity never is.
pub fn description(text: Option<&str>, namespace: &str, name: &str, uid: &str) -> String {
    let full = format!("[WaysSnapshot {namespace}/{name} {}]", identity(uid));
    let tag = if full.len() <= DESCRIPTION_MAX / 2 {
        full
    } else {
        format!("[{}]", identity(uid))
    };
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return tag;
    }
    let room = DESCRIPTION_MAX - tag.len() - 1;
    let mut cut = text.len().min(room);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} {tag}", text[..cut].trim_end())
}

/// The listed snapshots that carry the object's identity.
pub fn ours<'a>(listed: &'a [Snapshot], uid: &str) -> Vec<&'a Snapshot> {
    let identity = identity(uid);
    listed
        .iter()
        .filter(|s| {
            s.description
                .as_deref()
                .is_some_and(|d| d.contains(&identity))
        })
        .collect()
}

/// Whether the portal's list shows descriptions at all (if not, nothing can be recognised).
pub fn lists_descriptions(listed: &[Snapshot]) -> bool {
    listed.is_empty() || listed.iter().any(|s| s.description.is_some())
}

/// The snapshots to delete for an object with `deletionPolicy: Delete`: the one the portal gave
/// it, and any carrying its identity (an unanswered request's), never any other.
pub fn to_delete(listed: &[Snapshot], uid: &str, known: Option<&str>) -> Vec<String> {
    let mut ids: Vec<String> = known.map(str::to_owned).into_iter().collect();
    for snapshot in ours(listed, uid) {
        if !ids.contains(&snapshot.snapshot_id) {
            ids.push(snapshot.snapshot_id.clone());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::recovery::{Recovery, recover};

    const UID: &str = "6f1c2a7e-0000-4000-8000-000000000001";

    fn snapshot(id: &str, description: Option<&str>) -> Snapshot {
        serde_json::from_value(serde_json::json!({
            "snapshot_id": id,
            "description": description,
        }))
        .unwrap()
    }

    #[test]
    fn the_description_carries_the_identity_whole_and_fits() {
        let plain = description(Some("before migration"), "shop", "pre-v2", UID);
        assert_eq!(
            plain,
            format!("before migration [WaysSnapshot shop/pre-v2 k8s-uid:{UID}]")
        );
        assert_eq!(
            description(None, "shop", "pre-v2", UID),
            format!("[WaysSnapshot shop/pre-v2 k8s-uid:{UID}]")
        );
        let long_name = "n".repeat(200);
        let long = description(Some(&"é".repeat(150)), "shop", &long_name, UID);
        assert!(long.len() <= DESCRIPTION_MAX, "{}", long.len());
        assert!(long.ends_with(&format!("[k8s-uid:{UID}]")), "{long}");
        assert!(long.starts_with("éé"));
    }

    #[test]
    fn only_snapshots_carrying_the_uid_are_ours() {
        let listed = [
            snapshot(
                "snap_policy",
                Some("Automated daily backup (backup policy)"),
            ),
            snapshot(
                "snap_other",
                Some("[WaysSnapshot shop/other k8s-uid:another]"),
            ),
            snapshot("snap_ours", Some(&description(Some("x"), "shop", "s", UID))),
            snapshot("snap_bare", None),
        ];
        let found = ours(&listed, UID);
        assert_eq!(found.len(), 1);
        assert_eq!(recover(&found, true), Recovery::Found(&listed[2]));
        assert!(lists_descriptions(&listed));
    }

    #[test]
    fn none_or_two_of_ours_are_waited_on_then_unknown() {
        let ours_too = description(None, "shop", "s", UID);
        let two = [
            snapshot("a", Some(&ours_too)),
            snapshot("b", Some(&ours_too)),
        ];
        assert_eq!(recover(&ours(&two, UID), false), Recovery::Unknown);
        let none = [snapshot("c", None)];
        assert!(!lists_descriptions(&none), "no description is shown at all");
        assert_eq!(recover(&ours(&none, UID), true), Recovery::Wait);
        assert_eq!(recover(&ours(&none, UID), false), Recovery::Unknown);
    }

    #[test]
    fn deletion_takes_the_known_id_and_the_uids_never_others() {
        let mine = description(None, "shop", "s", UID);
        let listed = [
            snapshot(
                "snap_policy",
                Some("Automated daily backup (backup policy)"),
            ),
            snapshot("snap_known", Some(&mine)),
            snapshot("snap_lost", Some(&mine)),
        ];
        assert_eq!(
            to_delete(&listed, UID, Some("snap_known")),
            ["snap_known", "snap_lost"]
        );
        assert_eq!(to_delete(&listed[..1], UID, None), Vec::<String>::new());
        assert_eq!(to_delete(&[], UID, Some("gone")), ["gone"]);
    }
}
