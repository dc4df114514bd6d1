//! The pure middle of every managed kind's reconcile: what the object wants, what its status
//! recorded and what the portal has, in; one decision out. No IO here, so every state pair is
//! tested below.

use crate::api::{DeletionPolicy, ManagementPolicy};

/// What the object asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired<'a> {
    /// The portal name wanted: `spec.externalName`, else `metadata.name`.
    pub name: &'a str,
    pub policy: ManagementPolicy,
    pub deletion: DeletionPolicy,
    pub adopt: bool,
    pub paused: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub has_finalizer: bool,
}

/// What the object's status recorded of earlier reconciles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// The portal name the object is bound to (`status.externalName`).
    pub bound_name: Option<&'a str>,
    /// The portal id the object is bound to (`status.id`).
    pub id: Option<&'a str>,
    /// `status.createRequestedAt` is set: a create was (maybe) sent for this object.
    pub create_requested: bool,
}

/// What the portal has under the wanted name. Absence is authoritative: where status says the
/// resource should exist, the caller confirms a snapshot's absence with a direct look-up first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote<'a> {
    Present { id: &'a str },
    Absent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The portal must be looked at before deciding: call again with the remote.
    Observe,
    /// Paused by annotation: no portal calls at all.
    Paused,
    /// The wanted name differs from the one the object is bound to.
    NameChanged { bound: String },
    /// Put the finalizer on before the portal resource can exist.
    AddFinalizer,
    /// Record the intent in status, then create. `recreate`: the bound resource vanished.
    Create { recreate: bool },
    /// The portal resource is this object's: mirror it into status. `adopted`: it is taken over
    /// now, `observed`: mirrored only (management policy Observe).
    Mirror { adopted: bool, observed: bool },
    /// The name is taken by a resource this object did not create, and adoption is off.
    AlreadyExists,
    /// Management policy Observe and nothing of that name at the portal.
    NotFound,
    /// Delete at the portal, then release.
    Delete,
    /// Remove the finalizer: nothing (more) to delete at the portal. `orphaned`: left in place
    /// on purpose; `foreign`: the portal resource of that name was never this object's.
    Release { orphaned: bool, foreign: bool },
    /// Being deleted and already released: nothing to do.
    Nothing,
}

/// Decides the next step. `remote` is `None` until the portal has been looked at; the decision is
/// then either one that needs no portal call, or [`Decision::Observe`].
pub fn decide(desired: &Desired, recorded: &Recorded, remote: Option<Remote>) -> Decision {
    if desired.deleting {
        return decide_deletion(desired, recorded, remote);
    }
    if desired.paused {
        return Decision::Paused;
    }
    if let Some(bound) = recorded.bound_name
        && bound != desired.name
    {
        return Decision::NameChanged {
            bound: bound.to_owned(),
        };
    }
    let managing = desired.policy == ManagementPolicy::Manage;
    if managing && !desired.has_finalizer {
        return Decision::AddFinalizer;
    }
    let Some(remote) = remote else {
        return Decision::Observe;
    };
    match remote {
        Remote::Present { id } => {
            if is_ours(recorded, id) {
                Decision::Mirror {
                    adopted: false,
                    observed: !managing,
                }
            } else if !managing {
                Decision::Mirror {
                    adopted: false,
                    observed: true,
                }
            } else if desired.adopt {
                Decision::Mirror {
                    adopted: true,
                    observed: false,
                }
            } else {
                Decision::AlreadyExists
            }
        }
        Remote::Absent if managing => Decision::Create {
            recreate: recorded.id.is_some(),
        },
        Remote::Absent => Decision::NotFound,
    }
}

fn decide_deletion(desired: &Desired, recorded: &Recorded, remote: Option<Remote>) -> Decision {
    if !desired.has_finalizer {
        return Decision::Nothing;
    }
    if desired.paused {
        return Decision::Paused;
    }
    let orphaned =
        desired.policy == ManagementPolicy::Observe || desired.deletion == DeletionPolicy::Orphan;
    if orphaned {
        return Decision::Release {
            orphaned: true,
            foreign: false,
        };
    }
    let Some(remote) = remote else {
        return Decision::Observe;
    };
    match remote {
        Remote::Absent => Decision::Release {
            orphaned: false,
            foreign: false,
        },
        Remote::Present { id } if is_ours(recorded, id) => Decision::Delete,
        Remote::Present { .. } => Decision::Release {
            orphaned: false,
            foreign: true,
        },
    }
}

/// The portal resource is this object's when status holds its id, or when status holds no id
/// but a create was requested: the create landed and the operator stopped before recording it.
fn is_ours(recorded: &Recorded, remote_id: &str) -> bool {
    match recorded.id {
        Some(id) => id == remote_id,
        None => recorded.create_requested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeletionPolicy::{Delete, Orphan};
    use ManagementPolicy::{Manage, Observe};

    fn desired() -> Desired<'static> {
        Desired {
            name: "app",
            policy: Manage,
            deletion: Delete,
            adopt: false,
            paused: false,
            deleting: false,
            has_finalizer: true,
        }
    }

    const FRESH: Recorded = Recorded {
        bound_name: None,
        id: None,
        create_requested: false,
    };
    const REQUESTED: Recorded = Recorded {
        bound_name: Some("app"),
        id: None,
        create_requested: true,
    };
    const BOUND: Recorded = Recorded {
        bound_name: Some("app"),
        id: Some("id-1"),
        create_requested: true,
    };
    const ADOPTED: Recorded = Recorded {
        bound_name: Some("app"),
        id: Some("id-1"),
        create_requested: false,
    };
    const OURS: Remote = Remote::Present { id: "id-1" };
    const OTHER: Remote = Remote::Present { id: "id-2" };

    /// Every combination of the inputs, so the tables below can't miss a state pair.
    fn all_states() -> Vec<(Desired<'static>, Recorded<'static>, Option<Remote<'static>>)> {
        let mut states = Vec::new();
        for policy in [Manage, Observe] {
            for deletion in [Delete, Orphan] {
                for adopt in [false, true] {
                    for paused in [false, true] {
                        for deleting in [false, true] {
                            for has_finalizer in [false, true] {
                                for recorded in [FRESH, REQUESTED, BOUND, ADOPTED] {
                                    for remote in
                                        [None, Some(OURS), Some(OTHER), Some(Remote::Absent)]
                                    {
                                        let desired = Desired {
                                            policy,
                                            deletion,
                                            adopt,
                                            paused,
                                            deleting,
                                            has_finalizer,
                                            ..desired()
                                        };
                                        states.push((desired, recorded, remote));
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        states
    }

    #[test]
    fn invariants_hold_in_every_state() {
        for (desired, recorded, remote) in all_states() {
            let decision = decide(&desired, &recorded, remote);
            let context = format!("{desired:?} {recorded:?} {remote:?} -> {decision:?}");
            if decision == Decision::Observe {
                assert!(remote.is_none(), "{context}");
                continue;
            }
            if remote.is_none() {
                assert!(
                    !matches!(
                        decision,
                        Decision::Create { .. } | Decision::Delete | Decision::Mirror { .. }
                    ),
                    "a portal-dependent decision without looking at the portal: {context}"
                );
            }
            let released = desired.deleting && !desired.has_finalizer;
            if desired.paused && !released {
                assert_eq!(decision, Decision::Paused, "{context}");
            }
            if matches!(decision, Decision::Create { .. } | Decision::Delete) {
                assert_eq!(desired.policy, Manage, "Observe never writes: {context}");
                assert!(desired.has_finalizer, "finalizer first: {context}");
                assert!(!desired.paused, "{context}");
            }
            if decision == Decision::Delete {
                assert_eq!(desired.deletion, Delete, "{context}");
                assert!(desired.deleting, "{context}");
                let bound_elsewhere = recorded.id.is_some() && remote == Some(OTHER);
                assert!(
                    recorded != FRESH && !bound_elsewhere && remote != Some(Remote::Absent),
                    "only our own resource is deleted: {context}"
                );
            }
            if let Decision::Create { .. } = decision {
                assert_eq!(
                    remote,
                    Some(Remote::Absent),
                    "never create over an existing one: {context}"
                );
                assert!(!desired.deleting, "{context}");
            }
            if let Decision::Mirror { adopted: true, .. } = decision {
                assert!(desired.adopt, "{context}");
            }
            if desired.deleting && !desired.has_finalizer {
                assert_eq!(decision, Decision::Nothing, "{context}");
            }
        }
    }

    #[test]
    fn a_new_object_gets_its_finalizer_then_is_created() {
        let without = Desired {
            has_finalizer: false,
            ..desired()
        };
        assert_eq!(
            decide(&without, &FRESH, Some(Remote::Absent)),
            Decision::AddFinalizer
        );
        assert_eq!(
            decide(&desired(), &FRESH, Some(Remote::Absent)),
            Decision::Create { recreate: false }
        );
    }

    #[test]
    fn a_create_that_landed_before_a_crash_is_recognised_not_repeated() {
        assert_eq!(
            decide(&desired(), &REQUESTED, Some(OURS)),
            Decision::Mirror {
                adopted: false,
                observed: false
            }
        );
        assert_eq!(
            decide(&desired(), &REQUESTED, Some(Remote::Absent)),
            Decision::Create { recreate: false },
            "the earlier create never landed"
        );
    }

    #[test]
    fn a_name_taken_by_someone_else_stops_unless_adoption_is_on() {
        assert_eq!(
            decide(&desired(), &FRESH, Some(OTHER)),
            Decision::AlreadyExists
        );
        assert_eq!(
            decide(&desired(), &BOUND, Some(OTHER)),
            Decision::AlreadyExists
        );
        let adopting = Desired {
            adopt: true,
            ..desired()
        };
        assert_eq!(
            decide(&adopting, &FRESH, Some(OTHER)),
            Decision::Mirror {
                adopted: true,
                observed: false
            }
        );
        assert_eq!(
            decide(&adopting, &ADOPTED, Some(OURS)),
            Decision::Mirror {
                adopted: false,
                observed: false
            },
            "adoption happens once"
        );
    }

    #[test]
    fn a_resource_deleted_out_of_band_is_recreated_or_reported() {
        assert_eq!(
            decide(&desired(), &BOUND, Some(Remote::Absent)),
            Decision::Create { recreate: true }
        );
        let observing = Desired {
            policy: Observe,
            ..desired()
        };
        assert_eq!(
            decide(&observing, &BOUND, Some(Remote::Absent)),
            Decision::NotFound
        );
    }

    #[test]
    fn observe_mirrors_without_a_finalizer_and_never_deletes() {
        let observing = Desired {
            policy: Observe,
            has_finalizer: false,
            ..desired()
        };
        assert_eq!(
            decide(&observing, &FRESH, Some(OTHER)),
            Decision::Mirror {
                adopted: false,
                observed: true
            }
        );
        let leaving = Desired {
            deleting: true,
            has_finalizer: true,
            ..observing
        };
        assert_eq!(
            decide(&leaving, &ADOPTED, Some(OURS)),
            Decision::Release {
                orphaned: true,
                foreign: false
            }
        );
    }

    #[test]
    fn deletion_deletes_ours_orphans_on_request_and_never_touches_foreign() {
        let deleting = Desired {
            deleting: true,
            ..desired()
        };
        assert_eq!(decide(&deleting, &BOUND, Some(OURS)), Decision::Delete);
        assert_eq!(decide(&deleting, &REQUESTED, Some(OURS)), Decision::Delete);
        assert_eq!(
            decide(&deleting, &BOUND, Some(Remote::Absent)),
            Decision::Release {
                orphaned: false,
                foreign: false
            }
        );
        assert_eq!(
            decide(&deleting, &FRESH, Some(OTHER)),
            Decision::Release {
                orphaned: false,
                foreign: true
            }
        );
        let orphaning = Desired {
            deletion: Orphan,
            ..deleting
        };
        assert_eq!(
            decide(&orphaning, &BOUND, Some(OURS)),
            Decision::Release {
                orphaned: true,
                foreign: false
            }
        );
    }

    #[test]
    fn the_portal_name_cannot_change_once_bound() {
        let renamed = Desired {
            name: "other",
            ..desired()
        };
        assert_eq!(
            decide(&renamed, &BOUND, Some(Remote::Absent)),
            Decision::NameChanged {
                bound: "app".into()
            }
        );
        assert_eq!(
            decide(&renamed, &FRESH, Some(Remote::Absent)),
            Decision::Create { recreate: false },
            "an unbound object may still pick its name"
        );
    }

    #[test]
    fn paused_objects_make_no_calls_even_when_deleted() {
        let paused = Desired {
            paused: true,
            ..desired()
        };
        assert_eq!(
            decide(&paused, &BOUND, Some(Remote::Absent)),
            Decision::Paused
        );
        let paused_deleting = Desired {
            deleting: true,
            ..paused
        };
        assert_eq!(
            decide(&paused_deleting, &BOUND, Some(OURS)),
            Decision::Paused
        );
    }
}
