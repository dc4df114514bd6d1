//! The Database reconciler: observe → decide → act → report.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use crate::api::{Database, DatabaseStatus};
use crate::portal::{self, CreateDatabase, CreateRetry, Lifecycle, PortalError, TokenClient};

use super::conditions::{self, SYNCED, Wanted};
use super::connection;
use super::context::Context;
use super::error::Error;
use super::managed::{self, HasManagedStatus, ObjectState};
use super::plan::{Decision, Remote, decide};
use super::report::{self, publish, write_status};

pub async fn reconcile(db: Arc<Database>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<Database> = Api::namespaced(ctx.kube.clone(), &db.namespace().unwrap_or_default());
    let result = drive(&db, &api, &ctx).await;
    match &result {
        Ok(_) => ctx.failures.reset(&object_key(&db)),
        Err(error) => report_error(&db, &api, &ctx, error).await,
    }
    result
}

/// Requeues a failed object after a backoff that grows with its consecutive failures.
pub fn error_policy(db: Arc<Database>, error: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx
        .failures
        .record(object_key(&db), db.metadata.generation, error.category());
    tracing::info!(database = %db.name_any(), reason = error.reason(), retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

fn object_key(db: &Database) -> String {
    format!(
        "Database/{}/{}",
        db.namespace().unwrap_or_default(),
        db.name_any()
    )
}

async fn drive(db: &Database, api: &Api<Database>, ctx: &Context) -> Result<Action, Error> {
    let state = ObjectState::of(db, &db.spec.managed, db.status.as_ref().map(|s| &s.managed));
    let (desired, recorded) = (state.desired(), state.recorded());
    let decision = match decide(&desired, &recorded, None) {
        Decision::Observe => None,
        decision => Some(decision),
    };
    let (client, remote) = match decision {
        Some(_) => (None, None),
        None => {
            let client = managed::token_client(ctx, db, &db.spec.managed).await?;
            let resync_requested = ctx
                .resync_requests
                .is_new(&object_key(db), state.resync_request());
            let remote = observe(ctx, &client, &state, resync_requested).await?;
            (Some(client), remote)
        }
    };
    let decision = decision.unwrap_or_else(|| {
        let remote = match &remote {
            Some(found) => Remote::Present { id: &found.id },
            None => Remote::Absent,
        };
        decide(&desired, &recorded, Some(remote))
    });
    tracing::debug!(database = %db.name_any(), ?decision, "decided");

    match decision {
        Decision::Observe => unreachable!("decide was given the remote"),
        Decision::Paused => managed::paused(db, api, current_status(db)).await,
        Decision::NameChanged { bound } => Err(managed::name_changed(&state, &bound)),
        Decision::AddFinalizer => {
            report::add_finalizer(api, db).await?;
            Ok(Action::await_change())
        }
        Decision::Create { recreate } => {
            let client = client.expect("observed before deciding to create");
            create(db, api, ctx, &client, &state, recreate).await
        }
        Decision::Mirror { adopted, observed } => {
            let remote = remote.expect("mirror needs the remote");
            if adopted {
                let note = format!("took over the existing portal database '{}'", remote.name);
                publish(ctx, db, false, "Adopted", note).await;
            } else if observed
                && db
                    .status
                    .as_ref()
                    .and_then(|s| s.managed.id.as_ref())
                    .is_none()
            {
                let note = format!("observing the portal database '{}'", remote.name);
                publish(ctx, db, false, "Observed", note).await;
            }
            mirror(db, api, ctx, &state, &remote).await
        }
        Decision::AlreadyExists => Err(Error::AlreadyExists {
            name: state.lookup_name().to_owned(),
        }),
        Decision::NotFound => Err(Error::NotFoundToObserve {
            name: state.lookup_name().to_owned(),
        }),
        Decision::Delete => {
            let client = client.expect("observed before deciding to delete");
            delete(db, api, ctx, &client, &state).await
        }
        Decision::Release { orphaned, foreign } => {
            managed::release(db, api, ctx, state.lookup_name(), orphaned, foreign).await
        }
        Decision::Nothing => Ok(Action::await_change()),
    }
}

/// The portal database under the object's name. Absence in a snapshot is confirmed with a direct
/// look-up when status says the database should exist, since the snapshot may predate it.
async fn observe(
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
    resync_requested: bool,
) -> Result<Option<portal::Database>, Error> {
    let name = state.lookup_name();
    let snapshot = ctx
        .databases
        .get(
            client.fingerprint(),
            state.snapshot_not_before(&ctx.timing, resync_requested),
            || async {
                let list = client.list_databases().await?;
                Ok(list.into_iter().map(|db| (db.name.clone(), db)).collect())
            },
        )
        .await?;
    if let Some(found) = snapshot.by_name.get(name) {
        return Ok(Some(found.clone()));
    }
    if !state.expects_remote() {
        return Ok(None);
    }
    match client.get_database(name).await {
        Ok(found) => Ok(Some(found)),
        Err(PortalError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

async fn create(
    db: &Database,
    api: &Api<Database>,
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
    recreate: bool,
) -> Result<Action, Error> {
    let name = state.lookup_name();
    managed::check_portal_name(state)?;
    if recreate {
        let note = format!(
            "the portal database '{name}' was deleted outside Kubernetes: creating it again"
        );
        publish(ctx, db, true, "Recreating", note).await;
    }
    // The intent goes to status before the call: after a crash the name is recognised as ours.
    let mut status = current_status(db);
    status.managed = managed::intent(&status.managed, name, db.metadata.generation);
    write_status(api, db, &status).await?;

    let body = CreateDatabase {
        name: name.to_owned(),
        engine: db.spec.engine.as_str().to_owned(),
        sku: db.spec.sku.clone(),
    };
    match client
        .create_database(&body, CreateRetry::WhenNotApplied)
        .await
    {
        Ok(created) => {
            let note = format!(
                "created the portal database '{name}' ({} {})",
                body.engine, body.sku
            );
            publish(ctx, db, false, "Created", note).await;
            match created {
                Some(remote) => {
                    let mut fresh = db.clone();
                    fresh.status = Some(status);
                    let state = ObjectState::of(
                        &fresh,
                        &fresh.spec.managed,
                        fresh.status.as_ref().map(|s| &s.managed),
                    );
                    mirror(&fresh, api, ctx, &state, &remote).await
                }
                None => Ok(Action::requeue(ctx.timing.poll)),
            }
        }
        Err(PortalError::AlreadyExists { .. }) => {
            // Taken by someone else between the look-up and the create: not ours.
            status.managed.create_requested_at = None;
            write_status(api, db, &status).await?;
            if db.spec.managed.adopt_existing() {
                return Ok(Action::requeue(std::time::Duration::ZERO));
            }
            Err(Error::AlreadyExists {
                name: name.to_owned(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

async fn mirror(
    db: &Database,
    api: &Api<Database>,
    ctx: &Context,
    state: &ObjectState<'_>,
    remote: &portal::Database,
) -> Result<Action, Error> {
    let current = current_status(db);
    let lifecycle = Lifecycle::of(&remote.status);
    let drift = drift(db, remote);
    let mut wanted = vec![managed::ready_from(lifecycle, &remote.status, "database")];
    wanted.push(match &drift {
        Some(message) => Wanted::synced(false, "UpdateNotSupported", message.clone()),
        None => Wanted::synced(true, "Synced", "the portal database matches the spec"),
    });
    if let Some(message) = &drift
        && conditions::find(&current.managed.conditions, SYNCED)
            .is_none_or(|c| c.reason != "UpdateNotSupported")
    {
        publish(ctx, db, true, "UpdateNotSupported", message.clone()).await;
    }
    if lifecycle == Lifecycle::Ready
        && let (Some(target), Some(details)) = (
            db.spec.managed.write_connection_secret_to_ref.as_ref(),
            remote.connection.as_ref(),
        )
    {
        connection::write(ctx, db, &target.name, details).await?;
    }
    let status = DatabaseStatus {
        managed: managed::mirrored(
            &current.managed,
            state,
            db.metadata.generation,
            (&remote.id, &remote.status),
            &wanted,
        ),
        engine: non_empty(&remote.engine),
        sku: non_empty(&remote.sku),
        cluster_target: remote.cluster_target.clone(),
    };
    managed::write_if_changed(api, db, &current, status, db.metadata.generation, ctx).await?;
    Ok(managed::requeue_for(lifecycle, &ctx.timing))
}

async fn delete(
    db: &Database,
    api: &Api<Database>,
    ctx: &Context,
    client: &TokenClient,
    state: &ObjectState<'_>,
) -> Result<Action, Error> {
    let name = state.lookup_name();
    match client.delete_database(name).await {
        Ok(()) | Err(PortalError::NotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    publish(
        ctx,
        db,
        false,
        "Deleted",
        format!("deleted the portal database '{name}'"),
    )
    .await;
    report::remove_finalizer(api, db).await?;
    Ok(Action::await_change())
}

/// What the portal cannot change in place and the spec asks to change.
fn drift(db: &Database, remote: &portal::Database) -> Option<String> {
    let mut problems = Vec::new();
    let engine = db.spec.engine.as_str();
    if !remote.engine.is_empty() && remote.engine != engine {
        problems.push(format!(
            "engine is '{}' at the portal but the spec asks for '{engine}'",
            remote.engine
        ));
    }
    if !remote.sku.is_empty() && remote.sku != db.spec.sku {
        problems.push(format!(
            "sku is '{}' at the portal but the spec asks for '{}'",
            remote.sku, db.spec.sku
        ));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{}: the portal cannot change a database in place; revert the spec, or create a new Database",
            problems.join("; ")
        )
    })
}

impl HasManagedStatus for DatabaseStatus {
    fn managed(&self) -> &crate::api::ManagedStatus {
        &self.managed
    }

    fn managed_mut(&mut self) -> &mut crate::api::ManagedStatus {
        &mut self.managed
    }
}

fn current_status(db: &Database) -> DatabaseStatus {
    db.status.clone().unwrap_or_default()
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

async fn report_error(db: &Database, api: &Api<Database>, ctx: &Context, error: &Error) {
    if error.waits_on_token() {
        let location = managed::token_location(ctx, db, &db.spec.managed);
        ctx.database_token_waits
            .wait_for_change(location, ObjectRef::from_obj(db));
    }
    let current = current_status(db);
    let mut status = current.clone();
    status.managed = managed::failed(&current.managed, db.metadata.generation, error);
    if status != current
        && let Err(write_error) = write_status(api, db, &status).await
    {
        tracing::warn!(database = %db.name_any(), error = %write_error, "could not write status");
    }
    publish(ctx, db, true, error.reason(), error.to_string()).await;
}
