//! What every managed kind's reconcile shares around the pure decision: reading the object's
//! state, where its token is, and building its status.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Resource;
use tokio::time::Instant;

use super::lifecycle::Lifecycle;
use crate::api::{
    DeletionPolicy, FINALIZER, ManagedSpec, ManagedStatus, ManagementPolicy, Ownership,
    PAUSED_ANNOTATION, Provider, RECONCILE_REQUESTED_ANNOTATION,
};

use super::conditions::{self, READY, SYNCED, Wanted};
use super::context::{Context, Timing};
use super::credentials::{CredentialRefs, Located, locate};
use super::error::Error;
use super::plan::{Desired, Recorded};

/// How long after a create was asked for a resource of that name may still be taken for its
/// outcome, when the answer was never learned. The intent is written right before the request
/// leaves (after the limiter's wait), and a create lands within its attempts (four at most, 30 s
/// each, with their pauses) plus the time the portal's lists take to show it; after this, an
/// unanswered create cannot be told from someone else's resource of that name.
pub const PENDING_TRUST: Duration = Duration::from_secs(15 * 60);

/// How old a snapshot objects in progress accept while their credential's budget goes to writes
/// (a wave of creates or deletes): every list taken then is a create or delete fewer. A look
/// that decides something (whether a claimed resource is gone) still takes a list now, and a
/// new object's create is safe on an older list: the portal refuses (HTX) or reports (WaysCloud)
/// a name that exists.
pub const BUSY_POLL: Duration = Duration::from_secs(30);

/// What a kind's portal can do, as the decision needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// A GET route answers for one name (404 with authority).
    pub can_look_up: bool,
    /// A second resource under a taken name is refused (see `PortalKind::NAMES_UNIQUE`).
    pub names_unique: bool,
    /// A delete route exists: without one, deleting an object always orphans its resource.
    pub can_delete: bool,
    /// A resource is renamed by its id (see `PortalKind::RENAMES_BY_ID`).
    pub can_rename: bool,
}

/// The parts of an object the decision reads.
pub struct ObjectState<'a> {
    wanted_name: String,
    spec: &'a ManagedSpec,
    status: Option<&'a ManagedStatus>,
    paused: bool,
    deleting: bool,
    has_finalizer: bool,
    capabilities: Capabilities,
    /// `--list-lag`: how long a new resource may be missing from the portal's lists.
    list_lag: Duration,
    resync_request: Option<String>,
}

impl<'a> ObjectState<'a> {
    pub fn of<K: Resource>(
        object: &'a K,
        (spec, wanted_name): (&'a ManagedSpec, String),
        status: Option<&'a ManagedStatus>,
        capabilities: Capabilities,
        list_lag: Duration,
    ) -> Self {
        let meta = object.meta();
        Self {
            wanted_name,
            spec,
            status,
            paused: is_paused(object),
            deleting: meta.deletion_timestamp.is_some(),
            has_finalizer: meta
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == FINALIZER)),
            capabilities,
            list_lag,
            resync_request: resync_request(object).map(str::to_owned),
        }
    }

    pub fn desired(&self) -> Desired<'_> {
        Desired {
            name: &self.wanted_name,
            policy: self.spec.management_policy(),
            deletion: if self.capabilities.can_delete {
                self.spec.deletion_policy()
            } else {
                DeletionPolicy::Orphan
            },
            adopt: self.spec.adopt_existing(),
            paused: self.paused,
            deleting: self.deleting,
            has_finalizer: self.has_finalizer,
            can_look_up: self.capabilities.can_look_up,
            names_unique: self.capabilities.names_unique,
            can_rename: self.capabilities.can_rename,
        }
    }

    pub fn recorded(&self) -> Recorded<'_> {
        let Some(status) = self.status else {
            return Recorded::default();
        };
        let ownership = status.ownership.or_else(|| self.legacy_ownership());
        let requested = status.create_requested_at.as_ref().map(|t| t.0);
        Recorded {
            bound_name: status.external_name.as_deref(),
            id: status.id.as_deref(),
            ownership,
            pending: requested.is_some() && ownership.is_none(),
            intent_fresh: requested.is_some_and(|at| younger_than(at, PENDING_TRUST)),
            intent_unlisted_yet: requested.is_some_and(|at| younger_than(at, self.list_lag)),
            delete_requested: status.delete_requested_at.is_some(),
        }
    }

    /// Status written before ownership was recorded: an id with a create intent was created by
    /// the object; an id without one was adopted (Manage) or observed.
    fn legacy_ownership(&self) -> Option<Ownership> {
        let status = self.status?;
        status.id.as_ref()?;
        Some(if status.create_requested_at.is_some() {
            Ownership::Created
        } else if self.spec.management_policy() == ManagementPolicy::Manage {
            Ownership::Adopted
        } else {
            Ownership::Observed
        })
    }

    /// The portal name to look at: the bound one once the object holds one.
    pub fn lookup_name(&self) -> &str {
        let recorded = self.recorded();
        let holds = recorded.ownership.is_some() || recorded.pending || recorded.id.is_some();
        match recorded.bound_name {
            Some(bound) if holds => bound,
            _ => &self.wanted_name,
        }
    }

    /// Status says the portal resource should exist.
    pub fn expects_remote(&self) -> bool {
        let recorded = self.recorded();
        recorded.id.is_some()
            || recorded.pending
            || matches!(
                recorded.ownership,
                Some(Ownership::Created | Ownership::Adopted)
            )
    }

    /// The oldest portal snapshot this reconcile may decide on. Objects that are Ready and in
    /// sync accept one as old as the resync interval; the others (new, creating, failing,
    /// deleting) want one no older than the poll interval, or [`BUSY_POLL`] while the
    /// credential's budget goes to writes; a new `reconcile-requested-at` wants one taken now.
    pub fn snapshot_not_before(
        &self,
        timing: &Timing,
        resync_requested: bool,
        busy_writing: bool,
    ) -> Instant {
        let now = Instant::now();
        let settled = self.status.is_some_and(|s| {
            conditions::is_true(&s.conditions, READY) && conditions::is_true(&s.conditions, SYNCED)
        });
        let max_age = if resync_requested {
            Duration::ZERO
        } else if settled && !self.deleting {
            timing.resync
        } else if busy_writing {
            timing.poll.max(BUSY_POLL)
        } else {
            timing.poll
        };
        now.checked_sub(max_age).unwrap_or(now)
    }

    /// The `reconcile-requested-at` annotation's value, if any.
    pub fn resync_request(&self) -> Option<&str> {
        self.resync_request.as_deref()
    }
}

/// `at` is less than `age` ago.
fn younger_than(at: Timestamp, age: Duration) -> bool {
    let age = SignedDuration::try_from(age).unwrap_or(SignedDuration::MAX);
    Timestamp::now().duration_since(at) < age
}

/// `htx.vinacis.com/paused: "true"`: no portal calls for the object.
pub fn is_paused<K: Resource>(object: &K) -> bool {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// The `reconcile-requested-at` annotation's value, if any.
pub fn resync_request<K: Resource>(object: &K) -> Option<&str> {
    object
        .meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(RECONCILE_REQUESTED_ANNOTATION))
        .map(String::as_str)
}

/// Where the calls of an object of `provider` naming `refs` go (see [`locate`]).
pub fn located<K: Resource>(
    ctx: &Context,
    object: &K,
    provider: Provider,
    refs: CredentialRefs,
) -> Result<Located, Error> {
    let namespace = object.meta().namespace.as_deref().unwrap_or_default();
    locate(
        &ctx.defaults,
        &ctx.provider_configs,
        namespace,
        provider,
        refs,
    )
}

pub fn name_changed(state: &ObjectState, field: &str) -> Error {
    Error::InvalidSpec {
        reason: "ExternalNameImmutable",
        message: format!(
            "{field} asks for '{}' but this object is bound to the portal resource '{}', and the name cannot change: set it back",
            state.desired().name,
            state.lookup_name()
        ),
    }
}

/// The status recorded just before a create call: the intent, and the name it claims. A fresh
/// create holds nothing else; a re-creation keeps the binding it had.
pub fn intent(
    current: &ManagedStatus,
    name: &str,
    generation: Option<i64>,
    fresh: bool,
) -> ManagedStatus {
    let now = Timestamp::now();
    let (ownership, id) = if fresh {
        (None, None)
    } else {
        (current.ownership, current.id.clone())
    };
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &current.conditions,
            &[Wanted::ready(
                false,
                "Creating",
                format!("asking the portal to create '{name}'"),
            )],
            generation,
            now,
        ),
        external_name: Some(name.to_owned()),
        id,
        ownership,
        state: current.state.clone().filter(|_| !fresh),
        create_requested_at: Some(Time(now)),
        delete_requested_at: None,
        last_sync_time: current.last_sync_time.clone(),
    }
}

/// The status once the portal definitely refused a create: no claim on the name is left.
pub fn intent_dropped(current: &ManagedStatus) -> ManagedStatus {
    let holds = current.ownership.is_some() || current.id.is_some();
    ManagedStatus {
        create_requested_at: None,
        external_name: current.external_name.clone().filter(|_| holds),
        ..current.clone()
    }
}

/// The status while the portal's lists do not show a resource the object claims: one that is its
/// own (`ownership`: the portal accepted the create without naming it, or the name turned out to
/// be ours), or one an unanswered create may have made (`None`: nothing is owned yet).
pub fn unlisted(
    current: &ManagedStatus,
    name: &str,
    generation: Option<i64>,
    ownership: Option<Ownership>,
    noun: &str,
) -> ManagedStatus {
    let message = match ownership {
        Some(_) => {
            format!(
                "the portal {noun} '{name}' is this object's; waiting for the portal to list it"
            )
        }
        None => format!(
            "the answer to the create of the portal {noun} '{name}' was lost: waiting for the portal's lists to show whether it was made before asking again"
        ),
    };
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &current.conditions,
            &[Wanted::ready(false, "Creating", message)],
            generation,
            Timestamp::now(),
        ),
        external_name: Some(name.to_owned()),
        ownership: ownership.or(current.ownership),
        ..current.clone()
    }
}

/// The status while the object is being deleted at the portal.
pub fn deleting(
    current: &ManagedStatus,
    generation: Option<i64>,
    message: String,
) -> ManagedStatus {
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &current.conditions,
            &[Wanted::ready(false, "Deleting", message)],
            generation,
            Timestamp::now(),
        ),
        ..current.clone()
    }
}

/// The status once the portal accepted the deletion; the finalizer stays until it is gone.
pub fn delete_accepted(
    current: &ManagedStatus,
    generation: Option<i64>,
    message: String,
) -> ManagedStatus {
    ManagedStatus {
        delete_requested_at: current
            .delete_requested_at
            .clone()
            .or_else(|| Some(Time(Timestamp::now()))),
        ..deleting(current, generation, message)
    }
}

/// The status once the portal confirmed the resource gone: nothing is held any more, so the
/// release that follows needs no portal call, even after a crash.
pub fn nothing_held(
    current: &ManagedStatus,
    generation: Option<i64>,
    message: String,
) -> ManagedStatus {
    ManagedStatus {
        id: None,
        ownership: None,
        create_requested_at: None,
        delete_requested_at: None,
        ..deleting(current, generation, message)
    }
}

/// The Ready condition for a portal status string.
pub fn ready_from(lifecycle: Lifecycle, raw: &str, noun: &str) -> Wanted {
    match lifecycle {
        Lifecycle::Ready => Wanted::ready(true, "Available", format!("the {noun} is {raw}")),
        Lifecycle::Stopped => Wanted::ready(
            false,
            "Suspended",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
        Lifecycle::InProgress => Wanted::ready(
            false,
            "Creating",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
        Lifecycle::Deleting => Wanted::ready(
            false,
            "Deleting",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
        Lifecycle::Failed => Wanted::ready(
            false,
            "Failed",
            format!("the portal reports the {noun} as '{raw}'"),
        ),
    }
}

/// The shared status after mirroring a portal resource the object holds as `ownership`.
pub fn mirrored(
    current: &ManagedStatus,
    state: &ObjectState,
    generation: Option<i64>,
    (id, raw_state): (&str, &str),
    wanted: &[Wanted],
    ownership: Ownership,
) -> ManagedStatus {
    ManagedStatus {
        observed_generation: generation,
        conditions: conditions::merge(&current.conditions, wanted, generation, Timestamp::now()),
        external_name: Some(state.lookup_name().to_owned()),
        id: if id.is_empty() {
            current.id.clone()
        } else {
            Some(id.to_owned())
        },
        ownership: Some(ownership),
        state: Some(raw_state.to_owned()),
        create_requested_at: current.create_requested_at.clone(),
        delete_requested_at: current.delete_requested_at.clone(),
        last_sync_time: current.last_sync_time.clone(),
    }
}

/// The conditions after a failed reconcile, for any kind: Synced says why; Ready too, unless
/// it was True.
pub fn failed_conditions(
    current: &[Condition],
    generation: Option<i64>,
    error: &Error,
) -> Vec<Condition> {
    let message = error.to_string();
    let mut wanted = vec![Wanted::synced(false, error.reason(), message.clone())];
    if !conditions::is_true(current, READY) {
        wanted.push(Wanted::ready(false, error.reason(), message));
    }
    conditions::merge(current, &wanted, generation, Timestamp::now())
}

/// How soon to look again after mirroring.
pub fn look_again_after(lifecycle: Lifecycle, timing: &Timing) -> Duration {
    match lifecycle {
        Lifecycle::InProgress | Lifecycle::Deleting => timing.poll,
        Lifecycle::Ready | Lifecycle::Stopped | Lifecycle::Failed => timing.resync,
    }
}

/// The conditions of a paused object.
pub fn paused_conditions(current: &[Condition], generation: Option<i64>) -> Vec<Condition> {
    let wanted = [Wanted::ready(
        false,
        "Paused",
        format!(
            "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no portal calls are made"
        ),
    )];
    conditions::merge(current, &wanted, generation, Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_an_unanswered_create_owns_nothing_yet() {
        let pending = ManagedStatus {
            create_requested_at: Some(Time(Timestamp::now())),
            ..ManagedStatus::default()
        };
        let waiting = unlisted(&pending, "app", Some(1), None, "function");
        assert_eq!(waiting.ownership, None, "a lost answer is not an ownership");
        assert!(waiting.create_requested_at.is_some());
        let owned = unlisted(
            &pending,
            "app",
            Some(1),
            Some(Ownership::Created),
            "function",
        );
        assert_eq!(owned.ownership, Some(Ownership::Created));
    }
}
