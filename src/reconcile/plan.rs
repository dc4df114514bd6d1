//! The pure middle of every managed kind's reconcile: what the object wants, what its status
//! recorded and what the portal showed, in; one decision out. What a create or a delete call
//! answered is decided here too ([`after_create`], [`after_delete`]), so the whole life cycle is
//! one table, tested below over every state. No IO here.
//!
//! The rules (DESIGN §3):
//! - Ownership is recorded, never inferred: a portal resource is this object's when the portal
//!   answered this object's create with it, or the object took it explicitly (`adoptExisting`,
//!   `Observe`). A definite refusal of a create leaves no claim on the name.
//! - Only an ambiguous create (no answer, a 5xx, a crash before the answer was recorded) is
//!   recovered by name, and only while the intent is recent ([`Recorded::intent_fresh`]).
//! - A list is a hint: presence in it proves the resource exists, absence proves nothing (lists
//!   may lag behind writes or come back partial). Absence is proven by the portal answering 404
//!   for the name: a look-up where the portal has one, else the delete or create call itself.
//! - A deletion is done only when the portal says the resource is gone.

use crate::api::{DeletionPolicy, ManagementPolicy, Ownership};

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
    /// The portal can be asked about one name (a GET route), which answers 404 with authority.
    pub can_look_up: bool,
    /// The portal refuses a second resource under a taken name. Where it does not (server ids,
    /// names shared freely: PaaS), a create whose outcome is unknown is never sent again, and
    /// several resources under the name are never chosen between.
    pub names_unique: bool,
    /// The portal renames a resource by its id: a changed name of an object bound by id is
    /// applied in place instead of being refused.
    pub can_rename: bool,
}

/// What the object's status recorded of earlier reconciles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// The portal name the object is bound to (`status.externalName`).
    pub bound_name: Option<&'a str>,
    /// The portal id the object is bound to (`status.id`).
    pub id: Option<&'a str>,
    /// How the object came to hold the portal resource (`status.ownership`).
    pub ownership: Option<Ownership>,
    /// A create was sent (or was about to be) and its outcome is not known: `status.createRequestedAt`
    /// without an ownership.
    pub pending: bool,
    /// The create intent is recent enough to recover by name (see [`PENDING_TRUST`]).
    ///
    /// [`PENDING_TRUST`]: super::managed::PENDING_TRUST
    pub intent_fresh: bool,
    /// The create intent is so recent that the portal's lists may not show its resource yet
    /// (`--list-lag`).
    pub intent_unlisted_yet: bool,
    /// The portal accepted a delete that is not confirmed yet (`status.deleteRequestedAt`).
    pub delete_requested: bool,
}

impl Recorded<'_> {
    /// The object created or adopted the resource (its id may not be known yet).
    fn owns(&self) -> bool {
        matches!(
            self.ownership,
            Some(Ownership::Created | Ownership::Adopted)
        )
    }

    /// The name is this object's to look after: owned, or an ambiguous create still recent.
    fn claims(&self) -> bool {
        self.owns() || (self.pending && self.intent_fresh)
    }

    /// Some claim or binding is recorded, so the portal name cannot change any more.
    fn holds_name(&self) -> bool {
        self.ownership.is_some() || self.pending || self.id.is_some()
    }
}

/// What the portal showed of the wanted name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote<'a> {
    /// Listed, or found by name: it exists, with this id and name. `deleting`: its state says
    /// it is on its way out.
    Present {
        id: &'a str,
        name: &'a str,
        deleting: bool,
    },
    /// Not in a list. A hint only: lists lag behind writes and may be partial.
    Unlisted,
    /// The portal answered 404 for the name: it does not exist.
    Gone,
    /// Several resources go by the name (only where names are not unique), none bound to the
    /// object by its id.
    Several,
}

/// How a create is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateMode {
    /// Nothing of this name is claimed: record the intent, then create. A name conflict means
    /// someone else holds it.
    Fresh,
    /// An earlier create may have landed and the portal does not list it: send it again. A name
    /// conflict means the earlier one landed, and the name is ours.
    Resend,
    /// The resource this object owned is gone: record the intent, then create it again. A name
    /// conflict keeps the binding until a list shows whose the name is.
    Recreate,
}

/// Why the finalizer comes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// `deletionPolicy: Orphan` or `managementPolicy: Observe`: left in place on purpose.
    Orphaned,
    /// The portal confirmed the resource is gone.
    Deleted,
    /// The portal resource of that name was never this object's (or this object's is gone and
    /// someone else now holds the name): left in place.
    Foreign,
    /// The object never held anything at the portal: nothing to look at.
    NothingHeld,
}

/// More on an `AlreadyExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Someone else holds the name, and this object never did.
    ByOther,
    /// The resource this object owned is gone and a different one holds the name now.
    Replaced,
    /// This object asked for a create so long ago, without learning its outcome, that a resource
    /// of that name can no longer be told to be the one it asked for.
    IntentExpired,
    /// Several resources go by the name: none can be taken over, and none is this object's.
    Several,
    /// Another resource holds the name this object's would be renamed to.
    RenameTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Look at the shared list of the product, then decide again.
    Observe,
    /// Ask the portal about this one name, then decide again.
    LookUp,
    /// Paused by annotation: no portal calls at all.
    Paused,
    /// The wanted name differs from the one the object is bound to.
    NameChanged,
    /// The resource is this object's, bound by id, and its name (at the portal, or as
    /// recorded) is not the wanted one: rename it (unless another resource holds that name),
    /// then record the name.
    Rename,
    /// Put the finalizer on before the portal resource can exist.
    AddFinalizer,
    Create(CreateMode),
    /// The portal resource is this object's: mirror it into status. `adopted`: taken over now;
    /// `observed`: mirrored only (`managementPolicy: Observe`).
    Mirror {
        adopted: bool,
        observed: bool,
    },
    /// The resource is this object's but not listed yet: look again shortly.
    WaitListed,
    /// The name is taken by a resource this object may not take.
    AlreadyExists(Taken),
    /// `managementPolicy: Observe` and nothing of that name at the portal.
    NotFound,
    /// A create whose answer was lost cannot be told to have landed or not (no resource, or
    /// several, under the name once the lists had their time), and the portal would take a second
    /// one: stop for a person to decide, never create again.
    OutcomeUnknown,
    /// Ask the portal to delete the resource.
    Delete,
    /// The portal is deleting it: look again shortly.
    WaitDeleted,
    /// Remove the finalizer.
    Release(Release),
    /// Being deleted and already released: nothing to do.
    Nothing,
}

/// Decides the next step. `remote` is `None` until the portal has been looked at; a decision
/// that needs the portal is then [`Decision::Observe`].
pub fn decide(desired: &Desired, recorded: &Recorded, remote: Option<Remote>) -> Decision {
    if desired.deleting {
        return decide_deletion(desired, recorded, remote);
    }
    if desired.paused {
        return Decision::Paused;
    }
    if recorded.holds_name()
        && recorded
            .bound_name
            .is_some_and(|bound| bound != desired.name)
        && !renames(desired, recorded)
    {
        return Decision::NameChanged;
    }
    let managing = desired.policy == ManagementPolicy::Manage;
    if managing && !desired.has_finalizer {
        return Decision::AddFinalizer;
    }
    let Some(remote) = remote else {
        return Decision::Observe;
    };
    if managing {
        decide_managed(desired, recorded, remote)
    } else {
        decide_observed(desired, remote)
    }
}

/// The object may rename its resource: it manages one it holds, bound by id, at a portal that
/// renames by id.
fn renames(desired: &Desired, recorded: &Recorded) -> bool {
    desired.can_rename
        && desired.policy == ManagementPolicy::Manage
        && recorded.owns()
        && recorded.id.is_some()
}

fn decide_managed(desired: &Desired, recorded: &Recorded, remote: Remote) -> Decision {
    let mirror = Decision::Mirror {
        adopted: false,
        observed: false,
    };
    if !desired.names_unique && recorded.pending {
        return recover_by_name(recorded, remote);
    }
    match remote {
        Remote::Present { id, name, .. } => {
            if recorded.owns() {
                match recorded.id {
                    Some(bound) if bound != id => Decision::AlreadyExists(Taken::Replaced),
                    Some(_)
                        if renames(desired, recorded)
                            && (name != desired.name
                                || recorded.bound_name != Some(desired.name)) =>
                    {
                        Decision::Rename
                    }
                    _ => mirror,
                }
            } else if recorded.claims() {
                mirror
            } else if desired.adopt {
                Decision::Mirror {
                    adopted: true,
                    observed: false,
                }
            } else if recorded.pending {
                Decision::AlreadyExists(Taken::IntentExpired)
            } else {
                Decision::AlreadyExists(Taken::ByOther)
            }
        }
        Remote::Unlisted if recorded.claims() => {
            if desired.can_look_up {
                Decision::LookUp
            } else if recorded.owns() && recorded.intent_fresh {
                // Created (or accepted, or found to be ours) a moment ago: lists lag behind.
                Decision::WaitListed
            } else if recorded.pending && recorded.intent_unlisted_yet {
                // An unanswered create may have landed: give the lists their time before
                // asking again.
                Decision::WaitListed
            } else if recorded.owns() && recorded.id.is_some() {
                Decision::Create(CreateMode::Recreate)
            } else {
                Decision::Create(CreateMode::Resend)
            }
        }
        Remote::Unlisted => Decision::Create(CreateMode::Fresh),
        Remote::Gone if recorded.owns() => Decision::Create(CreateMode::Recreate),
        Remote::Gone => Decision::Create(CreateMode::Fresh),
        Remote::Several => Decision::AlreadyExists(Taken::Several),
    }
}

/// A create of this object's went unanswered, at a portal that takes any number of resources
/// under one name: the rule of [`recovery`](super::recovery) (one is found; none or several
/// wait out the list lag, then are unknown), and one seen only after the intent expired is unknown.
fn recover_by_name(recorded: &Recorded, remote: Remote) -> Decision {
    match remote {
        Remote::Present { .. } if recorded.intent_fresh => Decision::Mirror {
            adopted: false,
            observed: false,
        },
        Remote::Unlisted | Remote::Several if recorded.intent_unlisted_yet => Decision::WaitListed,
        Remote::Present { .. } | Remote::Unlisted | Remote::Gone | Remote::Several => {
            Decision::OutcomeUnknown
        }
    }
}

fn decide_observed(desired: &Desired, remote: Remote) -> Decision {
    match remote {
        Remote::Present { .. } => Decision::Mirror {
            adopted: false,
            observed: true,
        },
        Remote::Unlisted if desired.can_look_up => Decision::LookUp,
        Remote::Unlisted | Remote::Gone => Decision::NotFound,
        Remote::Several => Decision::AlreadyExists(Taken::Several),
    }
}

fn decide_deletion(desired: &Desired, recorded: &Recorded, remote: Option<Remote>) -> Decision {
    if !desired.has_finalizer {
        return Decision::Nothing;
    }
    if desired.paused {
        return Decision::Paused;
    }
    if desired.policy == ManagementPolicy::Observe || desired.deletion == DeletionPolicy::Orphan {
        return Decision::Release(Release::Orphaned);
    }
    if !recorded.claims() {
        return Decision::Release(Release::NothingHeld);
    }
    let Some(remote) = remote else {
        return Decision::Observe;
    };
    match remote {
        Remote::Gone => Decision::Release(Release::Deleted),
        Remote::Present { id, .. }
            if recorded.owns() && recorded.id.is_some_and(|bound| bound != id) =>
        {
            Decision::Release(Release::Foreign)
        }
        Remote::Present { deleting: true, .. } if recorded.delete_requested => {
            Decision::WaitDeleted
        }
        Remote::Unlisted if recorded.delete_requested && desired.can_look_up => Decision::LookUp,
        // Which of them the unanswered create made cannot be told: none is deleted.
        Remote::Several => Decision::Release(Release::Foreign),
        // Listed, or unlisted (a hint): the delete call's own 404 tells whether it is gone.
        Remote::Present { .. } | Remote::Unlisted => Decision::Delete,
    }
}

/// What the portal answered a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// The created resource, with its id.
    Created,
    /// 2xx without the resource (or without its id): accepted, not listed yet.
    Accepted,
    /// The name is taken (409, or 422 saying so).
    NameTaken,
    /// A definite refusal (400, 401, 402, 403, 422, 429 …): nothing was created.
    Refused,
    /// No answer, a 5xx, an unreadable answer: it may have been created.
    Unknown,
}

/// What follows a create call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCreate {
    /// Record the id and the ownership, and mirror the answer.
    Bound,
    /// The name is this object's, the id not known yet: record the ownership, look again shortly.
    Owned(Ownership),
    /// Someone else holds the name: drop the intent, report `AlreadyExists`.
    Taken,
    /// Report the error. `keep_intent`: an earlier create may still have landed.
    Failed { keep_intent: bool },
}

/// Decides what a create's answer means, given how it was sent.
pub fn after_create(mode: CreateMode, adopt: bool, outcome: CreateOutcome) -> AfterCreate {
    match (outcome, mode) {
        (CreateOutcome::Created, _) => AfterCreate::Bound,
        (CreateOutcome::Accepted, _) => AfterCreate::Owned(Ownership::Created),
        (CreateOutcome::NameTaken, CreateMode::Resend | CreateMode::Recreate) => {
            AfterCreate::Owned(Ownership::Created)
        }
        (CreateOutcome::NameTaken, CreateMode::Fresh) if adopt => {
            AfterCreate::Owned(Ownership::Adopted)
        }
        (CreateOutcome::NameTaken, CreateMode::Fresh) => AfterCreate::Taken,
        (CreateOutcome::Refused, CreateMode::Fresh | CreateMode::Recreate) => {
            AfterCreate::Failed { keep_intent: false }
        }
        (CreateOutcome::Refused, CreateMode::Resend) | (CreateOutcome::Unknown, _) => {
            AfterCreate::Failed { keep_intent: true }
        }
    }
}

/// What the portal answered a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// 2xx: accepted, not yet confirmed.
    Accepted,
    /// 404: gone.
    Gone,
    /// Anything else: report it and try again.
    Failed,
}

/// What follows a delete call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDelete {
    /// Record the accepted delete and look again shortly; the finalizer stays.
    Confirm,
    Release,
    Failed,
}

pub fn after_delete(outcome: DeleteOutcome) -> AfterDelete {
    match outcome {
        DeleteOutcome::Accepted => AfterDelete::Confirm,
        DeleteOutcome::Gone => AfterDelete::Release,
        DeleteOutcome::Failed => AfterDelete::Failed,
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
            can_look_up: true,
            names_unique: true,
            can_rename: false,
        }
    }

    const FRESH: Recorded = Recorded {
        bound_name: None,
        id: None,
        ownership: None,
        pending: false,
        intent_fresh: false,
        intent_unlisted_yet: false,
        delete_requested: false,
    };
    /// A create was sent a moment ago; its answer was lost.
    const PENDING: Recorded = Recorded {
        bound_name: Some("app"),
        pending: true,
        intent_fresh: true,
        ..FRESH
    };
    /// A create was sent a moment ago; the lists may not show its resource yet.
    const JUST_SENT: Recorded = Recorded {
        intent_unlisted_yet: true,
        ..PENDING
    };
    /// A create was asked for long ago and its outcome never learned.
    const EXPIRED: Recorded = Recorded {
        intent_fresh: false,
        ..PENDING
    };
    /// The portal accepted the create without naming the resource.
    const ACCEPTED: Recorded = Recorded {
        bound_name: Some("app"),
        ownership: Some(Ownership::Created),
        intent_fresh: true,
        ..FRESH
    };
    const CREATED: Recorded = Recorded {
        bound_name: Some("app"),
        id: Some("id-1"),
        ownership: Some(Ownership::Created),
        ..FRESH
    };
    const ADOPTED: Recorded = Recorded {
        ownership: Some(Ownership::Adopted),
        ..CREATED
    };
    const OBSERVED: Recorded = Recorded {
        ownership: Some(Ownership::Observed),
        ..CREATED
    };
    const DELETE_ACCEPTED: Recorded = Recorded {
        delete_requested: true,
        ..CREATED
    };
    const RECORDS: [Recorded<'static>; 9] = [
        FRESH,
        PENDING,
        JUST_SENT,
        EXPIRED,
        ACCEPTED,
        CREATED,
        ADOPTED,
        OBSERVED,
        DELETE_ACCEPTED,
    ];
    const OURS: Remote = Remote::Present {
        id: "id-1",
        name: "app",
        deleting: false,
    };
    const OURS_DELETING: Remote = Remote::Present {
        id: "id-1",
        name: "app",
        deleting: true,
    };
    /// Ours, renamed at the portal by someone.
    const OURS_RENAMED: Remote = Remote::Present {
        id: "id-1",
        name: "renamed",
        deleting: false,
    };
    const OTHER: Remote = Remote::Present {
        id: "id-2",
        name: "app",
        deleting: false,
    };
    const REMOTES: [Option<Remote<'static>>; 8] = [
        None,
        Some(OURS),
        Some(OURS_DELETING),
        Some(OURS_RENAMED),
        Some(OTHER),
        Some(Remote::Unlisted),
        Some(Remote::Gone),
        Some(Remote::Several),
    ];

    /// Every combination of the inputs, so the invariants below can't miss a state.
    fn all_states() -> Vec<(Desired<'static>, Recorded<'static>, Option<Remote<'static>>)> {
        let mut states = Vec::new();
        for policy in [Manage, Observe] {
            for deletion in [Delete, Orphan] {
                for flags in 0..=255u8 {
                    let desired = Desired {
                        policy,
                        deletion,
                        adopt: flags & 1 != 0,
                        paused: flags & 2 != 0,
                        deleting: flags & 4 != 0,
                        has_finalizer: flags & 8 != 0,
                        can_look_up: flags & 16 != 0,
                        names_unique: flags & 32 == 0,
                        can_rename: flags & 64 != 0,
                        name: if flags & 128 != 0 { "other" } else { "app" },
                    };
                    for recorded in RECORDS {
                        for remote in REMOTES {
                            states.push((desired, recorded, remote));
                        }
                    }
                }
            }
        }
        states
    }

    fn is_ours(recorded: &Recorded) -> bool {
        matches!(
            recorded.ownership,
            Some(Ownership::Created | Ownership::Adopted)
        ) || (recorded.pending && recorded.intent_fresh)
    }

    #[test]
    fn invariants_hold_in_every_state() {
        for (desired, recorded, remote) in all_states() {
            let decision = decide(&desired, &recorded, remote);
            let context = format!("{desired:?} {recorded:?} {remote:?} -> {decision:?}");
            if matches!(decision, Decision::Observe | Decision::LookUp) {
                assert!(
                    remote.is_none() || decision == Decision::LookUp,
                    "{context}"
                );
            }
            if decision == Decision::LookUp {
                assert!(desired.can_look_up, "no route to look up: {context}");
                assert!(
                    remote == Some(Remote::Unlisted),
                    "a look-up only where a list is silent: {context}"
                );
            }
            let portal_dependent = matches!(
                decision,
                Decision::Create(_)
                    | Decision::Delete
                    | Decision::Mirror { .. }
                    | Decision::WaitListed
                    | Decision::WaitDeleted
                    | Decision::AlreadyExists(_)
                    | Decision::NotFound
                    | Decision::Release(Release::Deleted | Release::Foreign)
            );
            if remote.is_none() {
                assert!(!portal_dependent, "decided without the portal: {context}");
            }
            let released = desired.deleting && !desired.has_finalizer;
            if desired.paused && !released {
                assert_eq!(decision, Decision::Paused, "{context}");
            }
            if matches!(decision, Decision::Create(_) | Decision::Delete) {
                assert_eq!(desired.policy, Manage, "Observe never writes: {context}");
                assert!(desired.has_finalizer, "finalizer first: {context}");
                assert!(!desired.paused, "{context}");
            }
            if remote == Some(Remote::Several) {
                assert!(
                    !matches!(
                        decision,
                        Decision::Create(_) | Decision::Mirror { .. } | Decision::Delete
                    ),
                    "never a guess between several: {context}"
                );
            }
            if let Decision::Create(mode) = decision
                && !desired.names_unique
            {
                assert!(
                    !recorded.pending,
                    "an unanswered create is never sent again where names repeat: {context}"
                );
                assert_ne!(mode, CreateMode::Resend, "{context}");
            }
            if decision == Decision::OutcomeUnknown {
                assert!(!desired.names_unique && recorded.pending, "{context}");
            }
            if let Decision::Create(mode) = decision {
                assert!(
                    !matches!(remote, Some(Remote::Present { .. }) | None),
                    "never create over a listed resource: {context}"
                );
                assert!(!desired.deleting, "{context}");
                if mode == CreateMode::Fresh {
                    assert!(
                        !is_ours(&recorded) || remote == Some(Remote::Gone),
                        "a claim on the name is resolved before a fresh create: {context}"
                    );
                } else {
                    assert!(is_ours(&recorded), "{context}");
                }
            }
            if decision == Decision::Delete {
                assert_eq!(desired.deletion, Delete, "{context}");
                assert!(desired.deleting, "{context}");
                assert!(is_ours(&recorded), "only our own is deleted: {context}");
                assert!(
                    remote != Some(OTHER) || recorded.id.is_none(),
                    "a resource with another id is not ours: {context}"
                );
            }
            if let Decision::Mirror {
                adopted, observed, ..
            } = decision
            {
                assert!(!adopted || desired.adopt, "{context}");
                assert!(!observed || desired.policy == Observe, "{context}");
                if desired.policy == Manage && !adopted {
                    assert!(
                        is_ours(&recorded),
                        "a resource is mirrored as ours only when the object holds it: {context}"
                    );
                }
            }
            if matches!(decision, Decision::WaitListed | Decision::WaitDeleted) {
                assert!(is_ours(&recorded), "{context}");
            }
            if decision == Decision::Rename {
                assert!(desired.can_rename, "{context}");
                assert_eq!(desired.policy, Manage, "Observe never renames: {context}");
                assert!(!desired.deleting && !desired.paused, "{context}");
                assert!(desired.has_finalizer, "{context}");
                assert!(
                    matches!(
                        recorded.ownership,
                        Some(Ownership::Created | Ownership::Adopted)
                    ),
                    "only its own is renamed: {context}"
                );
                assert!(
                    matches!(remote, Some(Remote::Present { id, .. }) if recorded.id == Some(id)),
                    "renamed by its recorded id only: {context}"
                );
            }
            if decision == Decision::NameChanged {
                assert!(
                    !desired.can_rename
                        || desired.policy == Observe
                        || recorded.id.is_none()
                        || !matches!(
                            recorded.ownership,
                            Some(Ownership::Created | Ownership::Adopted)
                        ),
                    "a resource bound by id is renamed, not refused: {context}"
                );
            }
            if decision == Decision::Release(Release::NothingHeld) {
                assert!(!is_ours(&recorded), "{context}");
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
            decide(&without, &FRESH, Some(Remote::Unlisted)),
            Decision::AddFinalizer
        );
        assert_eq!(
            decide(&desired(), &FRESH, Some(Remote::Unlisted)),
            Decision::Create(CreateMode::Fresh)
        );
    }

    #[test]
    fn a_refused_create_leaves_no_claim_so_a_later_resource_of_that_name_is_not_ours() {
        assert_eq!(
            after_create(CreateMode::Fresh, false, CreateOutcome::Refused),
            AfterCreate::Failed { keep_intent: false }
        );
        // With the intent dropped, the web UI's database of that name is someone else's.
        assert_eq!(
            decide(&desired(), &FRESH, Some(OTHER)),
            Decision::AlreadyExists(Taken::ByOther)
        );
        let deleting = Desired {
            deleting: true,
            ..desired()
        };
        assert_eq!(
            decide(&deleting, &FRESH, None),
            Decision::Release(Release::NothingHeld),
            "deleting the object never touches it"
        );
    }

    #[test]
    fn only_a_recent_ambiguous_create_is_recovered_by_name() {
        assert_eq!(
            decide(&desired(), &PENDING, Some(OTHER)),
            Decision::Mirror {
                adopted: false,
                observed: false
            }
        );
        assert_eq!(
            decide(&desired(), &EXPIRED, Some(OTHER)),
            Decision::AlreadyExists(Taken::IntentExpired)
        );
        let deleting = Desired {
            deleting: true,
            ..desired()
        };
        assert_eq!(
            decide(&deleting, &EXPIRED, None),
            Decision::Release(Release::NothingHeld)
        );
        assert_eq!(
            after_create(CreateMode::Fresh, false, CreateOutcome::Unknown),
            AfterCreate::Failed { keep_intent: true }
        );
    }

    #[test]
    fn where_names_repeat_an_unanswered_create_is_found_once_or_stops_at_outcome_unknown() {
        let repeating = Desired {
            names_unique: false,
            can_look_up: false,
            ..desired()
        };
        let mirror = Decision::Mirror {
            adopted: false,
            observed: false,
        };
        assert_eq!(decide(&repeating, &PENDING, Some(OURS)), mirror);
        assert_eq!(
            decide(&repeating, &JUST_SENT, Some(Remote::Several)),
            Decision::WaitListed,
            "the lists may still be catching up"
        );
        for remote in [Remote::Unlisted, Remote::Several] {
            assert_eq!(
                decide(&repeating, &PENDING, Some(remote)),
                Decision::OutcomeUnknown,
                "{remote:?}: neither a second create nor a guess"
            );
        }
        assert_eq!(
            decide(&repeating, &EXPIRED, Some(OURS)),
            Decision::OutcomeUnknown
        );
        assert_eq!(
            decide(&desired(), &PENDING, Some(Remote::Unlisted)),
            Decision::LookUp,
            "unique names keep their rule"
        );
        let adopting = Desired {
            adopt: true,
            ..repeating
        };
        assert_eq!(
            decide(&adopting, &FRESH, Some(Remote::Several)),
            Decision::AlreadyExists(Taken::Several),
            "nothing to take over among several"
        );
    }

    #[test]
    fn a_list_that_misses_a_claimed_resource_never_causes_a_fresh_create() {
        // With a look-up route, the portal is asked about the name.
        assert_eq!(
            decide(&desired(), &PENDING, Some(Remote::Unlisted)),
            Decision::LookUp
        );
        assert_eq!(
            decide(&desired(), &CREATED, Some(Remote::Unlisted)),
            Decision::LookUp
        );
        assert_eq!(
            decide(&desired(), &PENDING, Some(Remote::Gone)),
            Decision::Create(CreateMode::Fresh),
            "the earlier create certainly did not land"
        );
        assert_eq!(
            decide(&desired(), &CREATED, Some(Remote::Gone)),
            Decision::Create(CreateMode::Recreate)
        );
        // Without one, the create itself is the question, and a conflict keeps the claim.
        let no_look_up = Desired {
            can_look_up: false,
            ..desired()
        };
        assert_eq!(
            decide(&no_look_up, &PENDING, Some(Remote::Unlisted)),
            Decision::Create(CreateMode::Resend)
        );
        assert_eq!(
            decide(&no_look_up, &JUST_SENT, Some(Remote::Unlisted)),
            Decision::WaitListed,
            "the lists get their time before a create is sent again"
        );
        assert_eq!(
            decide(&no_look_up, &CREATED, Some(Remote::Unlisted)),
            Decision::Create(CreateMode::Recreate)
        );
        let just_created = Recorded {
            intent_fresh: true,
            ..CREATED
        };
        assert_eq!(
            decide(&no_look_up, &just_created, Some(Remote::Unlisted)),
            Decision::WaitListed,
            "a resource created a moment ago is waited for, not created again"
        );
        assert_eq!(
            decide(&no_look_up, &ACCEPTED, Some(Remote::Unlisted)),
            Decision::WaitListed,
            "an accepted create is waited for"
        );
        for mode in [CreateMode::Resend, CreateMode::Recreate] {
            assert_eq!(
                after_create(mode, false, CreateOutcome::NameTaken),
                AfterCreate::Owned(Ownership::Created)
            );
        }
        assert_eq!(
            after_create(CreateMode::Resend, false, CreateOutcome::Refused),
            AfterCreate::Failed { keep_intent: true },
            "a refused resend says nothing of the earlier create"
        );
    }

    #[test]
    fn a_taken_name_is_someone_elses_unless_adoption_is_on() {
        assert_eq!(
            after_create(CreateMode::Fresh, false, CreateOutcome::NameTaken),
            AfterCreate::Taken
        );
        assert_eq!(
            after_create(CreateMode::Fresh, true, CreateOutcome::NameTaken),
            AfterCreate::Owned(Ownership::Adopted),
            "adopted once, never asked for again"
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
        let adopted_unlisted = Recorded {
            ownership: Some(Ownership::Adopted),
            id: None,
            intent_fresh: true,
            ..ADOPTED
        };
        assert_eq!(
            decide(
                &Desired {
                    can_look_up: false,
                    ..adopting
                },
                &adopted_unlisted,
                Some(Remote::Unlisted)
            ),
            Decision::WaitListed
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
    fn an_observed_resource_is_not_owned_when_the_policy_turns_to_manage() {
        assert_eq!(
            decide(&desired(), &OBSERVED, Some(OURS)),
            Decision::AlreadyExists(Taken::ByOther)
        );
        let adopting = Desired {
            adopt: true,
            ..desired()
        };
        assert_eq!(
            decide(&adopting, &OBSERVED, Some(OURS)),
            Decision::Mirror {
                adopted: true,
                observed: false
            }
        );
    }

    #[test]
    fn a_resource_deleted_out_of_band_is_recreated_or_reported() {
        assert_eq!(
            decide(&desired(), &CREATED, Some(Remote::Gone)),
            Decision::Create(CreateMode::Recreate)
        );
        assert_eq!(
            decide(&desired(), &CREATED, Some(OTHER)),
            Decision::AlreadyExists(Taken::Replaced)
        );
        let observing = Desired {
            policy: Observe,
            ..desired()
        };
        assert_eq!(
            decide(&observing, &OBSERVED, Some(Remote::Unlisted)),
            Decision::LookUp
        );
        assert_eq!(
            decide(&observing, &OBSERVED, Some(Remote::Gone)),
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
            decide(&leaving, &OBSERVED, Some(OURS)),
            Decision::Release(Release::Orphaned)
        );
    }

    #[test]
    fn a_deletion_is_done_only_when_the_portal_says_gone() {
        let deleting = Desired {
            deleting: true,
            ..desired()
        };
        assert_eq!(decide(&deleting, &CREATED, None), Decision::Observe);
        assert_eq!(decide(&deleting, &CREATED, Some(OURS)), Decision::Delete);
        assert_eq!(decide(&deleting, &PENDING, Some(OTHER)), Decision::Delete);
        assert_eq!(
            decide(&deleting, &CREATED, Some(Remote::Unlisted)),
            Decision::Delete,
            "an unlisted resource is deleted by name: a 404 proves it gone"
        );
        assert_eq!(after_delete(DeleteOutcome::Accepted), AfterDelete::Confirm);
        assert_eq!(after_delete(DeleteOutcome::Gone), AfterDelete::Release);
        assert_eq!(
            decide(&deleting, &DELETE_ACCEPTED, Some(OURS_DELETING)),
            Decision::WaitDeleted
        );
        assert_eq!(
            decide(&deleting, &DELETE_ACCEPTED, Some(OURS)),
            Decision::Delete,
            "a delete the portal abandoned is asked for again"
        );
        assert_eq!(
            decide(&deleting, &DELETE_ACCEPTED, Some(Remote::Unlisted)),
            Decision::LookUp
        );
        assert_eq!(
            decide(&deleting, &DELETE_ACCEPTED, Some(Remote::Gone)),
            Decision::Release(Release::Deleted)
        );
        assert_eq!(
            decide(&deleting, &CREATED, Some(OTHER)),
            Decision::Release(Release::Foreign)
        );
        let orphaning = Desired {
            deletion: Orphan,
            ..deleting
        };
        assert_eq!(
            decide(&orphaning, &CREATED, None),
            Decision::Release(Release::Orphaned)
        );
    }

    #[test]
    fn the_portal_name_cannot_change_once_held() {
        let renamed = Desired {
            name: "other",
            ..desired()
        };
        for held in [PENDING, ACCEPTED, CREATED] {
            assert_eq!(
                decide(&renamed, &held, Some(Remote::Unlisted)),
                Decision::NameChanged
            );
        }
        let refused_before = Recorded {
            bound_name: Some("app"),
            ..FRESH
        };
        assert_eq!(
            decide(&renamed, &refused_before, Some(Remote::Unlisted)),
            Decision::Create(CreateMode::Fresh),
            "a name nothing was created under may still change"
        );
    }

    #[test]
    fn where_the_portal_renames_by_id_a_held_resource_is_renamed() {
        let renaming = Desired {
            name: "other",
            can_rename: true,
            names_unique: false,
            can_look_up: false,
            ..desired()
        };
        assert_eq!(decide(&renaming, &CREATED, None), Decision::Observe);
        assert_eq!(decide(&renaming, &CREATED, Some(OURS)), Decision::Rename);
        assert_eq!(decide(&renaming, &ADOPTED, Some(OURS)), Decision::Rename);
        let renamed_at_portal = Remote::Present {
            id: "id-1",
            name: "other",
            deleting: false,
        };
        assert_eq!(
            decide(&renaming, &CREATED, Some(renamed_at_portal)),
            Decision::Rename,
            "renamed, the name not recorded yet (a crash in between): recorded now"
        );
        let bound_to_other = Recorded {
            bound_name: Some("other"),
            ..CREATED
        };
        assert_eq!(
            decide(&renaming, &bound_to_other, Some(renamed_at_portal)),
            Decision::Mirror {
                adopted: false,
                observed: false
            }
        );
        let as_asked = Desired {
            name: "app",
            ..renaming
        };
        assert_eq!(
            decide(&as_asked, &CREATED, Some(OURS_RENAMED)),
            Decision::Rename,
            "a name changed at the portal is set back"
        );
        assert_eq!(
            decide(&renaming, &CREATED, Some(OTHER)),
            Decision::AlreadyExists(Taken::Replaced)
        );
        for held in [PENDING, ACCEPTED, OBSERVED] {
            assert_eq!(
                decide(&renaming, &held, Some(OURS)),
                Decision::NameChanged,
                "{held:?}: no id of its own to rename by"
            );
        }
        let observing = Desired {
            policy: Observe,
            ..renaming
        };
        assert_eq!(
            decide(&observing, &CREATED, Some(OURS)),
            Decision::NameChanged
        );
    }

    #[test]
    fn paused_objects_make_no_calls_even_when_deleted() {
        let paused = Desired {
            paused: true,
            ..desired()
        };
        assert_eq!(
            decide(&paused, &CREATED, Some(Remote::Gone)),
            Decision::Paused
        );
        let paused_deleting = Desired {
            deleting: true,
            ..paused
        };
        assert_eq!(
            decide(&paused_deleting, &CREATED, Some(OURS)),
            Decision::Paused
        );
    }
}
