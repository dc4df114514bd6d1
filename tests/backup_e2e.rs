//! Backups and BackupSchedules end to end: the real API server, the operator as a process, the
//! portal simulator.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use htx_operator::api::{Backup, BackupPhase, BackupSchedule, Database};
use htx_operator::providers::htx::sim::Kind;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{
    DATABASES_TOKEN, FUNCTIONS_TOKEN, Stack, StackOptions, create, events_report, is_ready,
    not_ready_because, object, ready, wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);
const BACKUPS_ROUTE: &str = "/api/portal/databases/{name}/backups";

fn phase(backup: &Backup) -> Option<BackupPhase> {
    backup.status.as_ref()?.phase
}

/// A Ready PostgreSQL database `name`.
async fn ready_database(stack: &Stack, name: &str) {
    let api = stack.api::<Database>();
    let spec = json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"});
    create(&api, &object("Database", name, spec)).await;
    wait_for(&api, name, "the Database is Ready", SHORT, is_ready).await;
}

fn portal_backups(stack: &Stack, database: &str) -> Vec<serde_json::Value> {
    stack.sim.hooks().backups(database).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_completes_once_and_deleting_it_leaves_the_portal_backup() {
    let stack = Stack::start(StackOptions::default()).await;
    ready_database(&stack, "shop").await;
    let api = stack.api::<Backup>();
    create(
        &api,
        &object(
            "Backup",
            "shop-manual",
            json!({"databaseRef": {"name": "shop"}}),
        ),
    )
    .await;
    let (ok, output) = stack
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            "backup/shop-manual",
            "--timeout=60s",
        ])
        .await;
    assert!(ok, "kubectl wait: {output}");

    let backup = api.get("shop-manual").await.unwrap();
    let status = backup.status.clone().unwrap();
    let at_portal = portal_backups(&stack, "shop");
    assert_eq!(at_portal.len(), 1, "one backup at the portal");
    assert_eq!(status.phase, Some(BackupPhase::Completed));
    assert_eq!(status.database_name.as_deref(), Some("shop"));
    assert_eq!(status.backup_id.as_deref(), at_portal[0]["id"].as_str());
    assert_eq!(
        status.size_bytes,
        at_portal[0]["size_bytes"].as_i64(),
        "the size is the portal's"
    );
    assert!(status.size.as_deref().is_some_and(|s| s.ends_with("iB")));
    assert!(status.started_at.is_some() && status.completed_at.is_some());
    assert!(status.create_requested_at.is_some());
    assert_eq!(status.observed_generation, backup.metadata.generation);
    assert!(
        backup.finalizers().is_empty(),
        "a Backup needs no finalizer"
    );
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 1);

    let (_, listed) = stack.kubectl(&["get", "backups"]).await;
    assert!(
        listed.contains("DATABASE") && listed.contains("Completed") && listed.contains("iB"),
        "{listed}"
    );

    api.delete("shop-manual", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "shop-manual", "the Backup to go", SHORT).await;
    assert_eq!(
        portal_backups(&stack, "shop").len(),
        1,
        "the portal keeps the backup"
    );
    let id = status.backup_id.unwrap();
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        let events =
            events_report(stack.client.clone(), Some(stack.ns.name()), "shop-manual").await;
        if events.contains("Deleted")
            && events.contains(&id)
            && events.contains("stays at the portal")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no deletion Event names the backup kept at the portal:\n{events}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 1);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_and_spec_errors_are_conditions_and_a_fixed_token_recovers() {
    let stack = Stack::start(StackOptions::default()).await;
    ready_database(&stack, "ledger").await;
    stack.put_token("team-token", FUNCTIONS_TOKEN).await;
    let api = stack.api::<Backup>();

    let spec = json!({"databaseName": "ledger", "tokenSecretRef": {"name": "team-token"}});
    create(&api, &object("Backup", "wrong-scope", spec)).await;
    let refused = wait_for(
        &api,
        "wrong-scope",
        "Forbidden",
        SHORT,
        not_ready_because("Forbidden"),
    )
    .await;
    let (_, _, message) = ready(&refused).unwrap();
    assert!(message.contains("scope"), "{message}");
    assert_eq!(phase(&refused), Some(BackupPhase::Pending));
    assert!(
        refused
            .status
            .as_ref()
            .unwrap()
            .create_requested_at
            .is_none(),
        "a refused request leaves no intent behind"
    );

    let both = json!({"databaseName": "ledger", "databaseRef": {"name": "ledger"}});
    create(&api, &object("Backup", "both", both)).await;
    create(&api, &object("Backup", "neither", json!({}))).await;
    for name in ["both", "neither"] {
        let invalid = wait_for(
            &api,
            name,
            "InvalidSpec",
            SHORT,
            not_ready_because("InvalidSpec"),
        )
        .await;
        let (_, _, message) = ready(&invalid).unwrap();
        assert!(message.contains("spec.databaseRef"), "{message}");
    }
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 0);

    // A token of the right scope in the same Secret: the waiting Backup is woken and runs.
    stack.put_token("team-token", DATABASES_TOKEN).await;
    wait_for(
        &api,
        "wrong-scope",
        "Ready after the token changed",
        SHORT,
        is_ready,
    )
    .await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 1);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_backup_request_and_the_status_write_backs_up_once() {
    let mut stack = Stack::start(StackOptions::default()).await;
    ready_database(&stack, "crashy").await;
    let api = stack.api::<Backup>();
    stack.sim.hooks().hold_creates(true);
    create(
        &api,
        &object("Backup", "once", json!({"databaseRef": {"name": "crashy"}})),
    )
    .await;
    stack.kill_operator_once_a_create_is_held().await;
    let before = api.get("once").await.unwrap().status.unwrap();
    assert!(
        before.create_requested_at.is_some(),
        "the intent is recorded"
    );
    assert!(before.backup_id.is_none(), "no id was written");
    assert_eq!(portal_backups(&stack, "crashy").len(), 1);

    stack.start_operator();
    let backup = wait_for(&api, "once", "Ready after the restart", SHORT, is_ready).await;
    let at_portal = portal_backups(&stack, "crashy");
    assert_eq!(at_portal.len(), 1, "still one backup at the portal");
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 1);
    assert_eq!(
        backup.status.unwrap().backup_id.as_deref(),
        at_portal[0]["id"].as_str()
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "once").await;
    assert!(events.contains("Recovered"), "{events}");
    stack.finish().await;
}

/// A Backup whose request was cut short (the operator died between recording the intent and
/// sending it) keeps its database's other requests waiting until it is resolved: otherwise the
/// next Backup's backup, once that Backup is deleted (pruned by a schedule, say), is the one
/// new backup no other Backup claims, and would be taken for the first one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_backups_backup_is_never_taken_for_an_unanswered_request() {
    let mut options = StackOptions::default();
    options
        .operator_args
        .extend(["--list-lag".to_owned(), "10s".to_owned()]);
    let mut stack = Stack::start(options).await;
    ready_database(&stack, "shop").await;
    let api = stack.api::<Backup>();

    // Cut short: the intent is recorded, the request never left.
    stack.kill_operator().await;
    create(
        &api,
        &object(
            "Backup",
            "cut-short",
            json!({"databaseRef": {"name": "shop"}}),
        ),
    )
    .await;
    let intent = json!({"status": {
        "phase": "Pending",
        "databaseName": "shop",
        "createRequestedAt": Timestamp::now().to_string(),
        "requestBaseline": {"ids": []},
    }});
    api.patch_status("cut-short", &PatchParams::default(), &Patch::Merge(&intent))
        .await
        .unwrap();
    stack.start_operator();

    create(
        &api,
        &object("Backup", "next", json!({"databaseRef": {"name": "shop"}})),
    )
    .await;
    let next = wait_for(&api, "next", "Completed", SHORT, |b: &Backup| {
        phase(b) == Some(BackupPhase::Completed)
    })
    .await;
    let taken = next.status.unwrap().backup_id.unwrap();
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "next").await;
    assert!(events.contains("RequestUnanswered"), "{events}");
    api.delete("next", &DeleteParams::default()).await.unwrap();

    let resolved = wait_for(&api, "cut-short", "resolved", SHORT, |b: &Backup| {
        matches!(
            phase(b),
            Some(BackupPhase::OutcomeUnknown | BackupPhase::Completed)
        )
    })
    .await;
    let status = resolved.status.unwrap();
    assert_ne!(
        status.backup_id.as_deref(),
        Some(taken.as_str()),
        "the deleted Backup's backup was taken for the unanswered request"
    );
    assert_eq!(status.phase, Some(BackupPhase::OutcomeUnknown));
    assert_eq!(
        portal_backups(&stack, "shop").len(),
        1,
        "asked once, by 'next'"
    );
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_database_still_creating_waits_then_runs_once() {
    // The database stays creating until the test lets it come online.
    let mut options = StackOptions::default();
    options.sim.provision_delay = Duration::from_secs(3600);
    let stack = Stack::start(options).await;
    let databases = stack.api::<Database>();
    let api = stack.api::<Backup>();
    let spec = json!({"engine": "mysql", "sku": "db-s-1vcpu-1gb"});
    create(&databases, &object("Database", "slow", spec)).await;
    create(
        &api,
        &object("Backup", "early", json!({"databaseRef": {"name": "slow"}})),
    )
    .await;
    let waiting = wait_for(
        &api,
        "early",
        "DatabaseNotReady",
        SHORT,
        not_ready_because("DatabaseNotReady"),
    )
    .await;
    assert_eq!(phase(&waiting), Some(BackupPhase::Pending));
    assert_eq!(
        stack.sim.hooks().stats().route_total("POST", BACKUPS_ROUTE),
        0
    );
    // The database exists at the portal (creating) before the test brings it online.
    wait_for(
        &databases,
        "slow",
        "Creating",
        SHORT,
        not_ready_because("Creating"),
    )
    .await;
    stack
        .sim
        .hooks()
        .set_status(
            htx_operator::providers::htx::sim::Product::Databases,
            "slow",
            "online",
        )
        .unwrap();
    wait_for(&api, "early", "Ready once the database is", SHORT, is_ready).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Backups), 1);
    assert_eq!(portal_backups(&stack, "slow").len(), 1);
    let stats = stack.sim.hooks().stats();
    assert_eq!(
        stats.route_total("POST", BACKUPS_ROUTE),
        1,
        "no request before the database was ready"
    );
    stack.finish().await;
}

/// The slot a schedule's Backup name carries (`<schedule>-<unix seconds>` with a seconds field).
fn slot_of(name: &str) -> i64 {
    name.rsplit('-').next().unwrap().parse().unwrap()
}

/// Waits until the wall clock reaches `at`: the schedule under test is driven by it.
async fn until_the_clock_reaches(at: i64) {
    while Timestamp::now().as_second() < at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `names` holds at least `count` names matching `pick`.
async fn until_seen(names: &Mutex<BTreeSet<String>>, count: usize, pick: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        let seen: Vec<String> = names.lock().unwrap().iter().cloned().collect();
        if seen.iter().filter(|n| pick(n)).count() >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only these Backups appeared: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_takes_one_backup_per_slot_across_a_restart_and_prunes() {
    const PERIOD: i64 = 5;
    let mut options = StackOptions::default();
    // A request the kill cuts short is given up before the restart, not waited on after it.
    options
        .operator_args
        .extend(["--list-lag".to_owned(), "3s".to_owned()]);
    let mut stack = Stack::start(options).await;
    ready_database(&stack, "orders").await;
    let backups = stack.api::<Backup>();

    // Every Backup that ever exists, however briefly.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    // The portal backup each of them recorded, for a failure to show.
    let ids = Arc::new(Mutex::new(BTreeMap::new()));
    let recorder = {
        let seen = seen.clone();
        let ids = ids.clone();
        let stream = watcher(backups.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(Ok(backup)) = stream.next().await {
                seen.lock().unwrap().insert(backup.name_any());
                if let Some(id) = backup.status.as_ref().and_then(|s| s.backup_id.clone()) {
                    ids.lock().unwrap().insert(backup.name_any(), id);
                }
            }
        })
    };

    let schedules = stack.api::<BackupSchedule>();
    let spec = json!({
        "schedule": format!("*/{PERIOD} * * * * *"),
        "databaseRef": {"name": "orders"},
        "successfulBackupsHistoryLimit": 2,
        "startingDeadlineSeconds": 30,
    });
    create(&schedules, &object("BackupSchedule", "every5s", spec)).await;
    let scheduled = wait_for(&schedules, "every5s", "Ready", SHORT, is_ready).await;
    assert!(
        scheduled
            .status
            .as_ref()
            .unwrap()
            .next_schedule_time
            .is_some()
    );
    until_seen(&seen, 3, |_| true).await;

    // Down for more than two slots; back just after one, which is the one to take.
    stack.kill_operator().await;
    let listed = backups.list(&ListParams::default()).await.unwrap().items;
    let last_before = listed.iter().map(|b| slot_of(&b.name_any())).max().unwrap();
    let restarted_at = (Timestamp::now().as_second() / PERIOD + 3) * PERIOD;
    until_the_clock_reaches(restarted_at).await;
    stack.start_operator();
    until_seen(&seen, 2, |n| slot_of(n) > restarted_at).await;

    let patch = json!({"spec": {"suspend": true}});
    schedules
        .patch("every5s", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let suspended = wait_for(&schedules, "every5s", "Suspended", SHORT, |s| {
        ready(s).is_some_and(|(_, reason, _)| reason == "Suspended")
    })
    .await;
    let status = suspended.status.unwrap();
    assert!(status.next_schedule_time.is_none());
    // Every Backup finishes, and only the two newest Completed ones are kept. The kill may cut
    // one request short (intent recorded, request not sent): that Backup cannot tell whether its
    // backup was taken and stops at OutcomeUnknown, which is kept for a person.
    let deadline = tokio::time::Instant::now() + SHORT;
    let (kept, unknown) = loop {
        let list = backups.list(&ListParams::default()).await.unwrap().items;
        let (completed, others): (Vec<Backup>, Vec<Backup>) = list
            .iter()
            .cloned()
            .partition(|b| phase(b) == Some(BackupPhase::Completed));
        let all_done = others
            .iter()
            .all(|b| phase(b) == Some(BackupPhase::OutcomeUnknown));
        if all_done && completed.len() == 2 && others.len() <= 1 {
            break (completed, others);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not pruned to 2 Completed: {:?}",
            list.iter()
                .map(|b| (b.name_any(), phase(b)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    recorder.abort();
    if let Some(cut) = unknown.first() {
        assert!(
            slot_of(&cut.name_any()) <= last_before,
            "only a request the kill cut short is unknown: {}",
            cut.name_any()
        );
    }

    let names: Vec<String> = seen.lock().unwrap().iter().cloned().collect();
    let slots: BTreeSet<i64> = names.iter().map(|n| slot_of(n)).collect();
    assert!(slots.iter().all(|s| s % PERIOD == 0), "{names:?}");
    // Down over at least three slots: none of them is made up but the latest one missed, which
    // is the first slot after the restart (however long the restart took).
    let after: Vec<i64> = slots.iter().copied().filter(|s| *s > last_before).collect();
    assert!(
        after[0] >= restarted_at,
        "a slot missed early in the downtime was taken: {names:?}"
    );
    assert!(
        after.windows(2).all(|pair| pair[1] - pair[0] == PERIOD),
        "after the catch-up every slot is taken, one Backup each: {names:?}"
    );
    let at_portal: Vec<serde_json::Value> = portal_backups(&stack, "orders")
        .iter()
        .map(|b| json!([b["id"], b["created_at"]]))
        .collect();
    let held = ids.lock().unwrap().clone();
    let distinct: BTreeSet<&String> = held.values().collect();
    assert_eq!(
        (distinct.len(), at_portal.len()),
        (held.len(), names.len() - unknown.len()),
        "each Backup asked the portal exactly once and holds its own backup: Backups and their backups {held:?}, at the portal {at_portal:?}"
    );
    let newest: Vec<String> = names.iter().rev().take(2).cloned().collect();
    // (The newest two slots are after the restart: neither is the one cut short.)
    let mut kept_names: Vec<String> = kept.iter().map(|b| b.name_any()).collect();
    kept_names.sort();
    kept_names.reverse();
    assert_eq!(kept_names, newest, "the newest two are kept");
    assert_eq!(
        status.last_schedule_time.map(|t| t.0.as_second()),
        slots.last().copied()
    );
    for backup in &kept {
        let owner = &backup.owner_references()[0];
        assert_eq!(owner.kind, "BackupSchedule");
        assert_eq!(owner.controller, Some(true));
    }
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "every5s").await;
    assert!(
        events.contains("Pruned") && events.contains("stays at the portal"),
        "{events}"
    );

    // Deleting the schedule takes its Backups along (garbage collection by owner).
    schedules
        .delete("every5s", &DeleteParams::default())
        .await
        .unwrap();
    for backup in &kept {
        wait_for_deletion(
            &backups,
            &backup.name_any(),
            "collected with its schedule",
            SHORT,
        )
        .await;
    }
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schedule_is_refused_or_reported() {
    let stack = Stack::start(StackOptions::default()).await;
    let resource = kube::discovery::ApiResource::erase::<BackupSchedule>(&());
    let raw: Api<DynamicObject> =
        Api::namespaced_with(stack.client.clone(), stack.ns.name(), &resource);
    let shapeless: DynamicObject = object(
        "BackupSchedule",
        "shapeless",
        json!({"schedule": "every night", "databaseName": "app"}),
    );
    match raw.create(&PostParams::default(), &shapeless).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            assert!(status.message.contains("schedule"), "{}", status.message);
        }
        other => panic!("a schedule of two words must be refused by the schema: {other:?}"),
    }

    let schedules = stack.api::<BackupSchedule>();
    let spec = json!({"schedule": "61 * * * *", "databaseName": "app"});
    create(&schedules, &object("BackupSchedule", "minute-61", spec)).await;
    let reported = wait_for(
        &schedules,
        "minute-61",
        "InvalidSchedule",
        SHORT,
        not_ready_because("InvalidSchedule"),
    )
    .await;
    let (_, _, message) = ready(&reported).unwrap();
    assert!(message.contains("61 * * * *"), "{message}");
    let (_, described) = stack
        .kubectl(&["describe", "backupschedule", "minute-61"])
        .await;
    assert!(
        described.contains("InvalidSchedule"),
        "an Event: {described}"
    );
    assert!(
        stack
            .api::<Backup>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    stack.finish().await;
}
