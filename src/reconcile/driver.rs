//! The reconcile every portal kind shares: observe → decide → act → report.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::portal::{Lifecycle, PortalError, TokenClient};

use super::conditions::{self, SYNCED, Wanted};
use super::connection;
use super::context::Context;
use super::error::Error;
use super::kind::{HasManagedStatus, PortalKind};
use super::managed::{self, ObjectState};
use super::plan::{Decision, Remote, decide};
use super::report::{self, publish, write_status};
use super::tokens::Wake;

pub async fn reconcile<K: PortalKind>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<K> = Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    let result = drive(&*object, &api, &ctx).await;
    match &result {
        Ok(_) => ctx.failures.reset(&object_key(&*object)),
        Err(error) => report_error(&*object, &api, &ctx, error).await,
    }
    result
}

/// Requeues a failed object after a backoff that grows with its consecutive failures (every
/// kind's error policy).
pub fn error_policy<K: kube::Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let delay = ctx.failures.record(
        object_key(&*object),
        object.meta().generation,
        error.category(),
    );
    tracing::info!(
        kind = K::kind(&()).as_ref(),
        object = %object.name_any(),
        reason = error.reason(),
        retry_in_s = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

pub fn object_key<K: kube::Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.name_any()
    )
}

fn current_status<K: PortalKind>(object: &K) -> K::Status {
    object.status().cloned().unwrap_or_default()
}

fn object_state<K: PortalKind>(object: &K) -> ObjectState<'_> {
    ObjectState::of(
        object,
        object.managed_spec(),
        object.status().map(|s| s.managed()),
    )
}

async fn drive<K: PortalKind>(object: &K, api: &Api<K>, ctx: &Context) -> Result<Action, Error> {
    let state = object_state(object);
    let (desired, recorded) = (state.desired(), state.recorded());
    let decision = match decide(&desired, &recorded, None) {
        Decision::Observe => None,
        decision => Some(decision),
    };
    let (client, remote) = match decision {
        Some(_) => (None, None),
        None => {
            let client = managed::token_client(ctx, object, object.managed_spec()).await?;
            let resync_requested = ctx
                .resync_requests
                .is_new(&object_key(object), state.resync_request());
            let remote = observe::<K>(ctx, &client, &state, resync_requested).await?;
            (Some(client), remote)
        }
    };
    let decision = decision.unwrap_or_else(|| {
        let remote = match &remote {
            Some(found) => Remote::Present {
                id: K::remote_id(found),
            },
            None => Remote::Absent,
        };
        decide(&desired, &recorded, Some(remote))
    });
    tracing::debug!(kind = K::NOUN, object = %object.name_any(), ?decision, "decided");

    match decision {
        Decision::Observe => unreachable!("decide was given the remote"),
        Decision::Paused => managed::paused(object, api, current_status(object)).await,
        Decision::NameChanged { bound } => Err(managed::name_changed(&state, &bound)),
        Decision::AddFinalizer => {
            report::add_finalizer(api, object).await?;
            Ok(Action::await_change())
        }
        Decision::Create { recreate } => {
            let client = client.expect("observed before deciding to create");
            create(object, api, ctx, &client, &state, recreate).await
        }
        Decision::Mirror { adopted, observed } => {
            let remote = remote.expect("mirror needs the remote");
            let name = K::remote_name(&remote);
            if adopted {
                let note = format!("took over the existing portal {} '{name}'", K::NOUN);
                publish(ctx, object, false, "Adopted", note).await;
            } else if observed && recorded.id.is_none() {
                let note = format!("observing the portal {} '{name}'", K::NOUN);
                publish(ctx, object, false, "Observed", note).await;
            }
            mirror(object, api, ctx, &state, &remote).await
        }
        Decision::AlreadyExists => Err(Error::AlreadyExists {
            name: state.lookup_name().to_owned(),
        }),
        Decision::NotFound => Err(Error::NotFoundToObserve {
            name: state.lookup_name().to_owned(),
        }),
        Decision::Delete => {
            let client = client.expect("observed before deciding to delete");
            delete(object, api, ctx, &client, &state).await
        }
        Decision::Release { orphaned, foreign } => {
            managed::release(object, api, ctx, state.lookup_name(), orphaned, foreign).await
        }
        Decision::Nothing => Ok(Action::await_change()),
    }
}

/// The portal resource under the object's name, from the shared snapshot. Where status says it
/// should exist but the snapshot lacks it, a snapshot taken now confirms the absence: the one
/// held may predate the resource.
async fn observe<K: PortalKind>(
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
    resync_requested: bool,
) -> Result<Option<K::Remote>, Error> {
    let name = state.lookup_name();
    let list = || async {
        let items = K::list(client).await?;
        Ok(items
            .into_iter()
            .map(|item| (K::remote_name(&item).to_owned(), item))
            .collect())
    };
    let snapshots = K::snapshots(ctx);
    let not_before = state.snapshot_not_before(&ctx.timing, resync_requested);
    let snapshot = snapshots
        .get(client.fingerprint(), not_before, list)
        .await?;
    if let Some(found) = snapshot.by_name.get(name) {
        return Ok(Some(found.clone()));
    }
    if !state.expects_remote() || resync_requested {
        return Ok(None);
    }
    let confirmed = snapshots
        .get(client.fingerprint(), tokio::time::Instant::now(), list)
        .await?;
    Ok(confirmed.by_name.get(name).cloned())
}

async fn create<K: PortalKind>(
    object: &K,
    api: &Api<K>,
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
    recreate: bool,
) -> Result<Action, Error> {
    let name = state.lookup_name();
    managed::check_portal_name(state)?;
    if recreate {
        let note = format!(
            "the portal {} '{name}' was deleted outside Kubernetes: creating it again",
            K::NOUN
        );
        publish(ctx, object, true, "Recreating", note).await;
    }
    // The intent goes to status before the call: after a crash the name is recognised as ours.
    let mut status = current_status(object);
    *status.managed_mut() = managed::intent(status.managed(), name, object.meta().generation);
    write_status(api, object, &status).await?;

    match object.create(client, name).await {
        Ok(created) => {
            let note = format!(
                "created the portal {} '{name}' {}",
                K::NOUN,
                object.describe()
            );
            publish(ctx, object, false, "Created", note).await;
            match created {
                Some(remote) => {
                    let mut fresh = object.clone();
                    *fresh.status_mut() = Some(status);
                    let state = object_state(&fresh);
                    mirror(&fresh, api, ctx, &state, &remote).await
                }
                None => Ok(Action::requeue(ctx.timing.poll)),
            }
        }
        Err(PortalError::AlreadyExists { .. }) => {
            // Taken by someone else between the look-up and the create: not ours.
            status.managed_mut().create_requested_at = None;
            write_status(api, object, &status).await?;
            if object.managed_spec().adopt_existing() {
                return Ok(Action::requeue(Duration::ZERO));
            }
            Err(Error::AlreadyExists {
                name: name.to_owned(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

async fn mirror<K: PortalKind>(
    object: &K,
    api: &Api<K>,
    ctx: &Context,
    state: &ObjectState<'_>,
    remote: &K::Remote,
) -> Result<Action, Error> {
    let current = current_status(object);
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
            publish(ctx, object, true, "UpdateNotSupported", message.clone()).await;
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
        connection::write(ctx, object, &target.name, &details).await?;
    }
    let managed = managed::mirrored(
        current.managed(),
        state,
        object.meta().generation,
        (K::remote_id(remote), raw_state),
        &wanted,
    );
    let status = K::mirrored(remote, managed);
    managed::write_if_changed(api, object, &current, status, object.meta().generation).await?;
    Ok(managed::requeue_for(lifecycle, &ctx.timing))
}

async fn delete<K: PortalKind>(
    object: &K,
    api: &Api<K>,
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
) -> Result<Action, Error> {
    let name = state.lookup_name();
    match K::delete(client, name).await {
        Ok(()) | Err(PortalError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    let note = format!("deleted the portal {} '{name}'", K::NOUN);
    publish(ctx, object, false, "Deleted", note).await;
    report::remove_finalizer(api, object).await?;
    Ok(Action::await_change())
}

async fn report_error<K: PortalKind>(object: &K, api: &Api<K>, ctx: &Context, error: &Error) {
    if error.waits_on_token() {
        let location = managed::token_location(ctx, object, object.managed_spec());
        ctx.token_waits.wait_for_change(location, Wake::of(object));
    }
    publish(ctx, object, true, error.reason(), error.to_string()).await;
    // The reconcile may have written status before it failed (the intent to create, above all):
    // build on what is stored now, not on the object as the reconcile found it.
    let stored = match api.get_status(&object.name_any()).await {
        Ok(stored) => stored,
        Err(read_error) => {
            tracing::warn!(object = %object.name_any(), error = %read_error, "could not read status");
            return;
        }
    };
    let current = current_status(&stored);
    let mut status = current.clone();
    *status.managed_mut() = managed::failed(current.managed(), stored.meta().generation, error);
    if status != current
        && let Err(write_error) = write_status(api, &stored, &status).await
    {
        tracing::warn!(object = %object.name_any(), error = %write_error, "could not write status");
    }
}
