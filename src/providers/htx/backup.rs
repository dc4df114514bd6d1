//! The Backup reconcile: find the database and its token, ask the portal for one backup (once,
//! also across a crash: see [`backup_plan`](super::backup_plan) for the rule), then follow it
//! until it is Completed or Failed. Backups have no portal name and no delete route, so this is
//! not a [`PortalKind`](super::PortalKind): no finalizer, nothing to delete.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tokio::time::Instant;

use crate::api::{
    Backup, BackupPhase, BackupStatus, Database, DatabaseTarget, PAUSED_ANNOTATION, Provider,
};
use crate::http::{CreateRetry, Session};
use crate::providers::htx::client::{self as portal, Htx};

use super::backup_plan::{self, Recovery, baseline, candidates, human_size, recover};
use crate::reconcile::bindings::BindingKey;
use crate::reconcile::conditions::{self, READY, Wanted};
use crate::reconcile::context::Context;
use crate::reconcile::credentials::Located;
use crate::reconcile::error::Error;
use crate::reconcile::kind::PortalKind;
use crate::reconcile::managed;
use crate::reconcile::recovery::within_lag;
use crate::reconcile::shell::{Reconciled, Run, StatusParts, object_key};
use crate::reconcile::snapshot::Snapshots;

/// What the Backup reconciles of one operator process share.
pub struct BackupRequests {
    /// Lists of one database's backups, per token and database, shared by the Backups that
    /// follow a running backup.
    snapshots: Snapshots<portal::Backup>,
    /// One lock per portal database: the intent, the request and the status write of one
    /// Backup at a time, so that a Backup's baseline always holds the backups asked for before.
    databases: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl BackupRequests {
    /// Lists of backups are never used older than `max_age` (the poll interval).
    pub fn serving_at_most(max_age: std::time::Duration) -> Self {
        Self {
            snapshots: Snapshots::serving_at_most(max_age),
            databases: Mutex::default(),
        }
    }

    /// See [`Context::forget_stale`](super::Context::forget_stale).
    pub fn forget_stale(&self) {
        self.snapshots.forget_stale();
    }

    fn lock(&self, database: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut databases = self.databases.lock().expect("backup request locks");
        // Locks nobody holds or waits for are dropped, so the map does not grow with every
        // database ever backed up.
        databases.retain(|_, lock| Arc::strong_count(lock) > 1);
        databases.entry(database.to_owned()).or_default().clone()
    }
}

impl Reconciled for Backup {
    type Status = BackupStatus;

    fn status(&self) -> Option<&BackupStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &BackupStatus) -> &[Condition] {
        &status.conditions
    }

    fn parts(status: &mut BackupStatus) -> StatusParts<'_> {
        StatusParts {
            observed_generation: &mut status.observed_generation,
            last_sync_time: &mut status.last_sync_time,
            conditions: &mut status.conditions,
        }
    }

    fn failed(status: &mut BackupStatus, generation: Option<i64>, error: &Error) {
        status.conditions = managed::failed_conditions(&status.conditions, generation, error);
        status.phase = status.phase.or(Some(BackupPhase::Pending));
    }

    fn drive(run: &mut Run<'_, Backup>) -> impl Future<Output = Result<Action, Error>> + Send {
        drive(run)
    }
}

/// The database to back up and where the calls go.
struct Target {
    database: String,
    located: Located,
}

enum Resolved {
    Target(Target),
    /// The referenced Database is missing or not Ready: why.
    Waiting(String),
}

async fn drive(run: &mut Run<'_, Backup>) -> Result<Action, Error> {
    let object = run.object;
    let ctx = run.ctx;
    let finished = run.status().phase.is_some_and(BackupPhase::is_final);
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
            let mut status = run.status_with(&[Wanted::ready(false, "Paused", message)]);
            status.phase = status.phase.or(Some(BackupPhase::Pending));
            run.write(status).await?;
        }
        return Ok(Action::await_change());
    }
    let status = run.status().clone();
    let target = match resolve(object, ctx, &status).await? {
        Resolved::Target(target) => target,
        Resolved::Waiting(message) => return wait(run, "DatabaseNotReady", message).await,
    };
    follow(run, &target, resync).await
}

/// The database and where its calls go. Once the backup is asked for, the database is the one
/// in status.
async fn resolve(object: &Backup, ctx: &Context, status: &BackupStatus) -> Result<Resolved, Error> {
    let source = &object.spec.source;
    let asked = status.backup_id.is_some() || status.create_requested_at.is_some();
    if let Some(database) = status.database_name.clone().filter(|_| asked) {
        let db = match &source.database_ref {
            Some(reference) => database_object(ctx, object, &reference.name).await?,
            None => None,
        };
        let located = located(ctx, object, db.as_ref())?;
        return Ok(Resolved::Target(Target { database, located }));
    }
    match source.target() {
        Err(message) => Err(Error::InvalidSpec {
            reason: "InvalidSpec",
            message: message.to_owned(),
        }),
        Ok(DatabaseTarget::Portal(name)) => {
            let located = located(ctx, object, None)?;
            // A database bound by an object of another namespace is that tenant's.
            let key = BindingKey {
                credentials: located.secret.clone(),
                product: <Database as PortalKind>::NOUN,
                name: name.to_owned(),
                within: None,
            };
            if ctx
                .bindings
                .holder(&key)
                .is_some_and(|holder| Some(holder.namespace) != object.namespace())
            {
                return Err(Error::AlreadyBound {
                    noun: <Database as PortalKind>::NOUN,
                    name: name.to_owned(),
                });
            }
            Ok(Resolved::Target(Target {
                database: name.to_owned(),
                located,
            }))
        }
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
                .or_else(|| db.spec.portal_name.external_name.clone())
                .unwrap_or_else(|| name.to_owned());
            let located = located(ctx, object, Some(&db))?;
            Ok(Resolved::Target(Target { database, located }))
        }
    }
}

/// Where the Backup's calls go: its own credentials, else its Database's, else the default.
fn located(ctx: &Context, object: &Backup, db: Option<&Database>) -> Result<Located, Error> {
    let own = object.spec.source.credential_refs();
    let refs = match db {
        Some(db) if own.provider_config.is_none() && own.token_secret.is_none() => {
            db.spec.managed.credential_refs()
        }
        _ => own,
    };
    managed::located(ctx, object, Provider::Htx, refs)
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

/// Pending until the backup can be asked for: look again every poll interval.
async fn wait(
    run: &mut Run<'_, Backup>,
    reason: &'static str,
    message: String,
) -> Result<Action, Error> {
    let already =
        conditions::find(&run.status().conditions, READY).is_some_and(|c| c.reason == reason);
    if !already {
        run.publish(false, reason, message.clone()).await;
    }
    let mut status = run.status_with(&[Wanted::ready(false, reason, message)]);
    status.phase = Some(BackupPhase::Pending);
    run.write(status).await?;
    Ok(Action::requeue(run.ctx.timing.poll))
}

/// With the database and token known: follow the backup, find it after a crash, or ask for it.
async fn follow(run: &mut Run<'_, Backup>, target: &Target, resync: bool) -> Result<Action, Error> {
    let ctx = run.ctx;
    let client = run.session(&target.located).await?;
    let database = target.database.as_str();
    if let Some(id) = run.status().backup_id.clone() {
        let found = observe(ctx, &client, database, &id, resync).await?;
        return mirror(run, database, &found).await;
    }
    let lock = ctx.state::<super::HtxState>().backups.lock(database);
    let _serialized = lock.lock().await;
    if run.reread().await?.is_none() {
        return Ok(Action::await_change());
    }
    let status = run.status().clone();
    let asked = status.backup_id.is_some() || status.create_requested_at.is_some();
    if asked && status.database_name.as_deref() != Some(database) {
        // Bound to another database than the copy this reconcile started from said: look again.
        return Ok(Action::requeue(ctx.timing.poll));
    }
    if let Some(id) = status.backup_id.clone() {
        let found = observe(ctx, &client, database, &id, resync).await?;
        return mirror(run, database, &found).await;
    }
    if let Some(requested_at) = status.create_requested_at.clone() {
        return find_asked(run, &client, database, requested_at.0).await;
    }
    let others = Others::list(&run.api, run.object).await?;
    if let Some(other) = others.awaiting_answer(database) {
        let message = format!(
            "waiting for Backup '{other}', whose request for a backup of database '{database}' has no answer recorded yet (found within --list-lag, or given up): \
             one request at a time per database keeps every backup found by its own Backup"
        );
        return wait(run, "RequestUnanswered", message).await;
    }
    request(run, &client, database).await
}

/// The other Backups of the namespace, as stored now.
struct Others(Vec<Backup>);

impl Others {
    async fn list(api: &Api<Backup>, object: &Backup) -> Result<Self, Error> {
        let uid = object.uid().unwrap_or_default();
        let mut others = api.list(&ListParams::default()).await?.items;
        others.retain(|other| other.metadata.uid.as_deref() != Some(uid.as_str()));
        Ok(Self(others))
    }

    /// The portal backups they hold.
    fn claimed(&self) -> HashSet<String> {
        self.statuses()
            .filter_map(|(_, status)| status.backup_id.clone())
            .collect()
    }

    /// One of them whose request for a backup of `database` is still unanswered.
    fn awaiting_answer(&self, database: &str) -> Option<String> {
        self.statuses()
            .find(|(_, status)| backup_plan::awaiting_answer(status, database))
            .map(|(backup, _)| backup.name_any())
    }

    fn statuses(&self) -> impl Iterator<Item = (&Backup, &BackupStatus)> {
        self.0
            .iter()
            .filter_map(|backup| Some((backup, backup.status.as_ref()?)))
    }
}

/// The request was sent (or was about to be) and its answer never recorded: find the backup it
/// made. A list may not show it yet, so none found is waited on for `list_lag`; none (or several
/// that no other Backup claims) after that is `OutcomeUnknown`, never a second request.
async fn find_asked(
    run: &mut Run<'_, Backup>,
    client: &Session,
    database: &str,
    requested_at: Timestamp,
) -> Result<Action, Error> {
    let listed = Htx(client).list_backups(database).await?;
    let recorded = run.status().request_baseline.clone().unwrap_or_default();
    let claimed = Others::list(&run.api, run.object).await?.claimed();
    let found = candidates(&listed, &recorded, &claimed);
    match recover(&found, within_lag(requested_at, run.ctx.timing.list_lag)) {
        Recovery::Found(backup) => {
            let note = format!(
                "found backup {} of database '{database}', asked for before its answer was recorded: not asking again",
                backup.id
            );
            run.publish(false, "Recovered", note).await;
            mirror(run, database, backup).await
        }
        Recovery::Wait => Err(Error::BackupNotListed {
            database: database.to_owned(),
        }),
        Recovery::Unknown => {
            let ids: Vec<&str> = found.iter().map(|b| b.id.as_str()).collect();
            let message = outcome_unknown_message(database, requested_at, &ids);
            if run.status().phase != Some(BackupPhase::OutcomeUnknown) {
                run.publish(true, "OutcomeUnknown", message.clone()).await;
            }
            let synced = Wanted::synced(true, "Synced", "the status is the portal's");
            let mut status =
                run.status_with(&[Wanted::ready(false, "OutcomeUnknown", message), synced]);
            status.phase = Some(BackupPhase::OutcomeUnknown);
            run.write(status).await?;
            Ok(Action::await_change())
        }
    }
}

fn outcome_unknown_message(database: &str, requested_at: Timestamp, ids: &[&str]) -> String {
    let seen = match ids {
        [] => "the portal lists no new backup of it since".to_owned(),
        ids => format!(
            "the portal lists several new backups of it that no other Backup claims ({})",
            ids.join(", ")
        ),
    };
    format!(
        "a backup of database '{database}' was asked for at {requested_at} and its answer was lost; {seen}, so whether it was taken cannot be told. \
         The operator does not ask twice: check the database's backups at the portal, then delete this Backup (and create a new one to ask again)"
    )
}

/// Records the intent, then asks the portal for the backup, once.
async fn request(
    run: &mut Run<'_, Backup>,
    client: &Session,
    database: &str,
) -> Result<Action, Error> {
    let listed = Htx(client).list_backups(database).await?;
    // The permit first, then the intent: the intent is written right before the request leaves.
    client.reserve_write().await;
    let message = format!("asking the portal for a backup of database '{database}'");
    let mut intent = run.status_with(&[Wanted::ready(false, "Requesting", message)]);
    intent.phase = Some(BackupPhase::Pending);
    intent.database_name = Some(database.to_owned());
    intent.create_requested_at = Some(Time(Timestamp::now()));
    intent.request_baseline = Some(baseline(&listed));
    run.write(intent).await?;

    match Htx(client)
        .create_backup(database, CreateRetry::WhenNotApplied)
        .await
    {
        Ok(Some(created)) if !created.id.is_empty() => {
            let note = format!(
                "asked the portal for a backup of database '{database}': backup {}",
                created.id
            );
            run.publish(false, "Requested", note).await;
            mirror(run, database, &created).await
        }
        Ok(_) => {
            // Accepted without naming the backup: it is the new one in a list.
            let note = format!("asked the portal for a backup of database '{database}'");
            run.publish(false, "Requested", note).await;
            let requested_at = run
                .status()
                .create_requested_at
                .as_ref()
                .map_or_else(Timestamp::now, |t| t.0);
            find_asked(run, client, database, requested_at).await
        }
        Err(error) if error.is_refusal() => {
            // The portal certainly made no backup: forget the intent, so the next request
            // records a fresh baseline.
            let mut status = run.status().clone();
            status.create_requested_at = None;
            status.request_baseline = None;
            run.write(status).await?;
            if let crate::http::PortalError::Rejected { status: 409, .. } = &error {
                let message = format!(
                    "the portal cannot back up database '{database}' now ({error}): asking again shortly"
                );
                return wait(run, "DatabaseNotReady", message).await;
            }
            Err(error.into())
        }
        // The request may have taken effect (a 5xx, a lost connection, an unreadable answer):
        // the intent stays, and the next reconcile looks for the backup before anything else.
        Err(error) => Err(error.into()),
    }
}

/// The backup `id` from a shared list of the database's backups no older than the poll
/// interval (taken now for a resync request); a backup missing from it is looked for in a list
/// taken now before it counts as gone.
async fn observe(
    ctx: &Context,
    client: &Session,
    database: &str,
    id: &str,
    fresh: bool,
) -> Result<portal::Backup, Error> {
    let mut hasher = DefaultHasher::new();
    (client.fingerprint(), database).hash(&mut hasher);
    let key = hasher.finish();
    let list = || async {
        let items = Htx(client).list_backups(database).await?;
        Ok(items.into_iter().map(|b| (b.id.clone(), b)).collect())
    };
    let now = Instant::now();
    let not_before = if fresh {
        now
    } else {
        now.checked_sub(ctx.timing.poll).unwrap_or(now)
    };
    let snapshots = &ctx.state::<super::HtxState>().backups.snapshots;
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
    run: &mut Run<'_, Backup>,
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
        BackupPhase::Running | BackupPhase::Pending | BackupPhase::OutcomeUnknown => Wanted::ready(
            false,
            "Running",
            format!(
                "the portal reports backup {id} of database '{database}' as '{}'",
                seen.state
            ),
        ),
    };
    let synced = Wanted::synced(true, "Synced", "the status is the portal's");
    let previous = run.status().phase;
    let mut status = run.status_with(&[ready.clone(), synced]);
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
    run.write(status).await?;
    if previous != Some(seen.phase) && seen.phase.is_final() {
        let reason = if seen.phase == BackupPhase::Completed {
            "Completed"
        } else {
            "Failed"
        };
        run.publish(!ready.status, reason, ready.message).await;
    }
    Ok(match seen.phase {
        BackupPhase::Completed | BackupPhase::Failed | BackupPhase::OutcomeUnknown => {
            Action::await_change()
        }
        BackupPhase::Running | BackupPhase::Pending => Action::requeue(run.ctx.timing.poll),
    })
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
    crate::reconcile::report::publish(ctx, object, false, "Deleted", note).await;
}
