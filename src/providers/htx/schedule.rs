//! The BackupSchedule reconcile: at each slot, a Backup object named after the slot and owned
//! by the schedule; the oldest finished ones pruned beyond the history limits. It makes no portal
//! call: the Backups do, and report their own progress and errors.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use crate::api::{
    Backup, BackupPhase, BackupSchedule, BackupScheduleStatus, BackupSpec, PAUSED_ANNOTATION,
};

use super::schedule_plan::{Due, Made, Schedule, backup_name, due, to_prune};
use crate::reconcile::conditions::{self, READY, Wanted};
use crate::reconcile::context::Context;
use crate::reconcile::error::Error;
use crate::reconcile::managed;
use crate::reconcile::report::{MANAGER, publish};
use crate::reconcile::shell::{Reconciled, Run, StatusParts};

/// On each Backup a schedule creates: the slot it was created for (RFC 3339, UTC).
pub const SCHEDULED_AT_ANNOTATION: &str = "htx.vinacis.com/scheduled-at";

impl Reconciled for BackupSchedule {
    type Status = BackupScheduleStatus;

    fn status(&self) -> Option<&BackupScheduleStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &BackupScheduleStatus) -> &[Condition] {
        &status.conditions
    }

    fn parts(status: &mut BackupScheduleStatus) -> StatusParts<'_> {
        StatusParts {
            observed_generation: &mut status.observed_generation,
            last_sync_time: &mut status.last_sync_time,
            conditions: &mut status.conditions,
        }
    }

    /// Whatever failed, the schedule is not doing its work until it is fixed.
    fn failed(status: &mut BackupScheduleStatus, generation: Option<i64>, error: &Error) {
        let wanted = [Wanted::ready(false, error.reason(), error.to_string())];
        status.conditions =
            conditions::merge(&status.conditions, &wanted, generation, Timestamp::now());
        if matches!(error, Error::InvalidSpec { .. }) {
            status.next_schedule_time = None;
        }
    }

    fn drive(
        run: &mut Run<'_, BackupSchedule>,
    ) -> impl Future<Output = Result<Action, Error>> + Send {
        drive(run)
    }
}

async fn drive(run: &mut Run<'_, BackupSchedule>) -> Result<Action, Error> {
    let ctx = run.ctx;
    // The schedule as stored now: a cached copy may not show the last slot taken yet.
    let Some(schedule_object) = run.reread().await? else {
        return Ok(Action::await_change());
    };
    let object = &schedule_object;
    let current = run.status().clone();
    let spec = &object.spec;
    spec.source.target().map_err(|message| Error::InvalidSpec {
        reason: "InvalidSpec",
        message: message.to_owned(),
    })?;
    let schedule = Schedule::parse(&spec.schedule).map_err(|message| Error::InvalidSpec {
        reason: "InvalidSchedule",
        message,
    })?;
    let now = Timestamp::now();
    let next = schedule.next_after(now).ok_or_else(|| Error::InvalidSpec {
        reason: "InvalidSchedule",
        message: format!("'{}' names no time to come", spec.schedule.trim()),
    })?;

    let backups: Api<Backup> =
        Api::namespaced(ctx.kube.clone(), &object.namespace().unwrap_or_default());
    let uid = object.uid().unwrap_or_default();
    let mut owned: Vec<Backup> = backups
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|backup| is_owned_by(backup, &uid))
        .collect();
    // The newest slot taken: a reconcile whose status write was refused (the spec changed under
    // it, e.g. suspended) may have made its Backup without recording the slot.
    let last_taken = [
        current.last_schedule_time.as_ref().map(|t| t.0),
        owned.iter().map(slot_of).max(),
    ]
    .into_iter()
    .flatten()
    .max();
    let since = [
        last_taken,
        object.metadata.creation_timestamp.as_ref().map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(now);

    let paused = managed::is_paused(object);
    let active = !spec.suspended() && !paused;
    let mut last_schedule = last_taken.map(Time);
    let mut skipped = None;
    if active {
        match due(&schedule, since, now, deadline(object)) {
            Due::Take(slot) => {
                if let Some(created) = take(object, &backups, ctx, &schedule, slot).await? {
                    owned.push(created);
                }
                last_schedule = Some(Time(slot));
            }
            Due::TooLate(slot) => skipped = Some(slot),
            Due::Nothing => {}
        }
    }

    let (last_successful, last_successful_time) = newest_completed(&owned)
        .map(|b| {
            let completed = b.status.as_ref().and_then(|s| s.completed_at.clone());
            (Some(b.name_any()), completed)
        })
        .unwrap_or((
            current.last_successful_backup.clone(),
            current.last_successful_time.clone(),
        ));
    prune(object, &backups, ctx, &owned).await?;

    let ready = if paused {
        Wanted::ready(
            false,
            "Paused",
            format!(
                "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no Backups are created"
            ),
        )
    } else if spec.suspended() {
        Wanted::ready(true, "Suspended", "suspended: no Backups are created")
    } else {
        let mut message = format!("a Backup at every '{}' (UTC)", spec.schedule.trim());
        if let Some(slot) = skipped {
            message.push_str(&format!(
                "; skipped the slot at {slot}, missed by more than startingDeadlineSeconds"
            ));
        }
        Wanted::ready(true, "Scheduled", message)
    };
    if let Some(slot) = skipped
        && conditions::find(&current.conditions, READY).is_none_or(|c| c.message != ready.message)
    {
        let note = format!(
            "missed the slot at {slot} by more than startingDeadlineSeconds (the operator was not running): skipped"
        );
        publish(ctx, object, true, "MissedSchedule", note).await;
    }
    let generation = object.metadata.generation;
    let status = BackupScheduleStatus {
        observed_generation: generation,
        conditions: conditions::merge(&current.conditions, &[ready], generation, now),
        last_schedule_time: last_schedule,
        next_schedule_time: active.then_some(Time(next)),
        last_successful_backup: last_successful,
        last_successful_time,
        last_sync_time: current.last_sync_time.clone(),
    };
    run.write(status).await?;
    if !active {
        return Ok(Action::await_change());
    }
    let wait = Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or_default();
    Ok(Action::requeue(wait + Duration::from_millis(50)))
}

fn deadline(object: &BackupSchedule) -> Option<Duration> {
    let seconds = object.spec.starting_deadline_seconds?;
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

fn is_owned_by(backup: &Backup, uid: &str) -> bool {
    backup
        .owner_references()
        .iter()
        .any(|owner| owner.controller == Some(true) && owner.uid == uid)
}

/// The slot a Backup was made for (its creation time if it lacks the annotation).
fn slot_of(backup: &Backup) -> Timestamp {
    backup
        .annotations()
        .get(SCHEDULED_AT_ANNOTATION)
        .and_then(|text| text.parse().ok())
        .or_else(|| backup.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn phase_of(backup: &Backup) -> Option<BackupPhase> {
    backup.status.as_ref().and_then(|s| s.phase)
}

fn newest_completed(owned: &[Backup]) -> Option<&Backup> {
    owned
        .iter()
        .filter(|b| phase_of(b) == Some(BackupPhase::Completed))
        .max_by_key(|b| (slot_of(b), b.name_any()))
}

/// Creates the Backup of `slot`. Its name is the slot's, so after a crash between this and the
/// status write the same Backup is found, not a second one made. `None`: it existed already.
async fn take(
    schedule_object: &BackupSchedule,
    backups: &Api<Backup>,
    ctx: &Context,
    schedule: &Schedule,
    slot: Timestamp,
) -> Result<Option<Backup>, Error> {
    let name = backup_name(&schedule_object.name_any(), slot, schedule.with_seconds());
    let owner = schedule_object
        .controller_owner_ref(&())
        .expect("a stored object has a name and uid");
    let backup = Backup {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: schedule_object.namespace(),
            owner_references: Some(vec![owner]),
            annotations: Some([(SCHEDULED_AT_ANNOTATION.to_owned(), slot.to_string())].into()),
            ..ObjectMeta::default()
        },
        spec: BackupSpec {
            source: schedule_object.spec.source.clone(),
        },
        status: None,
    };
    let params = PostParams {
        field_manager: Some(MANAGER.to_owned()),
        ..PostParams::default()
    };
    match backups.create(&params, &backup).await {
        Ok(created) => {
            let note = format!("created Backup {name} for the slot at {slot}");
            publish(ctx, schedule_object, false, "Scheduled", note).await;
            Ok(Some(created))
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let uid = schedule_object.uid().unwrap_or_default();
            match backups.get_opt(&name).await? {
                Some(existing) if is_owned_by(&existing, &uid) => Ok(None),
                _ => {
                    let note = format!(
                        "a Backup named {name} exists and is not this schedule's: the slot at {slot} is skipped"
                    );
                    publish(ctx, schedule_object, true, "BackupNameTaken", note).await;
                    Ok(None)
                }
            }
        }
        Err(error) => Err(error.into()),
    }
}

/// Deletes the finished Backups beyond the history limits. Their backups stay at the portal.
async fn prune(
    schedule_object: &BackupSchedule,
    backups: &Api<Backup>,
    ctx: &Context,
    owned: &[Backup],
) -> Result<(), Error> {
    let spec = &schedule_object.spec;
    let made: Vec<Made> = owned
        .iter()
        .map(|b| Made {
            name: b.meta().name.as_deref().unwrap_or_default(),
            phase: phase_of(b),
            at: slot_of(b),
        })
        .collect();
    for name in to_prune(&made, spec.successful_history(), spec.failed_history()) {
        let Some(backup) = owned.iter().find(|b| b.name_any() == name) else {
            continue;
        };
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: backup.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match backups.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => continue,
            Err(error) => return Err(error.into()),
        }
        let (limit, kind) = if phase_of(backup) == Some(BackupPhase::Completed) {
            (spec.successful_history(), "successfulBackupsHistoryLimit")
        } else {
            (spec.failed_history(), "failedBackupsHistoryLimit")
        };
        let kept = match backup.status.as_ref().and_then(|s| s.backup_id.as_deref()) {
            Some(id) => {
                format!("; backup {id} stays at the portal, which has no route to delete backups")
            }
            None => String::new(),
        };
        let note = format!("deleted Backup {name}, beyond {kind} {limit}{kept}");
        publish(ctx, schedule_object, false, "Pruned", note).await;
    }
    Ok(())
}
