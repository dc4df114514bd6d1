//! The WaysSnapshot reconcile: find the database and its credentials, take one snapshot (once,
//! also across a crash: see [`snapshot_plan`](super::snapshot_plan)), then check now and then
//! that the portal still holds it. With `deletionPolicy: Delete` the object's deletion deletes
//! it there, 404 counting as done. Snapshots have no name the caller chooses, so this is not a
//! [`PortalKind`](crate::reconcile::PortalKind).

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tokio::time::Instant;

use crate::api::{
    DeletionPolicy, FINALIZER, PAUSED_ANNOTATION, SnapshotPhase, WaysSnapshot, WaysSnapshotStatus,
};
use crate::http::{PortalError, Session};
use crate::reconcile::conditions::{self, READY, Wanted};
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::managed;
use crate::reconcile::recovery::{Recovery, recover, within_lag};
use crate::reconcile::report;
use crate::reconcile::shell::{Reconciled, Run, StatusParts, object_key};

use super::client::{self as portal, NewSnapshot, Ways, assumed::portal_time};
use super::snapshot_plan::{self, ours};
use super::source::{Resolved, Target, recorded_target, resolve};

impl Reconciled for WaysSnapshot {
    type Status = WaysSnapshotStatus;

    fn status(&self) -> Option<&WaysSnapshotStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &WaysSnapshotStatus) -> &[Condition] {
        &status.conditions
    }

    fn parts(status: &mut WaysSnapshotStatus) -> StatusParts<'_> {
        StatusParts {
            observed_generation: &mut status.observed_generation,
            last_sync_time: &mut status.last_sync_time,
            conditions: &mut status.conditions,
        }
    }

    fn failed(status: &mut WaysSnapshotStatus, generation: Option<i64>, error: &Error) {
        status.conditions = managed::failed_conditions(&status.conditions, generation, error);
        status.phase = status.phase.or(Some(SnapshotPhase::Pending));
    }

    fn drive(run: &mut Run<'_, Self>) -> impl Future<Output = Result<Action, Error>> + Send {
        drive(run)
    }
}

async fn drive(run: &mut Run<'_, WaysSnapshot>) -> Result<Action, Error> {
    let object = run.object;
    let ctx = run.ctx;
    if object.meta().deletion_timestamp.is_some() {
        return finalize(run).await;
    }
    let finished = run.status().phase.is_some_and(SnapshotPhase::is_final);
    let resync = ctx
        .resync_requests
        .is_new(&object_key(object), managed::resync_request(object));
    if finished && !resync {
        return Ok(Action::await_change());
    }
    if managed::is_paused(object) {
        let message = format!(
            "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no portal calls are made"
        );
        let mut status = run.status_with(&[Wanted::ready(false, "Paused", message)]);
        status.phase = status.phase.or(Some(SnapshotPhase::Pending));
        run.write(status).await?;
        return Ok(Action::await_change());
    }
    if !object.finalizers().iter().any(|f| f == FINALIZER) {
        // Before anything can exist at the portal: deletion then always passes through here.
        report::add_finalizer(&run.api, object).await?;
        return Ok(Action::await_change());
    }
    let status = run.status().clone();
    let recorded = recorded(&status);
    let target = match recorded {
        Some((db_type, db_name)) => {
            recorded_target(ctx, object, &object.spec.source, db_type, db_name).await?
        }
        None => match resolve(ctx, object, &object.spec.source).await? {
            Resolved::Target(target) => target,
            Resolved::Waiting(message) => return wait(run, message).await,
        },
    };
    let client = run.session(&target.located).await?;
    if let Some(id) = status.snapshot_id.clone() {
        return match observe(ctx, &client, &target, &id, resync).await? {
            Some(found) => mirror(run, &target, &found).await,
            None => missing(run, &target, &id).await,
        };
    }
    if let Some(requested_at) = status.requested_at.clone() {
        return find_asked(run, &client, &target, requested_at.0).await;
    }
    request(run, &client, &target).await
}

/// The database recorded with the request, once there is one.
fn recorded(status: &WaysSnapshotStatus) -> Option<(crate::api::DbType, &str)> {
    let asked = status.snapshot_id.is_some() || status.requested_at.is_some();
    Some((status.db_type?, status.database_name.as_deref()?)).filter(|_| asked)
}

/// Pending until the database is Ready: look again every poll interval.
async fn wait(run: &mut Run<'_, WaysSnapshot>, message: String) -> Result<Action, Error> {
    let reason = "DatabaseNotReady";
    let already =
        conditions::find(&run.status().conditions, READY).is_some_and(|c| c.reason == reason);
    if !already {
        run.publish(false, reason, message.clone()).await;
    }
    let mut status = run.status_with(&[Wanted::ready(false, reason, message)]);
    status.phase = Some(SnapshotPhase::Pending);
    run.write(status).await?;
    Ok(Action::requeue(run.ctx.timing.poll))
}

fn uid(object: &WaysSnapshot) -> String {
    object.uid().unwrap_or_default()
}

/// Records the intent, then asks the portal for the snapshot, once.
async fn request(
    run: &mut Run<'_, WaysSnapshot>,
    client: &Session,
    target: &Target,
) -> Result<Action, Error> {
    let object = run.object;
    let db_name = target.db_name.as_str();
    let description = snapshot_plan::description(
        object.spec.description.as_deref(),
        &object.namespace().unwrap_or_default(),
        &object.name_any(),
        &uid(object),
    );
    // The permit first, then the intent: the intent is written right before the request leaves,
    // and only if the object is as this reconcile read it.
    client.reserve_write().await;
    let message = format!("asking the portal for a snapshot of database '{db_name}'");
    let mut intent = run.status_with(&[Wanted::ready(false, "Requesting", message)]);
    intent.phase = Some(SnapshotPhase::Pending);
    intent.database_name = Some(db_name.to_owned());
    intent.db_type = Some(target.db_type);
    intent.description = Some(description.clone());
    let requested_at = Timestamp::now();
    intent.requested_at = Some(Time(requested_at));
    run.write(intent).await?;

    let body = NewSnapshot {
        description: &description,
    };
    match Ways(client)
        .create_snapshot(target.db_type.as_str(), db_name, &body)
        .await
    {
        Ok(Some(taken)) if !taken.snapshot_id.is_empty() => {
            let note = format!(
                "took snapshot {} of database '{db_name}'",
                taken.snapshot_id
            );
            run.publish(false, "Created", note).await;
            mirror(run, target, &taken).await
        }
        Err(error) if error.is_refusal() => {
            // The portal certainly took no snapshot: no intent is left behind.
            let mut status = run.status().clone();
            status.requested_at = None;
            status.description = None;
            run.write(status).await?;
            Err(error.into())
        }
        // Accepted without naming it, or the answer was lost or unreadable: it may exist, and is
        // looked for by its description, never asked for again.
        Ok(_) | Err(_) => find_asked(run, client, target, requested_at).await,
    }
}

/// The request was sent (or was about to be) and its answer never recorded: find the snapshot
/// carrying this object's identity.
async fn find_asked(
    run: &mut Run<'_, WaysSnapshot>,
    client: &Session,
    target: &Target,
    requested_at: Timestamp,
) -> Result<Action, Error> {
    let db_name = target.db_name.as_str();
    let listed = list(client, target).await?;
    let uid = uid(run.object);
    let found = ours(&listed, &uid);
    match recover(&found, within_lag(requested_at, run.ctx.timing.list_lag)) {
        Recovery::Found(snapshot) => {
            let note = format!(
                "found snapshot {} of database '{db_name}', asked for before its answer was recorded: not asking again",
                snapshot.snapshot_id
            );
            run.publish(false, "Recovered", note).await;
            mirror(run, target, snapshot).await
        }
        Recovery::Wait => {
            let message = format!(
                "the answer to the request for a snapshot of database '{db_name}' was not received: waiting for the portal to list it (up to --list-lag) before anything else"
            );
            let mut status = run.status_with(&[Wanted::ready(false, "Requesting", message)]);
            status.phase = Some(SnapshotPhase::Pending);
            run.write(status).await?;
            Ok(Action::requeue(run.ctx.timing.poll))
        }
        Recovery::Unknown => {
            let ids: Vec<&str> = found.iter().map(|s| s.snapshot_id.as_str()).collect();
            let seen = match ids.as_slice() {
                [] if !snapshot_plan::lists_descriptions(&listed) => {
                    "the portal lists no snapshot descriptions, so the snapshot this object asked for cannot be recognised".to_owned()
                }
                [] => format!(
                    "the portal lists no snapshot whose description carries this object's identity ({})",
                    snapshot_plan::identity(&uid)
                ),
                ids => format!(
                    "the portal lists several snapshots carrying this object's identity ({})",
                    ids.join(", ")
                ),
            };
            let message = format!(
                "a snapshot of database '{db_name}' was asked for at {requested_at} and its answer was lost; {seen}, so whether it was taken cannot be told. \
                 The operator does not ask twice: check the database's snapshots at the portal, then delete this WaysSnapshot (and create a new one to ask again)"
            );
            if run.status().phase != Some(SnapshotPhase::OutcomeUnknown) {
                run.publish(true, "OutcomeUnknown", message.clone()).await;
            }
            let synced = Wanted::synced(true, "Synced", "the status is the portal's");
            let mut status =
                run.status_with(&[Wanted::ready(false, "OutcomeUnknown", message), synced]);
            status.phase = Some(SnapshotPhase::OutcomeUnknown);
            run.write(status).await?;
            Ok(Action::await_change())
        }
    }
}

/// The database's snapshots now; none when the database is gone (its snapshots went with it).
async fn list(client: &Session, target: &Target) -> Result<Vec<portal::Snapshot>, PortalError> {
    match Ways(client)
        .list_snapshots(target.db_type.as_str(), &target.db_name)
        .await
    {
        Err(PortalError::NotFound { .. }) => Ok(Vec::new()),
        answer => answer,
    }
}

/// The snapshot `id` from a shared list of the database's snapshots no older than the resync
/// interval (taken now for a resync request); one missing from it is looked for in a list taken
/// now before it counts as gone.
async fn observe(
    ctx: &Context,
    client: &Session,
    target: &Target,
    id: &str,
    fresh: bool,
) -> Result<Option<portal::Snapshot>, Error> {
    let mut hasher = DefaultHasher::new();
    (client.fingerprint(), target.db_type, &target.db_name).hash(&mut hasher);
    let key = hasher.finish();
    let fetch = || async {
        let listed = list(client, target).await?;
        Ok(listed
            .into_iter()
            .map(|s| (s.snapshot_id.clone(), s))
            .collect())
    };
    let now = Instant::now();
    let not_before = if fresh {
        now
    } else {
        now.checked_sub(ctx.timing.resync).unwrap_or(now)
    };
    let snapshots = &ctx.state::<super::WaysState>().snapshots;
    if let Some(found) = snapshots.get(key, not_before, fetch).await?.by_name.get(id) {
        return Ok(Some(found.clone()));
    }
    let confirmed = snapshots.get(key, Instant::now(), fetch).await?;
    Ok(confirmed.by_name.get(id).cloned())
}

/// Writes what the portal shows of the snapshot: taken, Ready.
async fn mirror(
    run: &mut Run<'_, WaysSnapshot>,
    target: &Target,
    snapshot: &portal::Snapshot,
) -> Result<Action, Error> {
    let (id, db_name) = (&snapshot.snapshot_id, &target.db_name);
    let size = snapshot
        .size_mb()
        .map(|mb| format!(" ({mb} MB)"))
        .unwrap_or_default();
    let message = format!("snapshot {id} of database '{db_name}' is taken{size}");
    let ready = Wanted::ready(true, "Completed", message.clone());
    let synced = Wanted::synced(true, "Synced", "the status is the portal's");
    let previous = run.status().phase;
    let mut status = run.status_with(&[ready, synced]);
    status.phase = Some(SnapshotPhase::Completed);
    status.database_name = Some(db_name.clone());
    status.db_type = Some(target.db_type);
    status.snapshot_id = Some(id.clone());
    status.size_mb = snapshot.size_mb().or(status.size_mb);
    status.created_at = snapshot
        .created_at
        .as_deref()
        .and_then(portal_time)
        .map(Time)
        .or(status.created_at);
    run.write(status).await?;
    if previous != Some(SnapshotPhase::Completed) {
        run.publish(false, "Completed", message).await;
    }
    Ok(Action::requeue(run.ctx.timing.resync))
}

/// The portal no longer lists the snapshot this object took.
async fn missing(
    run: &mut Run<'_, WaysSnapshot>,
    target: &Target,
    id: &str,
) -> Result<Action, Error> {
    let message = format!(
        "the portal no longer lists snapshot {id} of database '{}' (deleted at the portal, or with its database)",
        target.db_name
    );
    if run.status().phase != Some(SnapshotPhase::Missing) {
        run.publish(true, "NotFound", message.clone()).await;
    }
    let synced = Wanted::synced(true, "Synced", "the status is the portal's");
    let mut status = run.status_with(&[Wanted::ready(false, "NotFound", message), synced]);
    status.phase = Some(SnapshotPhase::Missing);
    run.write(status).await?;
    Ok(Action::await_change())
}

/// The object is being deleted: with `deletionPolicy: Delete`, delete what it took (and what an
/// unanswered request of its may have taken), confirm with a fresh list, then let it go.
async fn finalize(run: &mut Run<'_, WaysSnapshot>) -> Result<Action, Error> {
    let object = run.object;
    if !object.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    let status = run.status().clone();
    let asked = recorded(&status);
    let Some((db_type, db_name)) = asked else {
        return release(
            run,
            "Released",
            "no snapshot was asked for: nothing at the portal".to_owned(),
        )
        .await;
    };
    let held = status
        .snapshot_id
        .as_deref()
        .unwrap_or("an unanswered request's");
    if object.spec.deletion_policy() == DeletionPolicy::Orphan {
        let note = format!(
            "left snapshot {held} of database '{db_name}' at the portal (deletionPolicy: Orphan)"
        );
        return release(run, "Orphaned", note).await;
    }
    let target = recorded_target(run.ctx, object, &object.spec.source, db_type, db_name).await?;
    let client = run.session(&target.located).await?;
    let uid = uid(object);
    let listed = list(&client, &target).await?;
    let doomed = snapshot_plan::to_delete(&listed, &uid, status.snapshot_id.as_deref());
    for id in &doomed {
        client.reserve_write().await;
        match Ways(&client)
            .delete_snapshot(db_type.as_str(), db_name, id)
            .await
        {
            Ok(()) | Err(PortalError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let left = list(&client, &target).await?;
    let remaining: Vec<&str> = left
        .iter()
        .map(|s| s.snapshot_id.as_str())
        .filter(|id| doomed.iter().any(|d| d == id))
        .collect();
    if !remaining.is_empty() {
        let message = format!(
            "the portal still lists snapshot(s) {} of database '{db_name}' after their deletion: looking again",
            remaining.join(", ")
        );
        let mut status = run.status_with(&[Wanted::ready(false, "Deleting", message)]);
        status.phase = status.phase.or(Some(SnapshotPhase::Pending));
        run.write(status).await?;
        return Ok(Action::requeue(run.ctx.timing.poll));
    }
    let note = match doomed.as_slice() {
        [] => format!(
            "no snapshot of database '{db_name}' carries this object's identity: nothing to delete"
        ),
        ids => format!(
            "deleted snapshot {} of database '{db_name}'",
            ids.join(", ")
        ),
    };
    release(run, "Deleted", note).await
}

async fn release(
    run: &mut Run<'_, WaysSnapshot>,
    reason: &str,
    note: String,
) -> Result<Action, Error> {
    run.publish(false, reason, note).await;
    report::remove_finalizer(&run.api, run.object).await?;
    Ok(Action::await_change())
}
