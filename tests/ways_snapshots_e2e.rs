//! WaysSnapshot and WaysRestore end to end: the operator against the WaysCloud simulator and a
//! real API server. Each test counts what reached the portal (every POST, not only the ones that
//! worked), so "once" means once.

mod support;

use std::time::Duration;

use htx_operator::api::{
    RestorePhase, SnapshotPhase, WaysDatabase, WaysRestore, WaysSnapshot, WaysSnapshotStatus,
};
use htx_operator::providers::ways::sim::{AfterEffect, Armed, Call, DbType};
use htx_operator::sim::stats::RequestCounts;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use support::{
    Stack, StackOptions, create, events_report, is_ready, not_ready_because, object, ready,
    wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);
const SNAPSHOTS: &str = "/v1/databases/{db_type}/{db_name}/snapshots";
const RESTORE: &str = "/v1/databases/{db_type}/{db_name}/restore";

async fn ways_stack(extra_args: &[&str]) -> Stack {
    let mut options = StackOptions {
        ways: Some(Default::default()),
        ..StackOptions::default()
    };
    options
        .operator_args
        .extend(extra_args.iter().map(|arg| (*arg).to_owned()));
    Stack::start(options).await
}

/// A WaysDatabase `name` (PostgreSQL), Ready; its portal name.
async fn ready_database(stack: &Stack, name: &str) -> String {
    let api = stack.api::<WaysDatabase>();
    create(
        &api,
        &object("WaysDatabase", name, json!({"dbType": "postgresql"})),
    )
    .await;
    let db = wait_for(&api, name, "the database Ready", SHORT, is_ready).await;
    db.status
        .and_then(|s| s.db_name)
        .expect("a Ready database has its name")
}

fn snapshot_status(snapshot: &WaysSnapshot) -> WaysSnapshotStatus {
    snapshot.status.clone().unwrap_or_default()
}

fn taken(snapshot: &WaysSnapshot) -> bool {
    is_ready(snapshot) && snapshot_status(snapshot).phase == Some(SnapshotPhase::Completed)
}

fn restore_phase(restore: &WaysRestore) -> Option<RestorePhase> {
    restore.status.as_ref().and_then(|s| s.phase)
}

/// POSTs to the snapshot route, whatever their answer.
fn snapshot_posts(stack: &Stack) -> u64 {
    stack
        .ways()
        .sim
        .hooks()
        .stats()
        .requests
        .route_total("POST", SNAPSHOTS)
}

fn restore_posts(stack: &Stack) -> u64 {
    stack
        .ways()
        .sim
        .hooks()
        .stats()
        .requests
        .route_total("POST", RESTORE)
}

/// The snapshot ids the portal holds for `db_name`.
fn portal_snapshots(stack: &Stack, db_name: &str) -> Vec<String> {
    let db = stack
        .ways()
        .sim
        .hooks()
        .database(DbType::Postgresql, db_name);
    db.map(|db| db.snapshots.into_iter().map(|s| s.snapshot_id).collect())
        .unwrap_or_default()
}

async fn wait_for_the_portal(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + SHORT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One POST, one snapshot, Ready with the portal's id, size and time; its description carries
/// the object's identity; the backup policy's snapshot beside it is not mistaken for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_is_taken_once_and_ready() {
    let stack = ways_stack(&[]).await;
    let db_name = ready_database(&stack, "orders").await;
    let hooks = stack.ways().sim.hooks();
    let policy = hooks
        .take_policy_snapshot(DbType::Postgresql, &db_name)
        .unwrap();
    let api = stack.api::<WaysSnapshot>();
    let spec = json!({"databaseRef": {"name": "orders"}, "description": "before migration"});
    create(&api, &object("WaysSnapshot", "pre-v2", spec)).await;
    let done = wait_for(&api, "pre-v2", "the snapshot taken", SHORT, taken).await;
    let status = snapshot_status(&done);
    let id = status.snapshot_id.clone().unwrap();
    assert_ne!(id, policy);
    assert_eq!(status.database_name.as_deref(), Some(db_name.as_str()));
    assert!(
        status.size_mb.is_some() && status.created_at.is_some(),
        "{status:?}"
    );
    let portal = hooks.database(DbType::Postgresql, &db_name).unwrap();
    let ours = portal
        .snapshots
        .iter()
        .find(|s| s.snapshot_id == id)
        .unwrap();
    let description = ours.description.as_deref().unwrap();
    assert!(description.starts_with("before migration"), "{description}");
    assert!(description.contains(&done.uid().unwrap()), "{description}");
    assert_eq!(hooks.stats().effective(Call::Snapshot), 1);
    assert_eq!(snapshot_posts(&stack), 1, "one request in all");
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "pre-v2").await;
    assert!(events.contains("Created"), "{events}");
    stack.finish().await;
}

/// The operator killed while the snapshot's answer is on its way (the portal took it, the
/// answer never arrives): the restarted operator finds it by its description instead of taking
/// a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_lost_snapshot_answer_leaves_one_snapshot() {
    let mut stack = ways_stack(&[]).await;
    let hooks = stack.ways().sim.hooks().clone();
    let customer = stack.ways().customer.clone();
    let db_name = hooks
        .create_database(&customer, DbType::Postgresql, "ledger")
        .unwrap()
        .db_name;
    hooks.arm(Armed {
        on: Call::Snapshot,
        fault: AfterEffect::Stall,
        count: 1,
    });
    let api = stack.api::<WaysSnapshot>();
    let spec = json!({"databaseName": db_name, "dbType": "postgresql"});
    create(&api, &object("WaysSnapshot", "nightly", spec)).await;
    wait_for_the_portal("the snapshot taken", || {
        hooks.stats().effective(Call::Snapshot) == 1
    })
    .await;
    stack.kill_operator().await;
    let asked = snapshot_status(&api.get("nightly").await.unwrap());
    assert!(
        asked.requested_at.is_some() && asked.snapshot_id.is_none(),
        "the intent is recorded and the answer is not: {asked:?}"
    );
    stack.start_operator();
    let found = wait_for(&api, "nightly", "the snapshot found again", SHORT, taken).await;
    let stats = hooks.stats();
    assert_eq!(stats.fired(Call::Snapshot, "stall"), 1);
    assert_eq!(stats.effective(Call::Snapshot), 1, "one snapshot");
    assert_eq!(snapshot_posts(&stack), 1, "never asked twice");
    assert_eq!(
        portal_snapshots(&stack, &db_name),
        [snapshot_status(&found).snapshot_id.unwrap()]
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "nightly").await;
    assert!(events.contains("Recovered"), "{events}");
    stack.finish_leaving_ways(&[&db_name]).await;
}

/// Deleting a WaysSnapshot leaves its snapshot by default (Orphan) and deletes it with
/// `deletionPolicy: Delete`; one already gone at the portal (404) is done; the backup policy's
/// snapshot is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_orphans_by_default_and_deletes_with_delete() {
    let stack = ways_stack(&[]).await;
    let db_name = ready_database(&stack, "shop").await;
    let hooks = stack.ways().sim.hooks();
    let policy = hooks
        .take_policy_snapshot(DbType::Postgresql, &db_name)
        .unwrap();
    let api = stack.api::<WaysSnapshot>();
    let specs = [
        ("kept", json!({"databaseRef": {"name": "shop"}})),
        (
            "gone",
            json!({"databaseRef": {"name": "shop"}, "deletionPolicy": "Delete"}),
        ),
        (
            "vanished",
            json!({"databaseRef": {"name": "shop"}, "deletionPolicy": "Delete"}),
        ),
    ];
    let mut ids = Vec::new();
    for (name, spec) in specs {
        create(&api, &object("WaysSnapshot", name, spec)).await;
        let done = wait_for(&api, name, "the snapshot taken", SHORT, taken).await;
        ids.push(snapshot_status(&done).snapshot_id.unwrap());
    }
    // Deleted out of band: the operator's delete finds it gone (404).
    let url = format!(
        "{}/v1/databases/postgresql/{db_name}/snapshots/{}",
        stack.ways().sim.url(),
        ids[2]
    );
    let answer = reqwest::Client::new()
        .delete(url)
        .header("X-API-Key", &stack.ways().key)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{answer:?}");
    hooks.reset_stats();
    for name in ["kept", "gone", "vanished"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
        wait_for_deletion(&api, name, "released", SHORT).await;
    }
    let left = portal_snapshots(&stack, &db_name);
    assert!(left.contains(&ids[0]), "Orphan leaves it: {left:?}");
    assert!(!left.contains(&ids[1]), "Delete deletes it: {left:?}");
    assert!(
        left.contains(&policy),
        "the policy's is never touched: {left:?}"
    );
    assert_eq!(left.len(), 2, "{left:?}");
    let stats = hooks.stats();
    assert_eq!(stats.effective(Call::SnapshotDelete), 1);
    let deletes = "/v1/databases/{db_type}/{db_name}/snapshots/{snapshot_id}";
    assert_eq!(
        stats.requests.count("DELETE", deletes, 404),
        1,
        "the vanished one"
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "kept").await;
    assert!(events.contains("Orphaned"), "{events}");
    stack.finish().await;
}

/// A restore that names no target is refused without a call; with `inPlace: true` the data is
/// replaced exactly once (the database's data generation goes up by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_place_restore_needs_in_place_and_runs_once() {
    let stack = ways_stack(&[]).await;
    let db_name = ready_database(&stack, "orders").await;
    let snapshots = stack.api::<WaysSnapshot>();
    create(
        &snapshots,
        &object(
            "WaysSnapshot",
            "s1",
            json!({"databaseRef": {"name": "orders"}}),
        ),
    )
    .await;
    wait_for(&snapshots, "s1", "the snapshot taken", SHORT, taken).await;
    let hooks = stack.ways().sim.hooks();
    let before = hooks.generation(DbType::Postgresql, &db_name).unwrap();

    let api = stack.api::<WaysRestore>();
    let source = json!({"databaseRef": {"name": "orders"}, "snapshotRef": {"name": "s1"}});
    create(&api, &object("WaysRestore", "careless", source.clone())).await;
    let refused = wait_for(
        &api,
        "careless",
        "refused",
        SHORT,
        not_ready_because("InvalidSpec"),
    )
    .await;
    let message = ready(&refused).unwrap().2;
    assert!(
        message.contains("inPlace: true") && message.contains("cannot be undone"),
        "{message}"
    );

    let mut in_place = source;
    in_place["inPlace"] = json!(true);
    create(&api, &object("WaysRestore", "rollback", in_place)).await;
    let done = wait_for(&api, "rollback", "restored", SHORT, is_ready).await;
    assert_eq!(restore_phase(&done), Some(RestorePhase::Completed));
    assert_eq!(
        done.status.unwrap().restored_into.as_deref(),
        Some(db_name.as_str())
    );
    assert_eq!(
        hooks.generation(DbType::Postgresql, &db_name),
        Some(before + 1)
    );
    assert_eq!(hooks.stats().effective(Call::Restore), 1);
    assert_eq!(restore_posts(&stack), 1, "the refused one sent nothing");
    assert_eq!(
        restore_phase(&api.get("careless").await.unwrap()),
        Some(RestorePhase::Pending)
    );
    stack.finish().await;
}

/// A restore into a new name makes a database nobody owns; a WaysDatabase adopts it and gets a
/// working password by one rotation (the restore shows none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_to_a_new_name_is_adopted_with_a_working_password() {
    let stack = ways_stack(&[]).await;
    let db_name = ready_database(&stack, "orders").await;
    let snapshots = stack.api::<WaysSnapshot>();
    create(
        &snapshots,
        &object(
            "WaysSnapshot",
            "s1",
            json!({"databaseRef": {"name": "orders"}}),
        ),
    )
    .await;
    wait_for(&snapshots, "s1", "the snapshot taken", SHORT, taken).await;
    let api = stack.api::<WaysRestore>();
    let spec = json!({
        "databaseRef": {"name": "orders"},
        "snapshotRef": {"name": "s1"},
        "targetName": "orders_copy",
    });
    create(&api, &object("WaysRestore", "copy", spec)).await;
    let done = wait_for(&api, "copy", "restored", SHORT, is_ready).await;
    let copy = done.status.unwrap().restored_into.unwrap();
    assert!(copy.ends_with("_orders_copy") && copy != db_name, "{copy}");
    let hooks = stack.ways().sim.hooks();
    assert_eq!(hooks.generation(DbType::Postgresql, &copy), Some(1));
    assert_eq!(hooks.stats().effective(Call::Restore), 1);

    let databases = stack.api::<WaysDatabase>();
    let spec = json!({
        "dbType": "postgresql",
        "requestedName": "orders_copy",
        "adoptExisting": true,
        "writeConnectionSecretToRef": {"name": "orders-copy-db"},
    });
    create(&databases, &object("WaysDatabase", "orders-copy", spec)).await;
    let credentials = |db: &WaysDatabase, status: &str| {
        db.status.as_ref().is_some_and(|s| {
            s.managed
                .conditions
                .iter()
                .any(|c| c.type_ == "CredentialsReady" && c.status == status)
        })
    };
    wait_for(
        &databases,
        "orders-copy",
        "adopted, password unknown",
        SHORT,
        |db| is_ready(db) && credentials(db, "False"),
    )
    .await;
    databases
        .patch(
            "orders-copy",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"credentials": {"rotationRequestedAt": "after restore"}}}),
            ),
        )
        .await
        .unwrap();
    wait_for(&databases, "orders-copy", "a password", SHORT, |db| {
        credentials(db, "True")
    })
    .await;
    let secret = stack.api::<Secret>().get("orders-copy-db").await.unwrap();
    let password = secret.data.unwrap()["password"].0.clone();
    assert_eq!(
        Some(String::from_utf8(password).unwrap()),
        hooks.password(DbType::Postgresql, &copy),
        "the Secret holds the copy's working password"
    );
    assert_eq!(hooks.stats().effective(Call::Rotate), 1);
    stack.finish().await;
}

/// The restore's answer lost: the portal restored once, the operator cannot know it, and stops
/// at OutcomeUnknown saying how to check and how to ask again; it never sends a second restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_restore_answer_is_outcome_unknown_with_one_restore() {
    let stack = ways_stack(&[]).await;
    let db_name = ready_database(&stack, "orders").await;
    let snapshots = stack.api::<WaysSnapshot>();
    create(
        &snapshots,
        &object(
            "WaysSnapshot",
            "s1",
            json!({"databaseRef": {"name": "orders"}}),
        ),
    )
    .await;
    let id = snapshot_status(&wait_for(&snapshots, "s1", "the snapshot taken", SHORT, taken).await)
        .snapshot_id
        .unwrap();
    let hooks = stack.ways().sim.hooks();
    let before = hooks.generation(DbType::Postgresql, &db_name).unwrap();
    hooks.arm(Armed {
        on: Call::Restore,
        fault: AfterEffect::LoseAnswer,
        count: 1,
    });
    let api = stack.api::<WaysRestore>();
    let spec =
        json!({"databaseName": db_name, "dbType": "postgresql", "snapshotId": id, "inPlace": true});
    create(&api, &object("WaysRestore", "lost", spec)).await;
    let unknown = wait_for(
        &api,
        "lost",
        "OutcomeUnknown",
        SHORT,
        not_ready_because("OutcomeUnknown"),
    )
    .await;
    assert_eq!(restore_phase(&unknown), Some(RestorePhase::OutcomeUnknown));
    let message = ready(&unknown).unwrap().2;
    assert!(
        message.contains("check the data of database")
            && message.contains("create a new WaysRestore"),
        "{message}"
    );
    let stats = hooks.stats();
    assert_eq!(stats.fired(Call::Restore, "lose_answer"), 1);
    assert_eq!(
        stats.effective(Call::Restore),
        1,
        "the portal restored once"
    );
    assert_eq!(
        hooks.generation(DbType::Postgresql, &db_name),
        Some(before + 1)
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "lost").await;
    assert!(events.contains("OutcomeUnknown"), "{events}");
    assert_eq!(restore_posts(&stack), 1, "never restored twice");
    stack.finish().await;
}
