//! The WaysRestore reconcile: one restore, never repeated. The portal gives a restore no id and
//! no status, so the intent is recorded first, and a restore whose answer was not recorded (a
//! lost answer, a crash) stops at `OutcomeUnknown` for a person to decide. A restore is an
//! action: deleting the object changes nothing at the portal, and it carries no finalizer.

use std::future::Future;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use crate::api::{
    PAUSED_ANNOTATION, RestorePhase, SnapshotPhase, WaysRestore, WaysRestoreSpec,
    WaysRestoreStatus, WaysSnapshot, ways_restore::TARGET_REQUIRED,
};
use crate::http::Session;
use crate::reconcile::conditions::{self, READY, Wanted};
use crate::reconcile::error::Error;
use crate::reconcile::managed;
use crate::reconcile::shell::{Reconciled, Run, StatusParts};

use super::client::{RestoreRequest, Ways};
use super::source::{Resolved, Target, resolve};

impl Reconciled for WaysRestore {
    type Status = WaysRestoreStatus;

    fn status(&self) -> Option<&WaysRestoreStatus> {
        self.status.as_ref()
    }

    fn conditions(status: &WaysRestoreStatus) -> &[Condition] {
        &status.conditions
    }

    fn parts(status: &mut WaysRestoreStatus) -> StatusParts<'_> {
        StatusParts {
            observed_generation: &mut status.observed_generation,
            last_sync_time: &mut status.last_sync_time,
            conditions: &mut status.conditions,
        }
    }

    fn failed(status: &mut WaysRestoreStatus, generation: Option<i64>, error: &Error) {
        status.conditions = managed::failed_conditions(&status.conditions, generation, error);
        status.phase = status.phase.or(Some(RestorePhase::Pending));
    }

    fn drive(run: &mut Run<'_, Self>) -> impl Future<Output = Result<Action, Error>> + Send {
        drive(run)
    }
}

/// Where the snapshot's data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<'a> {
    /// Over the database's own data.
    InPlace,
    /// Into a new database of this requested name.
    NewDatabase(&'a str),
}

/// The target the spec asks for: never in place unless it says `inPlace: true`.
pub fn destination(spec: &WaysRestoreSpec) -> Result<Destination<'_>, Error> {
    match (spec.target_name.as_deref(), spec.in_place == Some(true)) {
        (Some(name), false) => Ok(Destination::NewDatabase(name)),
        (None, true) => Ok(Destination::InPlace),
        _ => Err(Error::InvalidSpec {
            reason: "InvalidSpec",
            message: TARGET_REQUIRED.to_owned(),
        }),
    }
}

async fn drive(run: &mut Run<'_, WaysRestore>) -> Result<Action, Error> {
    let object = run.object;
    if run.status().phase.is_some_and(RestorePhase::is_final) {
        return Ok(Action::await_change());
    }
    if managed::is_paused(object) {
        let message = format!(
            "reconciliation is paused by the {PAUSED_ANNOTATION} annotation: no portal calls are made"
        );
        let mut status = run.status_with(&[Wanted::ready(false, "Paused", message)]);
        status.phase = status.phase.or(Some(RestorePhase::Pending));
        run.write(status).await?;
        return Ok(Action::await_change());
    }
    if let Some(requested_at) = run.status().requested_at.clone() {
        // Asked for, and no answer recorded: the operator stopped, or a write failed after it.
        return outcome_unknown(
            run,
            requested_at.0,
            "the operator stopped before recording it",
        )
        .await;
    }
    let into = destination(&object.spec)?;
    let target = match resolve(run.ctx, object, &object.spec.source).await? {
        Resolved::Target(target) => target,
        Resolved::Waiting(message) => return wait(run, "DatabaseNotReady", message).await,
    };
    let snapshot_id = match snapshot_id(run, &target).await? {
        Ok(id) => id,
        Err(message) => return wait(run, "SnapshotNotReady", message).await,
    };
    let client = run.session(&target.located).await?;
    if let Destination::NewDatabase(name) = into {
        refuse_taken(&client, &target, name).await?;
    }
    request(run, &client, &target, &snapshot_id, into).await
}

/// The snapshot's id, or why it is waited for.
async fn snapshot_id(
    run: &Run<'_, WaysRestore>,
    target: &Target,
) -> Result<Result<String, String>, Error> {
    let spec = &run.object.spec;
    let name = match (&spec.snapshot_ref, &spec.snapshot_id) {
        (None, Some(id)) => return Ok(Ok(id.clone())),
        (Some(reference), None) => &reference.name,
        _ => {
            return Err(Error::InvalidSpec {
                reason: "InvalidSpec",
                message: "set exactly one of spec.snapshotRef (a WaysSnapshot in this namespace) and spec.snapshotId (a portal snapshot id)".to_owned(),
            });
        }
    };
    let api: Api<WaysSnapshot> = Api::namespaced(
        run.ctx.kube.clone(),
        &run.object.namespace().unwrap_or_default(),
    );
    let Some(snapshot) = api.get_opt(name).await? else {
        return Ok(Err(format!(
            "the WaysSnapshot '{name}' does not exist in this namespace: waiting for it"
        )));
    };
    let status = snapshot.status.unwrap_or_default();
    let (Some(SnapshotPhase::Completed), Some(id)) = (status.phase, status.snapshot_id) else {
        return Ok(Err(format!(
            "waiting for the WaysSnapshot '{name}' to be taken (phase {:?})",
            status.phase
        )));
    };
    if status.database_name.as_deref() != Some(&target.db_name)
        || status.db_type != Some(target.db_type)
    {
        return Err(Error::InvalidSpec {
            reason: "InvalidSpec",
            message: format!(
                "the WaysSnapshot '{name}' is a snapshot of database '{}', not of '{}': a snapshot is restored through its own database",
                status.database_name.unwrap_or_default(),
                target.db_name
            ),
        });
    }
    Ok(Ok(id))
}

/// A new database's name already taken at the portal: nothing is restored (the portal could
/// otherwise answer for the existing database).
async fn refuse_taken(client: &Session, target: &Target, name: &str) -> Result<(), Error> {
    let listed = Ways(client).list_databases(target.db_type.as_str()).await?;
    if let Some(taken) = listed.iter().find(|db| db.requested == name) {
        return Err(Error::InvalidSpec {
            reason: "AlreadyExists",
            message: format!(
                "a database '{}' already exists at the portal: restore into another spec.targetName (this WaysRestore cannot change: create a new one)",
                taken.db_name
            ),
        });
    }
    Ok(())
}

async fn wait(
    run: &mut Run<'_, WaysRestore>,
    reason: &'static str,
    message: String,
) -> Result<Action, Error> {
    let already =
        conditions::find(&run.status().conditions, READY).is_some_and(|c| c.reason == reason);
    if !already {
        run.publish(false, reason, message.clone()).await;
    }
    let mut status = run.status_with(&[Wanted::ready(false, reason, message)]);
    status.phase = Some(RestorePhase::Pending);
    run.write(status).await?;
    Ok(Action::requeue(run.ctx.timing.poll))
}

/// Records the intent, then asks the portal for the restore, once.
async fn request(
    run: &mut Run<'_, WaysRestore>,
    client: &Session,
    target: &Target,
    snapshot_id: &str,
    into: Destination<'_>,
) -> Result<Action, Error> {
    let db_name = target.db_name.as_str();
    let whereto = describe(db_name, into);
    client.reserve_write().await;
    let message = format!("asking the portal to restore snapshot {snapshot_id} {whereto}");
    let mut intent = run.status_with(&[Wanted::ready(false, "Restoring", message)]);
    let requested_at = Timestamp::now();
    intent.phase = Some(RestorePhase::Running);
    intent.database_name = Some(db_name.to_owned());
    intent.db_type = Some(target.db_type);
    intent.snapshot_id = Some(snapshot_id.to_owned());
    intent.requested_at = Some(Time(requested_at));
    run.write(intent).await?;

    let body = RestoreRequest {
        snapshot_id,
        target_db_name: match into {
            Destination::InPlace => None,
            Destination::NewDatabase(name) => Some(name),
        },
    };
    let answer = Ways(client)
        .restore(target.db_type.as_str(), db_name, &body)
        .await;
    match answer {
        Ok(restored) if restored.success != Some(false) => {
            let restored_into = restored.db_name.unwrap_or_else(|| match into {
                Destination::InPlace => db_name.to_owned(),
                Destination::NewDatabase(name) => name.to_owned(),
            });
            let message = format!("restored snapshot {snapshot_id} {whereto}: '{restored_into}'");
            run.publish(false, "Completed", message.clone()).await;
            let mut status = run.status_with(&[
                Wanted::ready(true, "Completed", message),
                Wanted::synced(true, "Synced", "the status is the portal's"),
            ]);
            status.phase = Some(RestorePhase::Completed);
            status.restored_into = Some(restored_into);
            status.completed_at = Some(Time(Timestamp::now()));
            run.write(status).await?;
            Ok(Action::await_change())
        }
        Ok(_) => {
            let message = format!(
                "the portal answered that the restore of snapshot {snapshot_id} {whereto} did not succeed: create a new WaysRestore to try again"
            );
            run.publish(true, "Failed", message.clone()).await;
            let mut status = run.status_with(&[Wanted::ready(false, "Failed", message)]);
            status.phase = Some(RestorePhase::Failed);
            run.write(status).await?;
            Ok(Action::await_change())
        }
        Err(error) if error.is_refusal() => {
            // The portal certainly restored nothing: no intent is left behind, and the restore
            // is asked for again once what the error says is fixed.
            let mut status = run.status().clone();
            status.requested_at = None;
            status.phase = Some(RestorePhase::Pending);
            run.write(status).await?;
            Err(error.into())
        }
        Err(error) => {
            let why = format!("the answer was lost ({error})");
            outcome_unknown(run, requested_at, &why).await
        }
    }
}

fn describe(db_name: &str, into: Destination<'_>) -> String {
    match into {
        Destination::InPlace => format!("over the data of database '{db_name}' (in place)"),
        Destination::NewDatabase(name) => {
            format!("of database '{db_name}' into a new database named '{name}'")
        }
    }
}

/// Final: the restore was asked for and what came of it is not known.
async fn outcome_unknown(
    run: &mut Run<'_, WaysRestore>,
    requested_at: Timestamp,
    why: &str,
) -> Result<Action, Error> {
    let spec = &run.object.spec;
    let status = run.status();
    let db_name = status.database_name.clone().unwrap_or_default();
    let snapshot = status.snapshot_id.clone().unwrap_or_default();
    let check = match spec.target_name.as_deref() {
        Some(name) => format!(
            "check whether the portal lists a new database named after '{name}' (the restore made it if so)"
        ),
        None => format!("check the data of database '{db_name}'"),
    };
    let message = format!(
        "a restore of snapshot {snapshot} of database '{db_name}' was asked for at {requested_at}, and {why}; the portal gives restores no id, so whether it ran cannot be told. \
         The operator never restores twice on its own: {check}; to restore again, create a new WaysRestore"
    );
    if status.phase != Some(RestorePhase::OutcomeUnknown) {
        run.publish(true, "OutcomeUnknown", message.clone()).await;
    }
    let mut status = run.status_with(&[Wanted::ready(false, "OutcomeUnknown", message)]);
    status.phase = Some(RestorePhase::OutcomeUnknown);
    run.write(status).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(fields: serde_json::Value) -> WaysRestoreSpec {
        let mut body = json!({"databaseName": "cust_c1_pg_orders", "dbType": "postgresql", "snapshotId": "snap_1"});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn in_place_only_when_asked_for_explicitly() {
        assert_eq!(
            destination(&spec(json!({"targetName": "orders_copy"}))).unwrap(),
            Destination::NewDatabase("orders_copy")
        );
        assert_eq!(
            destination(&spec(json!({"inPlace": true}))).unwrap(),
            Destination::InPlace
        );
        for refused in [
            json!({}),
            json!({"inPlace": false}),
            json!({"targetName": "orders_copy", "inPlace": true}),
        ] {
            let error = destination(&spec(refused.clone())).unwrap_err();
            assert_eq!(error.reason(), "InvalidSpec", "{refused}");
            assert!(error.to_string().contains("inPlace: true"), "{error}");
        }
        assert_eq!(
            destination(&spec(json!({"targetName": "copy", "inPlace": false}))).unwrap(),
            Destination::NewDatabase("copy")
        );
    }
}
