//! Backups: the backup policy, snapshots (taken, listed newest first, deleted) and restores, in
//! place or into a new database.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde_json::json;

use super::bodies::{RestoreBody, parse_policy, parse_snapshot};
use super::faults::Call;
use super::model::Snapshot;
use super::request::{
    Answer, St, Who, db_type, denied, done, made, not_found, ok, valid, valid_type,
};
use super::views;
use crate::sim::clock::now_ms;

pub(crate) async fn policy(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    ok(views::policy(db, now_ms()))
}

/// Replaces the policy (ASSUMPTION, `assumed`: backup policy).
pub(crate) async fn set_policy(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (db_type, policy) = valid(db_type(&raw_type), parse_policy(&body))?;
    let view = {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        db.policy = policy;
        views::policy(db, now_ms())
    };
    s.stats.effective(Call::PolicyPut);
    ok(view)
}

pub(crate) async fn snapshots(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    let store = s.store();
    let db = store
        .owned(&caller.customer, db_type, &name)
        .map_err(|d| denied(d, &name))?;
    let newest_first: Vec<_> = db
        .snapshots
        .iter()
        .rev()
        .map(|snap| views::snapshot(db, snap))
        .collect();
    ok(json!({ "db_name": db.name, "db_type": db_type, "snapshots": newest_first }))
}

pub(crate) async fn take_snapshot(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (db_type, description) = valid(db_type(&raw_type), parse_snapshot(&body))?;
    let mut view = {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        let snapshot = Snapshot::new(description, db.size_mb, now_ms(), false);
        let view = views::snapshot(db, &snapshot);
        db.snapshots.push(snapshot);
        view
    };
    view["success"] = json!(true);
    view["message"] = json!(format!("Snapshot of {name} created"));
    s.stats.effective(Call::Snapshot);
    made(view)
}

pub(crate) async fn delete_snapshot(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name, snapshot_id)): Path<(String, String, String)>,
) -> Answer {
    let db_type = valid_type(&raw_type)?;
    {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        let index = db
            .snapshots
            .iter()
            .position(|snap| snap.id == snapshot_id)
            .ok_or_else(|| not_found(&format!("Snapshot {snapshot_id}")))?;
        db.snapshots.remove(index);
    }
    s.stats.effective(Call::SnapshotDelete);
    done(format!("Snapshot {snapshot_id} deleted"))
}

/// Replaces the database's data with the snapshot's (its data generation goes up by one), or
/// makes a new database from it (ASSUMPTION, `assumed`: restores).
pub(crate) async fn restore(
    State(s): St,
    Extension(caller): Who,
    Path((raw_type, name)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let (db_type, body) = valid(db_type(&raw_type), RestoreBody::parse(&body))?;
    let restored_into = {
        let mut store = s.store();
        let db = store
            .owned_mut(&caller.customer, db_type, &name)
            .map_err(|d| denied(d, &name))?;
        let snapshot = db
            .snapshot(&body.snapshot_id)
            .cloned()
            .ok_or_else(|| not_found(&format!("Snapshot {}", body.snapshot_id)))?;
        match &body.target_db_name {
            None => {
                db.generation += 1;
                db.size_mb = snapshot.size_mb;
                db.restored_from = Some(snapshot.id);
                name.clone()
            }
            Some(target) => {
                let target_name = super::model::db_name(&caller.customer, db_type, target);
                store
                    .restore_into_new(&caller.customer, db_type, &snapshot, target, now_ms())
                    .map_err(|d| denied(d, &target_name))?
                    .name
                    .clone()
            }
        }
    };
    s.stats.effective(Call::Restore);
    ok(json!({
        "success": true,
        "db_name": restored_into,
        "snapshot_id": body.snapshot_id,
        "message": format!("Database {restored_into} restored from snapshot {}", body.snapshot_id),
    }))
}
