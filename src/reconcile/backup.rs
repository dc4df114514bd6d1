//! The Backup reconcile: find the database and its token, ask the portal for one backup (once,
//! also across a crash: see [`backup_plan`](super::backup_plan) for the rule), then follow it
//! until it is Completed or Failed. Backups have no portal name and no delete route, so this is
//! not a [`PortalKind`](super::PortalKind): no finalizer, nothing to delete.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tokio::time::Instant;

use crate::api::{Backup, BackupPhase, BackupStatus, Database, DatabaseTarget, PAUSED_ANNOTATION};
use crate::portal::{self, CreateRetry, PortalError, TokenClient};

use super::backup_plan::{self, baseline, find_ours, human_size};
use super::conditions::{self, READY, Wanted};
use super::context::Context;
use super::driver::object_key;
use super::error::Error;
use super::managed;
use super::report::{publish, write_status};
use super::snapshot::Snapshots;
use super::tokens::{TokenLocation, Wake};

/// What the Backup reconciles of one operator process share.
#[derive(Default)]
pub struct BackupRequests {
    /// Lists of one database's backups, per token and database, shared by the Backups that
    /// follow a running backup.
    snapshots: Snapshots<portal::Backup>,
    /// One lock per portal database: the intent, the request and the status write of one
    /// Backup at a time, so after a crash at most one Backup per database is unsure.
    databases: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Requested>>>>,
}

/// What this process asked for of one database and has not seen in status yet.
#[derive(Default)]
struct Requested {
    /// Backups created by this process whose Backup's status does not hold them yet: the
    /// backup id and the object's uid.
    created: HashMap<String, String>,
    /// Objects whose request the portal accepted without naming the backup.
    accepted_unnamed: HashSet<String>,
}

impl Requested {
    fn created_for(&self, uid: &str) -> Option<&str> {
        self.created
            .iter()
            .find(|(_, owner)| *owner == uid)
            .map(|(id, _)| id.as_str())
    }

    fn settled(&mut self, uid: &str) {
        self.created.retain(|_, owner| owner != uid);
        self.accepted_unnamed.remove(uid);
    }
}

impl BackupRequests {
    fn lock(&self, database: &str) -> Arc<tokio::sync::Mutex<Requested>> {
        self.databases
            .lock()
            .expect("backup request locks")
            .entry(database.to_owned())
            .or_default()
            .clone()
    }
}

pub async fn reconcile(object: Arc<Backup>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<Backup> =
        Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    let mut written = Written {
        status: object.status.clone().unwrap_or_default(),
        generation: object.metadata.generation,
    };
    let result = drive(&object, &api, &ctx, &mut written).await;
    match &result {
        Ok(_) => ctx.failures.reset(&object_key(&*object)),
        Err(error) => report_error(&object, &api, &ctx, &mut written, error).await,
    }
    result
}

/// The status as last written during this reconcile: every write builds on it, including the
/// failure report (which must not drop an intent written since the reconcile started).
struct Written {
    status: BackupStatus,
    generation: Option<i64>,
}

impl Written {
    /// Writes `new` unless only `lastSyncTime` would change.
    async fn write(
        &mut self,
        api: &Api<Backup>,
        object: &Backup,
        mut new: BackupStatus,
    ) -> Result<(), Error> {
        new.observed_generation = self.generation;
        new.last_sync_time = self.status.last_sync_time.clone();
        if new == self.status {
            return Ok(());
        }
        new.last_sync_time = Some(Time(Timestamp::now()));
        write_status(api, object, &new).await?;
        self.status = new;
        Ok(())
    }

    fn with(&self, wanted: &[Wanted]) -> BackupStatus {
        let mut status = self.status.clone();
        status.conditions = conditions::merge(
            &status.conditions,
            wanted,
            self.generation,
            Timestamp::now(),
        );
        status
    }
}

/// The database to back up and the token to use.
struct Target {
    database: String,
    token: TokenLocation,
}

enum Resolved {
    Target(Target),
    /// The referenced Database is missing or not Ready: why.
    Waiting(String),
}

async fn drive(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
) -> Result<Action, Error> {
    let finished = written.status.phase.is_some_and(BackupPhase::is_final);
    let resync = ctx
        .resync_requests
        .is_new(&object_key(object), managed::resync_request(object));
    if finished && !resync {
        return Ok(Action::await_change());
    }
    if managed::is_paused(object) {
        if !finished {
            let message = format!(
                "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no portal calls are made"
            );
            let mut status = written.with(&[Wanted::ready(false, "Paused", message)]);
            status.phase = status.phase.or(Some(BackupPhase::Pending));
            written.write(api, object, status).await?;
        }
        return Ok(Action::await_change());
    }
    let target = match resolve(object, ctx, &written.status).await? {
        Resolved::Target(target) => target,
        Resolved::Waiting(message) => {
            return wait_for_database(object, api, ctx, written, message).await;
        }
    };
    let result = follow(object, api, ctx, written, &target, resync).await;
    if let Err(error) = &result
        && error.waits_on_token()
    {
        ctx.token_waits
            .wait_for_change(target.token.clone(), Wake::of(object));
    }
    result
}

/// The database and token. Once the backup is asked for, the database is the one in status.
async fn resolve(object: &Backup, ctx: &Context, status: &BackupStatus) -> Result<Resolved, Error> {
    let source = &object.spec.source;
    let own_token = source.token_secret_ref.as_ref();
    let asked = status.backup_id.is_some() || status.create_requested_at.is_some();
    if let Some(database) = status.database_name.clone().filter(|_| asked) {
        let reference = match (own_token, &source.database_ref) {
            (Some(reference), _) => Some(reference.clone()),
            (None, Some(database_ref)) => database_object(ctx, object, &database_ref.name)
                .await?
                .and_then(|db| db.spec.managed.token_secret_ref),
            (None, None) => None,
        };
        let token = managed::token_location_of(ctx, object, reference.as_ref());
        return Ok(Resolved::Target(Target { database, token }));
    }
    match source.target() {
        Err(message) => Err(Error::InvalidSpec {
            reason: "InvalidSpec",
            message: message.to_owned(),
        }),
        Ok(DatabaseTarget::Portal(name)) => Ok(Resolved::Target(Target {
            database: name.to_owned(),
            token: managed::token_location_of(ctx, object, own_token),
        })),
        Ok(DatabaseTarget::Object(name)) => {
            let Some(db) = database_object(ctx, object, name).await? else {
                return Ok(Resolved::Waiting(format!(
                    "the Database '{name}' does not exist in this namespace: the backup waits for it"
                )));
            };
            let managed_status = db.status.as_ref().map(|s| &s.managed);
            let db_conditions = managed_status.map_or(&[][..], |s| &s.conditions[..]);
            if !conditions::is_true(db_conditions, READY) {
                let why = conditions::find(db_conditions, READY)
                    .map_or("no status yet".to_owned(), |c| {
                        format!("Ready: {}", c.reason)
                    });
                return Ok(Resolved::Waiting(format!(
                    "waiting for the Database '{name}' to be Ready ({why})"
                )));
            }
            let database = managed_status
                .and_then(|s| s.external_name.clone())
                .or_else(|| db.spec.managed.external_name.clone())
                .unwrap_or_else(|| name.to_owned());
            let reference = own_token
                .cloned()
                .or_else(|| db.spec.managed.token_secret_ref.clone());
            let token = managed::token_location_of(ctx, object, reference.as_ref());
            Ok(Resolved::Target(Target { database, token }))
        }
    }
}

async fn database_object(
    ctx: &Context,
    object: &Backup,
    name: &str,
) -> Result<Option<Database>, Error> {
    let api: Api<Database> =
        Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    Ok(api.get_opt(name).await?)
}

/// Pending until the database can be backed up: look again every poll interval.
async fn wait_for_database(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
    message: String,
) -> Result<Action, Error> {
    let already = conditions::find(&written.status.conditions, READY)
        .is_some_and(|c| c.reason == "DatabaseNotReady");
    if !already {
        publish(ctx, object, false, "DatabaseNotReady", message.clone()).await;
    }
    let mut status = written.with(&[Wanted::ready(false, "DatabaseNotReady", message)]);
    status.phase = Some(BackupPhase::Pending);
    written.write(api, object, status).await?;
    Ok(Action::requeue(ctx.timing.poll))
}

/// With the database and token known: follow the backup, find it after a crash, or ask for it.
async fn follow(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
    target: &Target,
    resync: bool,
) -> Result<Action, Error> {
    let client = managed::client_at(ctx, &target.token).await?;
    let database = target.database.as_str();
    if let Some(id) = written.status.backup_id.clone() {
        let found = observe(ctx, &client, database, &id, resync).await?;
        return mirror(object, api, ctx, written, database, &found).await;
    }
    let uid = object.uid().unwrap_or_default();
    let lock = ctx.backups.lock(database);
    let mut requested = lock.lock().await;
    // Decide on the status as stored: the watch may not have delivered this process's last
    // write yet, and a stale copy without the backup id would ask a second time.
    let Some(stored) = api.get_opt(&object.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if stored.uid() != object.uid() {
        return Ok(Action::await_change());
    }
    written.status = stored.status.unwrap_or_default();
    let asked = written.status.backup_id.is_some() || written.status.create_requested_at.is_some();
    if asked && written.status.database_name.as_deref() != Some(database) {
        // Bound to another database than the copy this reconcile started from said: look again.
        return Ok(Action::requeue(ctx.timing.poll));
    }
    if let Some(id) = written.status.backup_id.clone() {
        drop(requested);
        let found = observe(ctx, &client, database, &id, resync).await?;
        return mirror(object, api, ctx, written, database, &found).await;
    }
    let listed = client.list_backups(database).await?;
    if written.status.create_requested_at.is_some() {
        let recorded = written.status.request_baseline.clone().unwrap_or_default();
        let claimed = claimed_by_others(api, &uid, &requested).await?;
        let remembered = requested.created_for(&uid).map(str::to_owned);
        if let Some(found) = find_ours(&listed, &recorded, remembered.as_deref(), &claimed) {
            if remembered.is_none() {
                let note = format!(
                    "found backup {} of database '{database}', asked for before the operator stopped: not asking again",
                    found.id
                );
                publish(ctx, object, false, "Recovered", note).await;
            }
            let action = mirror(object, api, ctx, written, database, found).await?;
            requested.settled(&uid);
            return Ok(action);
        }
        if requested.accepted_unnamed.contains(&uid) {
            return Err(Error::BackupNotListed {
                database: database.to_owned(),
            });
        }
        // Nothing appeared since the intent: the request never took effect.
    }
    request(
        object,
        api,
        ctx,
        written,
        &client,
        database,
        &listed,
        &mut requested,
    )
    .await
}

/// Records the intent, then asks the portal for the backup, once.
#[allow(clippy::too_many_arguments)]
async fn request(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
    client: &TokenClient,
    database: &str,
    listed: &[portal::Backup],
    requested: &mut Requested,
) -> Result<Action, Error> {
    let uid = object.uid().unwrap_or_default();
    let message = format!("asking the portal for a backup of database '{database}'");
    let mut intent = written.with(&[Wanted::ready(false, "Requesting", message)]);
    intent.phase = Some(BackupPhase::Pending);
    intent.database_name = Some(database.to_owned());
    intent.create_requested_at = Some(Time(Timestamp::now()));
    intent.request_baseline = Some(baseline(listed));
    written.write(api, object, intent).await?;

    match client
        .create_backup(database, CreateRetry::WhenNotApplied)
        .await
    {
        Ok(Some(created)) if !created.id.is_empty() => {
            requested.created.insert(created.id.clone(), uid.clone());
            let note = format!(
                "asked the portal for a backup of database '{database}': backup {}",
                created.id
            );
            publish(ctx, object, false, "Requested", note).await;
            let action = mirror(object, api, ctx, written, database, &created).await?;
            requested.settled(&uid);
            Ok(action)
        }
        Ok(_) => {
            // Accepted without naming the backup: it is the new one in a fresh list.
            requested.accepted_unnamed.insert(uid.clone());
            let note = format!("asked the portal for a backup of database '{database}'");
            publish(ctx, object, false, "Requested", note).await;
            let listed = client.list_backups(database).await?;
            let recorded = written.status.request_baseline.clone().unwrap_or_default();
            let claimed = claimed_by_others(api, &uid, requested).await?;
            let Some(found) = find_ours(&listed, &recorded, None, &claimed) else {
                return Err(Error::BackupNotListed {
                    database: database.to_owned(),
                });
            };
            let action = mirror(object, api, ctx, written, database, found).await?;
            requested.settled(&uid);
            Ok(action)
        }
        Err(error) if refused(&error) => {
            // The portal certainly made no backup: forget the intent, so the next request
            // records a fresh baseline.
            let mut status = written.status.clone();
            status.create_requested_at = None;
            status.request_baseline = None;
            written.write(api, object, status).await?;
            if let PortalError::Rejected { status: 409, .. } = &error {
                let message = format!(
                    "the portal cannot back up database '{database}' now ({error}): asking again shortly"
                );
                return wait_for_database(object, api, ctx, written, message).await;
            }
            Err(error.into())
        }
        // The request may have taken effect (a 5xx, a lost connection, an unreadable answer):
        // the intent stays, and the next reconcile looks before asking again.
        Err(error) => Err(error.into()),
    }
}

/// The portal certainly did not act on the request.
fn refused(error: &PortalError) -> bool {
    error.certainly_not_applied()
        || matches!(
            error,
            PortalError::Unauthorized { .. }
                | PortalError::QuotaExceeded { .. }
                | PortalError::Forbidden { .. }
                | PortalError::NotFound { .. }
                | PortalError::AlreadyExists { .. }
                | PortalError::Rejected { .. }
        )
}

/// Backup ids other objects hold: other Backups' `status.backupId` in this namespace, and the
/// backups this process created for other objects that are not in their status yet.
async fn claimed_by_others(
    api: &Api<Backup>,
    uid: &str,
    requested: &Requested,
) -> Result<HashSet<String>, Error> {
    let mut claimed: HashSet<String> = api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|other| other.metadata.uid.as_deref() != Some(uid))
        .filter_map(|other| other.status?.backup_id)
        .collect();
    claimed.extend(
        requested
            .created
            .iter()
            .filter(|(_, owner)| *owner != uid)
            .map(|(id, _)| id.clone()),
    );
    Ok(claimed)
}

/// The backup `id` from a shared list of the database's backups no older than the poll
/// interval (taken now for a resync request); a backup missing from it is looked for in a list
/// taken now before it counts as gone.
async fn observe(
    ctx: &Context,
    client: &TokenClient,
    database: &str,
    id: &str,
    fresh: bool,
) -> Result<portal::Backup, Error> {
    let mut hasher = DefaultHasher::new();
    (client.fingerprint(), database).hash(&mut hasher);
    let key = hasher.finish();
    let list = || async {
        let items = client.list_backups(database).await?;
        Ok(items.into_iter().map(|b| (b.id.clone(), b)).collect())
    };
    let now = Instant::now();
    let not_before = if fresh {
        now
    } else {
        now.checked_sub(ctx.timing.poll).unwrap_or(now)
    };
    let snapshots = &ctx.backups.snapshots;
    let snapshot = snapshots.get(key, not_before, list).await?;
    if let Some(found) = snapshot.by_name.get(id) {
        return Ok(found.clone());
    }
    let confirmed = snapshots.get(key, Instant::now(), list).await?;
    confirmed
        .by_name
        .get(id)
        .cloned()
        .ok_or_else(|| Error::BackupGone {
            id: id.to_owned(),
            database: database.to_owned(),
        })
}

/// Writes what the portal reports of the backup; an Event when it becomes final.
async fn mirror(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
    database: &str,
    backup: &portal::Backup,
) -> Result<Action, Error> {
    let seen = backup_plan::observe(backup);
    let id = &backup.id;
    let size = seen.size_bytes.map(human_size);
    let ready = match seen.phase {
        BackupPhase::Completed => Wanted::ready(
            true,
            "Completed",
            match &size {
                Some(size) => format!("backup {id} of database '{database}' is complete ({size})"),
                None => format!("backup {id} of database '{database}' is complete"),
            },
        ),
        BackupPhase::Failed => Wanted::ready(
            false,
            "Failed",
            format!(
                "the portal reports backup {id} of database '{database}' as '{}': create a new Backup to try again",
                seen.state
            ),
        ),
        BackupPhase::Running | BackupPhase::Pending => Wanted::ready(
            false,
            "Running",
            format!(
                "the portal reports backup {id} of database '{database}' as '{}'",
                seen.state
            ),
        ),
    };
    let synced = Wanted::synced(true, "Synced", "the status is the portal's");
    let previous = written.status.phase;
    let mut status = written.with(&[ready.clone(), synced]);
    status.phase = Some(seen.phase);
    status.database_name = Some(database.to_owned());
    status.backup_id = Some(id.clone());
    status.state = Some(seen.state.clone());
    status.started_at = seen.started_at.map(Time).or(status.started_at);
    status.completed_at = seen.completed_at.map(Time).or(status.completed_at);
    if let Some(bytes) = seen.size_bytes {
        status.size_bytes = i64::try_from(bytes).ok();
        status.size = size;
    }
    written.write(api, object, status).await?;
    if previous != Some(seen.phase) && seen.phase.is_final() {
        let reason = if seen.phase == BackupPhase::Completed {
            "Completed"
        } else {
            "Failed"
        };
        publish(ctx, object, !ready.status, reason, ready.message).await;
    }
    Ok(match seen.phase {
        BackupPhase::Completed | BackupPhase::Failed => Action::await_change(),
        BackupPhase::Running | BackupPhase::Pending => Action::requeue(ctx.timing.poll),
    })
}

async fn report_error(
    object: &Backup,
    api: &Api<Backup>,
    ctx: &Context,
    written: &mut Written,
    error: &Error,
) {
    let mut status = written.status.clone();
    status.conditions = managed::failed_conditions(&status.conditions, written.generation, error);
    status.phase = status.phase.or(Some(BackupPhase::Pending));
    if let Err(write_error) = written.write(api, object, status).await {
        tracing::warn!(object = %object.name_any(), error = %write_error, "could not write status");
    }
    publish(ctx, object, true, error.reason(), error.to_string()).await;
}

/// The Event for a deleted Backup: the backup itself stays at the portal.
pub async fn deleted(ctx: &Context, object: &Backup) {
    let status = object.status.clone().unwrap_or_default();
    let note = match (&status.backup_id, &status.database_name) {
        (Some(id), Some(database)) => format!(
            "the Backup object is deleted; backup {id} of database '{database}' stays at the portal, which has no route to delete backups"
        ),
        _ if status.create_requested_at.is_some() => format!(
            "the Backup object is deleted while a backup of database '{}' was being asked for; if the portal took it, it stays there (the portal has no route to delete backups)",
            status.database_name.as_deref().unwrap_or_default()
        ),
        _ => "the Backup object is deleted before a backup was asked for: nothing at the portal"
            .to_owned(),
    };
    publish(ctx, object, false, "Deleted", note).await;
}
