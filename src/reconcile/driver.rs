//! The reconcile every portal kind shares: observe → decide → act → report. The decisions,
//! including what each portal answer means, are [`plan`](super::plan)'s; this is the IO around
//! them.

use kube::ResourceExt;
use kube::runtime::controller::Action;

use crate::api::Ownership;
use crate::http::{PortalError, Session};
use crate::reconcile::lifecycle::Lifecycle;

use super::bindings::{BindingKey, Claim};
use super::conditions::{self, SYNCED, Wanted};
use super::connection;
use super::context::Context;
use super::credentials::Located;
use super::error::Error;
use super::kind::{HasManagedStatus, Held, PortalKind};
use super::managed::{self, Capabilities, ObjectState};
use super::plan::{
    AfterCreate, AfterDelete, CreateMode, CreateOutcome, Decision, DeleteOutcome, Recorded,
    Release, Remote, after_create, after_delete, decide,
};
use super::report;
use super::shell::{Run, object_key};
use super::tokens::TokenLocation;

/// What the portal showed of the object's name.
enum Seen<R> {
    Present(R),
    Unlisted,
    Gone,
    /// Several under the name, none bound by id (where names repeat).
    Several,
    /// Missing from a list that may predate it, taken while the credential's budget goes to
    /// writes: no news, look again later.
    NotYet,
}

impl<R> Seen<R> {
    fn as_plan<K: PortalKind<Remote = R>>(&self) -> Remote<'_> {
        match self {
            Seen::Present(remote) => Remote::Present {
                id: K::remote_id(remote),
                name: K::remote_name(remote),
                deleting: Lifecycle::of(K::remote_state(remote)) == Lifecycle::Deleting,
            },
            Seen::Unlisted => Remote::Unlisted,
            Seen::Gone => Remote::Gone,
            Seen::Several => Remote::Several,
            Seen::NotYet => unreachable!("no decision is made without news"),
        }
    }
}

fn object_state<'a, K: PortalKind>(
    ctx: &Context,
    object: &'a K,
    status: &'a K::Status,
) -> ObjectState<'a> {
    ObjectState::of(
        object,
        (object.managed_spec(), object.wanted_name()),
        Some(status.managed()),
        Capabilities {
            can_look_up: K::LOOK_UP.is_some(),
            names_unique: K::NAMES_UNIQUE,
            can_delete: K::CAN_DELETE,
            can_rename: K::RENAMES_BY_ID && !K::NAMES_UNIQUE,
        },
        ctx.timing.list_lag,
    )
}

pub async fn drive<K: PortalKind>(run: &mut Run<'_, K>) -> Result<Action, Error> {
    let object = run.object;
    let status = run.status().clone();
    let state = object_state(run.ctx, object, &status);
    let (desired, recorded) = (state.desired(), state.recorded());
    if !desired.deleting {
        // Bad input costs nothing: refused before any portal call.
        object.check_parameters()?;
        if !desired.paused
            && let Some(action) = K::prepare(run).await?
        {
            return Ok(action);
        }
    }
    let mut decision = decide(&desired, &recorded, None);
    let mut seen = Seen::Unlisted;
    let mut client = None;
    if decision == Decision::Observe
        && binding(run.ctx, object).is_some_and(|claim| run.ctx.bindings.taken_from(&claim))
    {
        if desired.deleting {
            return release(run, &state, Release::Foreign).await;
        }
        return Err(Error::AlreadyBound {
            noun: K::NOUN,
            name: state.lookup_name().to_owned(),
        });
    }
    if decision == Decision::Observe {
        let portal = credentials(run, &state).await?;
        let resync_requested = run
            .ctx
            .resync_requests
            .is_new(&object_key(object), state.resync_request());
        seen = observe::<K>(run, &portal, &state, resync_requested).await?;
        if matches!(seen, Seen::NotYet) {
            return Ok(Action::requeue(run.ctx.timing.poll));
        }
        decision = decide(&desired, &recorded, Some(seen.as_plan::<K>()));
        if decision == Decision::LookUp {
            seen = look_up::<K>(&portal, state.lookup_name()).await?;
            decision = decide(&desired, &recorded, Some(seen.as_plan::<K>()));
        }
        client = Some(portal);
    }
    tracing::debug!(kind = K::NOUN, object = %object.name_any(), ?decision, "decided");
    let needs_portal = || client.as_ref().expect("the portal was looked at");

    match decision {
        Decision::Observe | Decision::LookUp => unreachable!("decide was given the remote"),
        Decision::Paused => paused(run).await,
        Decision::NameChanged => Err(managed::name_changed(&state, K::NAME_FIELD)),
        Decision::AddFinalizer => {
            protect_credentials(run, &state).await?;
            report::add_finalizer(&run.api, object).await?;
            Ok(Action::await_change())
        }
        Decision::Create(mode) => create(run, &state, &recorded, needs_portal(), mode).await,
        Decision::Rename => {
            let Seen::Present(remote) = &seen else {
                unreachable!("a rename needs the remote")
            };
            rename(run, &state, needs_portal(), remote).await
        }
        Decision::Mirror { adopted, observed } => {
            let Seen::Present(remote) = &seen else {
                unreachable!("mirror needs the remote")
            };
            let name = K::remote_name(remote);
            if adopted {
                let note = format!("took over the existing portal {} '{name}'", K::NOUN);
                run.publish(false, "Adopted", note).await;
            } else if observed && recorded.id.is_none() {
                let note = format!("observing the portal {} '{name}'", K::NOUN);
                run.publish(false, "Observed", note).await;
            }
            let ownership = mirrored_ownership(&recorded, adopted, observed);
            let held = Held {
                remote,
                ownership,
                fresh: false,
            };
            mirror(run, &state, needs_portal(), held).await
        }
        Decision::WaitListed => {
            let new = managed::unlisted(
                status.managed(),
                state.lookup_name(),
                run.generation(),
                recorded.ownership,
                K::NOUN,
            );
            write_managed(run, new).await?;
            Ok(Action::requeue(run.ctx.timing.poll))
        }
        Decision::AlreadyExists(taken) => Err(Error::AlreadyExists {
            name: state.lookup_name().to_owned(),
            taken,
        }),
        Decision::NotFound => Err(Error::NotFoundToObserve {
            name: state.lookup_name().to_owned(),
        }),
        Decision::OutcomeUnknown => Err(Error::OutcomeUnknown {
            noun: K::NOUN,
            name: state.lookup_name().to_owned(),
            seen: match seen {
                Seen::Several => "several of that name",
                Seen::Present(_) => "one of that name, seen only long after the create",
                _ => "none of that name",
            },
        }),
        Decision::Delete => {
            let remote = match &seen {
                Seen::Present(remote) => Some(remote),
                Seen::Unlisted | Seen::Gone | Seen::Several | Seen::NotYet => None,
            };
            delete(run, &state, needs_portal(), remote).await
        }
        Decision::WaitDeleted => {
            let message = format!(
                "the portal is deleting the {} '{}'",
                K::NOUN,
                state.lookup_name()
            );
            let new = managed::delete_accepted(status.managed(), run.generation(), message);
            write_managed(run, new).await?;
            Ok(Action::requeue(run.ctx.timing.poll))
        }
        Decision::Release(why) => release(run, &state, why).await,
        Decision::Nothing => Ok(Action::await_change()),
    }
}

/// The object's claim on its portal resource (see [`Bindings`](super::bindings::Bindings));
/// `None` while its credentials cannot be found (it reaches no portal then).
pub fn binding<K: PortalKind>(ctx: &Context, object: &K) -> Option<Claim> {
    let status = object.status().cloned().unwrap_or_default();
    let state = object_state(ctx, object, &status);
    let recorded = state.recorded();
    let located = located_of(ctx, object).ok()?;
    let namespace = object.namespace().unwrap_or_default();
    Some(Claim {
        key: BindingKey {
            credentials: located.secret,
            product: K::NOUN,
            name: state.lookup_name().to_owned(),
            within: object
                .parent()
                .map(|parent| format!("{namespace}/{parent}")),
        },
        uid: uid(object),
        namespace,
        created: object.meta().creation_timestamp.as_ref().map(|t| t.0),
        recorded: recorded.ownership.is_some() || recorded.pending || recorded.id.is_some(),
    })
}

/// The ProviderConfig an object uses while it holds the operator's finalizer (it may need it to
/// delete its portal resource).
pub fn provider_config_user<K: PortalKind>(object: &K) -> Option<String> {
    let holds = object
        .finalizers()
        .iter()
        .any(|f| f == crate::api::FINALIZER);
    let name = object
        .managed_spec()
        .provider_config_ref
        .as_ref()?
        .name
        .clone();
    holds.then_some(name)
}

fn located_of<K: PortalKind>(ctx: &Context, object: &K) -> Result<Located, Error> {
    managed::located(
        ctx,
        object,
        K::PROVIDER,
        object.managed_spec().credential_refs(),
    )
}

/// The ownership a mirrored resource is recorded with.
fn mirrored_ownership(recorded: &Recorded, adopted: bool, observed: bool) -> Ownership {
    match recorded.ownership {
        _ if adopted => Ownership::Adopted,
        Some(ownership @ (Ownership::Created | Ownership::Adopted)) => ownership,
        _ if observed => Ownership::Observed,
        // An unanswered create of this object's: the resource is what it created.
        _ => Ownership::Created,
    }
}

/// The portal client for the object's token, noting which Secret version it came from.
async fn credentials<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
) -> Result<Session, Error> {
    let ctx = run.ctx;
    let located = located_of(ctx, run.object)?;
    let credential = run.credential(&located).await?;
    let token = credential.token?;
    if state.desired().has_finalizer
        && !state.desired().deleting
        && own_secret(run.object).is_some()
        && !credential
            .finalizers
            .contains(&super::tokens::in_use_finalizer(&uid(run.object)))
    {
        protect_credentials(run, state).await?;
    }
    Ok(ctx.portal.session(&located.portal, token))
}

/// The token Secret in the object's own namespace, if it names one.
fn own_secret<K: PortalKind>(object: &K) -> Option<TokenLocation> {
    let reference = object.managed_spec().token_secret_ref.as_ref()?;
    let namespace = object.namespace().unwrap_or_default();
    Some(TokenLocation::of_reference(&namespace, reference))
}

fn uid<K: PortalKind>(object: &K) -> String {
    object.uid().unwrap_or_default()
}

/// Puts this object's in-use finalizer on its own token Secret, so that the Secret outlives the
/// portal resource it is needed to delete (a namespace deleted as a whole deletes both at once).
async fn protect_credentials<K: PortalKind>(
    run: &Run<'_, K>,
    state: &ObjectState<'_>,
) -> Result<(), Error> {
    if state.desired().policy != crate::api::ManagementPolicy::Manage {
        return Ok(());
    }
    let Some(location) = own_secret(run.object) else {
        return Ok(());
    };
    match run.ctx.tokens.protect(&location, &uid(run.object)).await {
        Ok(()) => Ok(()),
        // Missing: the token read reports it. Being deleted: no finalizer can be added any more.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 422 => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// The portal resource under the object's name, from the shared snapshot. Where status says it
/// should exist but the snapshot lacks it, a snapshot taken now is looked at too (the one held
/// may predate the resource), unless the budget goes to writes: then it is no news yet.
/// Absence from lists stays a hint ([`Seen::Unlisted`]). Where names repeat, the lists are kept
/// by id: the object's resource is found by its recorded id, and by name only before it has one;
/// and a name is found free only on a list taken now.
async fn observe<K: PortalKind>(
    run: &Run<'_, K>,
    client: &Session,
    state: &ObjectState<'_>,
    resync_requested: bool,
) -> Result<Seen<K::Remote>, Error> {
    let ctx = run.ctx;
    let object = run.object;
    let name = state.lookup_name();
    let bound_id = state.recorded().id.filter(|_| !K::NAMES_UNIQUE);
    let part = object.list_part();
    let list = || listed::<K>(client, part);
    let find = |snapshot: &super::snapshot::Snapshot<K::Remote>| {
        if K::NAMES_UNIQUE {
            return snapshot
                .by_name
                .get(name)
                .cloned()
                .map_or(Seen::Unlisted, Seen::Present);
        }
        if let Some(id) = bound_id {
            return snapshot
                .by_name
                .get(id)
                .cloned()
                .map_or(Seen::Unlisted, Seen::Present);
        }
        let mut candidates = snapshot
            .by_name
            .values()
            .filter(|remote| object.is_candidate(remote, name));
        match (candidates.next(), candidates.next()) {
            (None, _) => Seen::Unlisted,
            (Some(only), None) => Seen::Present(only.clone()),
            (Some(_), Some(_)) => Seen::Several,
        }
    };
    let snapshots = K::snapshots(ctx);
    let busy_writing = client.busy_writing();
    let not_before = state.snapshot_not_before(&ctx.timing, resync_requested, busy_writing);
    let key = snapshot_key(client, part);
    let seen = find(&*snapshots.get(key, not_before, list).await?);
    // Where names repeat, the portal would take a second resource of a name already in use:
    // a fresh create is decided on a list taken now, never on an older one.
    let decides_a_create = !K::NAMES_UNIQUE && !state.expects_remote();
    if !matches!(seen, Seen::Unlisted)
        || !(state.expects_remote() || decides_a_create)
        || resync_requested
    {
        return Ok(seen);
    }
    if busy_writing {
        return Ok(Seen::NotYet);
    }
    let confirmed = snapshots
        .get(key, tokio::time::Instant::now(), list)
        .await?;
    Ok(find(&confirmed))
}

/// One part of the product's list, each resource under its [`list_key`].
async fn listed<K: PortalKind>(
    client: &Session,
    part: &'static str,
) -> Result<Vec<(String, K::Remote)>, PortalError> {
    let items = K::list(client, part).await?;
    Ok(items
        .into_iter()
        .map(|item| (list_key::<K>(&item).to_owned(), item))
        .collect())
}

/// What a listed resource is kept under in the shared snapshot: its name, or where names
/// repeat its id.
fn list_key<K: PortalKind>(remote: &K::Remote) -> &str {
    if K::NAMES_UNIQUE {
        K::remote_name(remote)
    } else {
        K::remote_id(remote)
    }
}

/// The snapshot of one part of a product's list, as one credential at one portal sees it.
fn snapshot_key(client: &Session, part: &str) -> u64 {
    if part.is_empty() {
        return client.fingerprint();
    }
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&(client.fingerprint(), part), &mut hasher);
    std::hash::Hasher::finish(&hasher)
}

/// Asks the portal about the one name (only kinds with a route for it get here).
async fn look_up<K: PortalKind>(client: &Session, name: &str) -> Result<Seen<K::Remote>, Error> {
    let look_up = K::LOOK_UP.expect("decide asks for a look-up only where the portal has one");
    Ok(match look_up(client, name).await? {
        Some(found) => Seen::Present(found),
        None => Seen::Gone,
    })
}

async fn create<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
    recorded: &Recorded<'_>,
    client: &Session,
    mode: CreateMode,
) -> Result<Action, Error> {
    let object = run.object;
    let name = state.lookup_name().to_owned();
    K::check_name(&name)?;
    if mode == CreateMode::Recreate && recorded.id.is_some() {
        let note = format!(
            "the portal {} '{name}' was deleted outside Kubernetes: creating it again",
            K::NOUN
        );
        run.publish(true, "Recreating", note).await;
    }
    // The permit first, then the intent, then the request: the intent is recorded right before
    // the create leaves, and only if the object did not change since it was read (after a crash
    // the name is recognised as this object's for a while, see managed::PENDING_TRUST).
    client.reserve_write().await;
    if mode != CreateMode::Resend {
        let current = run.status().managed().clone();
        let intent = managed::intent(&current, &name, run.generation(), mode == CreateMode::Fresh);
        write_managed(run, intent).await?;
    }
    let answer = object.create(client, &name).await;
    let outcome = match &answer {
        Ok(Some(remote)) if !K::remote_id(remote).is_empty() => CreateOutcome::Created,
        Ok(_) => CreateOutcome::Accepted,
        Err(PortalError::AlreadyExists { .. }) => CreateOutcome::NameTaken,
        // A 2xx whose body could not be read: the portal acted.
        Err(PortalError::Decode { .. }) => CreateOutcome::Accepted,
        Err(error) if error.is_refusal() => CreateOutcome::Refused,
        Err(_) => CreateOutcome::Unknown,
    };
    let adopt = object.managed_spec().adopt_existing();
    match after_create(mode, adopt, outcome) {
        AfterCreate::Bound => {
            let remote = answer.ok().flatten().expect("created with the resource");
            let note = format!(
                "created the portal {} '{name}' {}",
                K::NOUN,
                object.describe()
            );
            run.publish(false, "Created", note).await;
            let status = run.status().clone();
            let held = Held {
                remote: &remote,
                ownership: Ownership::Created,
                fresh: true,
            };
            mirror(run, &object_state(run.ctx, object, &status), client, held).await
        }
        AfterCreate::Owned(ownership) => {
            let (reason, note) = match (ownership, outcome) {
                (Ownership::Adopted, _) => (
                    "Adopted",
                    format!("took over the existing portal {} '{name}'", K::NOUN),
                ),
                (_, CreateOutcome::NameTaken) => (
                    "Recovered",
                    format!(
                        "the portal {} '{name}' exists: an earlier create of this object's landed",
                        K::NOUN
                    ),
                ),
                _ => (
                    "Created",
                    format!(
                        "the portal accepted the create of the {} '{name}' {}",
                        K::NOUN,
                        object.describe()
                    ),
                ),
            };
            run.publish(false, reason, note).await;
            let current = run.status().managed().clone();
            let new =
                managed::unlisted(&current, &name, run.generation(), Some(ownership), K::NOUN);
            write_managed(run, new).await?;
            Ok(Action::requeue(run.ctx.timing.poll))
        }
        AfterCreate::Taken => {
            let current = run.status().managed().clone();
            write_managed(run, managed::intent_dropped(&current)).await?;
            Err(Error::AlreadyExists {
                name,
                taken: super::plan::Taken::ByOther,
            })
        }
        AfterCreate::Failed { keep_intent } => {
            if !keep_intent {
                let current = run.status().managed().clone();
                write_managed(run, managed::intent_dropped(&current)).await?;
            }
            match answer {
                Err(error) => Err(error.into()),
                Ok(_) => unreachable!("a failed create is an error"),
            }
        }
    }
}

/// Renames the object's own resource (bound by id) to the wanted name, unless another resource
/// that could be taken for it holds that name on a list taken now (the portal would take the
/// second one: `AlreadyExists`, nothing sent); then records the name. One renamed already (the
/// record lost to a crash) only has its name recorded.
async fn rename<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
    client: &Session,
    remote: &K::Remote,
) -> Result<Action, Error> {
    let object = run.object;
    let name = state.desired().name.to_owned();
    K::check_name(&name)?;
    let before = K::remote_name(remote).to_owned();
    if before != name {
        let part = object.list_part();
        let now = tokio::time::Instant::now();
        let snapshots = K::snapshots(run.ctx);
        let fresh = snapshots
            .get(snapshot_key(client, part), now, || {
                listed::<K>(client, part)
            })
            .await?;
        let ours = K::remote_id(remote);
        let taken = fresh
            .by_name
            .values()
            .any(|other| K::remote_id(other) != ours && object.is_candidate(other, &name));
        if taken {
            return Err(Error::AlreadyExists {
                name,
                taken: super::plan::Taken::RenameTarget,
            });
        }
        client.reserve_write().await;
        object.rename(client, remote, &name).await?;
        snapshots.outdate(snapshot_key(client, part)).await;
        let note = format!("renamed the portal {} '{before}' to '{name}'", K::NOUN);
        run.publish(false, "Renamed", note).await;
    }
    let mut managed = run.status().managed().clone();
    managed.external_name = Some(name);
    write_managed(run, managed).await?;
    Ok(Action::requeue(run.ctx.timing.poll))
}

async fn mirror<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
    client: &Session,
    held: Held<'_, K::Remote>,
) -> Result<Action, Error> {
    let Held {
        remote, ownership, ..
    } = held;
    let object = run.object;
    let ctx = run.ctx;
    let current = run.status().clone();
    let raw_state = K::remote_state(remote);
    let lifecycle = Lifecycle::of(raw_state);
    let drift = object.drift(remote);
    let mut wanted = vec![managed::ready_from(lifecycle, raw_state, K::NOUN)];
    if drift.is_empty() {
        let message = format!("the portal {} matches the spec", K::NOUN);
        wanted.push(Wanted::synced(true, "Synced", message));
    } else {
        let message = format!(
            "{}: the portal cannot change a {} in place; revert the spec, or create a new object",
            drift.join("; "),
            K::NOUN
        );
        if conditions::find(&current.managed().conditions, SYNCED)
            .is_none_or(|c| c.reason != "UpdateNotSupported")
        {
            run.publish(true, "UpdateNotSupported", message.clone())
                .await;
        }
        wanted.push(Wanted::synced(false, "UpdateNotSupported", message));
    }
    if lifecycle == Lifecycle::Ready
        && let (Some(target), Some(details)) = (
            object
                .managed_spec()
                .write_connection_secret_to_ref
                .as_ref(),
            K::connection(remote),
        )
    {
        connection::write(ctx, object, &target.name, &details, Default::default()).await?;
    }
    let mut status = K::mirrored(remote, current.managed().clone());
    let mut look_again = managed::look_again_after(lifecycle, &ctx.timing);
    let converges = match lifecycle {
        Lifecycle::Ready | Lifecycle::Stopped => true,
        Lifecycle::Failed => K::CONVERGES_WHEN_FAILED,
        Lifecycle::InProgress | Lifecycle::Deleting => false,
    };
    if converges {
        let converged = K::converge(run, client, held, &mut status).await?;
        if converged.conditions.iter().any(|c| c.type_ == SYNCED) {
            wanted.retain(|c| c.type_ != SYNCED);
        }
        wanted.extend(converged.conditions);
        if let Some(within) = converged.look_again_within {
            look_again = look_again.min(within);
        }
    }
    *status.managed_mut() = managed::mirrored(
        current.managed(),
        state,
        run.generation(),
        (K::remote_id(remote), raw_state),
        &wanted,
        ownership,
    );
    run.write(status).await?;
    Ok(Action::requeue(look_again))
}

async fn delete<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
    client: &Session,
    seen: Option<&K::Remote>,
) -> Result<Action, Error> {
    let name = state.lookup_name();
    // Recorded first: the write is refused if the object changed since it was read, so no delete
    // is sent on a stale copy of the object.
    client.reserve_write().await;
    let current = run.status().managed().clone();
    let asking = format!("asking the portal to delete the {} '{name}'", K::NOUN);
    write_managed(run, managed::deleting(&current, run.generation(), asking)).await?;
    let outcome = match run.object.delete(client, name, seen).await {
        Ok(()) => DeleteOutcome::Accepted,
        Err(PortalError::NotFound { .. }) => DeleteOutcome::Gone,
        Err(error) => {
            debug_assert_eq!(after_delete(DeleteOutcome::Failed), AfterDelete::Failed);
            return Err(error.into());
        }
    };
    match after_delete(outcome) {
        AfterDelete::Confirm => {
            let message = format!(
                "the portal accepted the deletion of the {} '{name}': waiting until it is gone",
                K::NOUN
            );
            let current = run.status().managed().clone();
            write_managed(
                run,
                managed::delete_accepted(&current, run.generation(), message),
            )
            .await?;
            Ok(Action::requeue(run.ctx.timing.poll))
        }
        AfterDelete::Release => release(run, state, Release::Deleted).await,
        AfterDelete::Failed => unreachable!("returned above"),
    }
}

/// Removes the finalizer, saying why. What the object held at the portal is recorded as gone
/// first, and its token Secret let go next: a crash in between leaves an object that needs no
/// portal call (nor its token) to be released.
async fn release<K: PortalKind>(
    run: &mut Run<'_, K>,
    state: &ObjectState<'_>,
    why: Release,
) -> Result<Action, Error> {
    let name = state.lookup_name().to_owned();
    let noun = K::NOUN;
    let (reason, note) = match why {
        Release::Orphaned if !K::CAN_DELETE => (
            "Orphaned",
            format!(
                "the portal has no way to delete a {noun}: left the portal {noun} '{name}' in place; delete it in the portal's own console if it is no longer wanted"
            ),
        ),
        Release::Orphaned => (
            "Orphaned",
            format!(
                "left the portal {noun} '{name}' in place (deletionPolicy: Orphan or managementPolicy: Observe)"
            ),
        ),
        Release::Foreign => (
            "LeftInPlace",
            format!("the portal {noun} '{name}' is not this object's: left in place"),
        ),
        Release::Deleted => ("Deleted", format!("deleted the portal {noun} '{name}'")),
        Release::NothingHeld => (
            "Released",
            format!("this object held no portal {noun}: nothing to delete"),
        ),
    };
    if why == Release::Deleted {
        let current = run.status().managed().clone();
        let new = managed::nothing_held(&current, run.generation(), note.clone());
        write_managed(run, new).await?;
    }
    if let Some(location) = own_secret(run.object) {
        run.ctx.tokens.release(&location, &uid(run.object)).await?;
    }
    run.publish(false, reason, note).await;
    report::remove_finalizer(&run.api, run.object).await?;
    tracing::info!(object = %run.object.name_any(), reason, "released");
    Ok(Action::await_change())
}

async fn paused<K: PortalKind>(run: &mut Run<'_, K>) -> Result<Action, Error> {
    let mut new = run.status().clone();
    let generation = run.generation();
    let managed = new.managed_mut();
    managed.conditions = managed::paused_conditions(&managed.conditions, generation);
    run.write(new).await?;
    Ok(Action::await_change())
}

/// Writes the kind's status with `managed` as its shared part.
async fn write_managed<K: PortalKind>(
    run: &mut Run<'_, K>,
    managed: crate::api::ManagedStatus,
) -> Result<(), Error> {
    let mut new = run.status().clone();
    *new.managed_mut() = managed;
    run.write(new).await
}
