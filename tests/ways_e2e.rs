//! WaysDatabase end to end: the operator against the WaysCloud simulator and a real API server.
//! Each test checks what users rely on: one create, the Secret holding the portal's current
//! password, settings changed in place, rotations, adoption, and deletion.

mod support;

use std::time::Duration;

use htx_operator::api::{PASSWORD_SET_ANNOTATION, ProviderConfig, WaysDatabase};
use htx_operator::providers::ways::sim::{AfterEffect, Armed, Call, DbType, KeySpec, Permission};
use k8s_openapi::api::core::v1::Secret;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{
    Stack, StackOptions, create, events_report, is_ready, not_ready_because, object, patch_spec,
    ready, wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);

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

fn database(name: &str, spec: serde_json::Value) -> WaysDatabase {
    object("WaysDatabase", name, spec)
}

fn condition(db: &WaysDatabase, type_: &str) -> Option<(String, String)> {
    let status = db.status.as_ref()?;
    status
        .managed
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn credentials_ready(db: &WaysDatabase) -> bool {
    condition(db, "CredentialsReady").is_some_and(|(status, _)| status == "True")
}

fn db_name(db: &WaysDatabase) -> String {
    db.status.as_ref().and_then(|s| s.db_name.clone()).unwrap()
}

async fn secret_text(stack: &Stack, name: &str, key: &str) -> Option<String> {
    let secrets: Api<Secret> = stack.api();
    let secret = secrets.get_opt(name).await.unwrap()?;
    let value = secret.data?.get(key)?.0.clone();
    Some(String::from_utf8(value).unwrap())
}

/// Waits until the portal's state of the database satisfies `done`.
async fn until_portal<F>(stack: &Stack, name: &str, what: &str, done: F)
where
    F: Fn(&htx_operator::providers::ways::sim::DatabaseState) -> bool,
{
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        let state = stack.ways().sim.hooks().database(DbType::Postgresql, name);
        if state.as_ref().is_some_and(&done) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the portal never showed {what}: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn sources(state: &htx_operator::providers::ways::sim::DatabaseState) -> Vec<String> {
    let mut sources: Vec<String> = state
        .firewall
        .iter()
        .map(|rule| rule.ip_address.clone())
        .collect();
    sources.sort();
    sources
}

/// Every field at create; then the limit, the description, the firewall and the backup policy
/// changed in place, with drift at the portal (a stranger's rule, a duplicate, a changed limit)
/// put back; one create in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_is_created_once_with_every_field_and_changed_in_place() {
    let stack = ways_stack(&["--deep-resync", "2s"]).await;
    let api = stack.api::<WaysDatabase>();
    let spec = json!({
        "dbType": "postgresql",
        "requestedName": "orders",
        "connectionLimit": 200,
        "description": "orders service",
        "firewall": [
            {"cidr": "10.0.0.0/24", "description": "cluster egress"},
            {"cidr": "192.0.2.10"},
        ],
        "backupPolicy": {"enabled": true, "frequency": "daily", "retentionDays": 7, "timeOfDay": "02:00"},
        "credentials": {"rotateEvery": "2160h"},
        "writeConnectionSecretToRef": {"name": "orders-db"},
    });
    create(&api, &database("orders", spec)).await;
    let made = wait_for(&api, "orders", "Ready with credentials", SHORT, |db| {
        is_ready(db) && credentials_ready(db)
    })
    .await;
    let name = db_name(&made);
    assert!(name.ends_with("_orders"), "{name}");
    let hooks = stack.ways().sim.hooks();
    let portal = hooks.database(DbType::Postgresql, &name).unwrap();
    assert_eq!(portal.connection_limit, 200);
    assert_eq!(portal.description.as_deref(), Some("orders service"));
    assert_eq!(sources(&portal), ["10.0.0.0/24", "192.0.2.10/32"]);
    assert!(portal.backup_policy.enabled);
    assert_eq!(portal.backup_policy.time_of_day.as_deref(), Some("02:00"));
    assert_eq!(
        secret_text(&stack, "orders-db", "password")
            .await
            .as_deref(),
        Some(portal.password.as_str()),
        "the Secret holds the portal's password"
    );
    for key in ["host", "port", "database", "username", "uri"] {
        assert!(
            secret_text(&stack, "orders-db", key).await.is_some(),
            "{key}"
        );
    }
    let secrets: Api<Secret> = stack.api();
    let annotations = secrets
        .get("orders-db")
        .await
        .unwrap()
        .annotations()
        .clone();
    assert!(
        annotations.contains_key(PASSWORD_SET_ANNOTATION),
        "{annotations:?}"
    );
    assert_eq!(hooks.stats().effective(Call::Create), 1);
    assert_eq!(hooks.stats().attempts("postgresql", &name), 1);

    // Drift at the portal: put back at the next deep resync.
    hooks
        .set_connection_limit(DbType::Postgresql, &name, 50)
        .unwrap();
    hooks
        .add_firewall_rule(DbType::Postgresql, &name, "203.0.113.5/32", None)
        .unwrap();
    hooks
        .add_firewall_rule(DbType::Postgresql, &name, "10.0.0.0/24", None)
        .unwrap();
    until_portal(&stack, &name, "the spec restored", |db| {
        db.connection_limit == 200 && sources(db) == ["10.0.0.0/24", "192.0.2.10/32"]
    })
    .await;

    // The spec changes: each applied in place.
    patch_spec(
        &api,
        "orders",
        json!({
            "connectionLimit": 300,
            "description": "orders and billing",
            "firewall": [{"cidr": "10.0.0.0/24"}, {"cidr": "198.51.100.0/25"}],
            "backupPolicy": {"enabled": true, "frequency": "weekly", "retentionDays": 14, "timeOfDay": "03:30"},
        }),
    )
    .await;
    until_portal(&stack, &name, "the new spec", |db| {
        db.connection_limit == 300
            && db.description.as_deref() == Some("orders and billing")
            && sources(db) == ["10.0.0.0/24", "198.51.100.0/25"]
            && db.backup_policy.retention_days == 14
    })
    .await;
    let synced = wait_for(&api, "orders", "status follows", SHORT, |db| {
        db.status.as_ref().is_some_and(|s| {
            s.connection_limit == Some(300)
                && s.firewall.as_ref().is_some_and(|rules| rules.len() == 2)
        })
    })
    .await;
    assert!(is_ready(&synced));
    assert_eq!(hooks.stats().effective(Call::Create), 1, "still one create");
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "orders").await;
    for reason in ["Created", "Updated", "FirewallChanged", "BackupPolicySet"] {
        assert!(events.contains(reason), "{reason}: {events}");
    }
    stack.finish().await;
}

/// A rotation on request (once per new value) and on schedule; each time the Secret holds the
/// portal's new password and says when it was set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_rotates_on_request_and_on_schedule() {
    let stack = ways_stack(&[]).await;
    let api = stack.api::<WaysDatabase>();
    let spec = json!({
        "dbType": "postgresql",
        "writeConnectionSecretToRef": {"name": "app-db"},
    });
    create(&api, &database("app-db", spec)).await;
    let made = wait_for(&api, "app-db", "Ready", SHORT, |db| {
        is_ready(db) && credentials_ready(db)
    })
    .await;
    let name = db_name(&made);
    assert!(
        name.ends_with("_app_db"),
        "hyphens become underscores: {name}"
    );
    let hooks = stack.ways().sim.hooks();
    let first = hooks.password(DbType::Postgresql, &name).unwrap();

    patch_spec(
        &api,
        "app-db",
        json!({"credentials": {"rotationRequestedAt": "2026-12-01T10:00:00Z"}}),
    )
    .await;
    let rotated = wait_for(&api, "app-db", "rotated", SHORT, |db| {
        db.status
            .as_ref()
            .and_then(|s| s.rotation_handled.as_deref())
            == Some("2026-12-01T10:00:00Z")
    })
    .await;
    let second = hooks.password(DbType::Postgresql, &name).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        secret_text(&stack, "app-db", "password").await,
        Some(second.clone())
    );
    assert_eq!(hooks.stats().effective(Call::Rotate), 1);
    let set_at = rotated.status.unwrap().last_rotation_time.unwrap();

    // Every minute from the last rotation (the shortest allowed).
    patch_spec(
        &api,
        "app-db",
        json!({"credentials": {"rotateEvery": "1m"}}),
    )
    .await;
    wait_for(
        &api,
        "app-db",
        "rotated on schedule",
        Duration::from_secs(150),
        |db| {
            db.status
                .as_ref()
                .and_then(|s| s.last_rotation_time.as_ref())
                .is_some_and(|at| at.0 > set_at.0)
        },
    )
    .await;
    let third = hooks.password(DbType::Postgresql, &name).unwrap();
    assert_ne!(third, second);
    assert_eq!(secret_text(&stack, "app-db", "password").await, Some(third));
    assert_eq!(hooks.stats().effective(Call::Rotate), 2);
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "app-db").await;
    assert!(events.contains("RotationRequested"), "{events}");
    assert!(events.contains("RotationScheduled"), "{events}");
    stack.finish().await;
}

/// A database someone else made: AlreadyExists without a single create; taken over with
/// adoptExisting, whose password stays unknown until a rotation is asked for; observed, where
/// nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_elsewhere_is_refused_adopted_or_observed() {
    let stack = ways_stack(&[]).await;
    let api = stack.api::<WaysDatabase>();
    let hooks = stack.ways().sim.hooks();
    let customer = stack.ways().customer.clone();
    let theirs = hooks
        .create_database(&customer, DbType::Postgresql, "legacy")
        .unwrap()
        .db_name;

    let spec = json!({"dbType": "postgresql", "requestedName": "legacy"});
    create(&api, &database("legacy", spec.clone())).await;
    wait_for(
        &api,
        "legacy",
        "AlreadyExists",
        SHORT,
        not_ready_because("AlreadyExists"),
    )
    .await;
    assert_eq!(
        hooks.stats().attempts("postgresql", &theirs),
        0,
        "looked before creating"
    );

    patch_spec(
        &api,
        "legacy",
        json!({"adoptExisting": true, "writeConnectionSecretToRef": {"name": "legacy-db"}}),
    )
    .await;
    let adopted = wait_for(&api, "legacy", "adopted", SHORT, is_ready).await;
    assert_eq!(
        condition(&adopted, "CredentialsReady"),
        Some(("False".to_owned(), "PasswordUnknown".to_owned()))
    );
    assert_eq!(
        hooks.stats().effective(Call::Rotate),
        0,
        "not rotated unasked"
    );
    patch_spec(
        &api,
        "legacy",
        json!({"credentials": {"rotationRequestedAt": "now please"}}),
    )
    .await;
    wait_for(&api, "legacy", "CredentialsReady", SHORT, credentials_ready).await;
    assert_eq!(
        secret_text(&stack, "legacy-db", "password").await,
        hooks.password(DbType::Postgresql, &theirs)
    );

    // Observed: mirrored, never changed, left in place.
    let other = hooks
        .create_database(&customer, DbType::Postgresql, "reporting")
        .unwrap()
        .db_name;
    let spec = json!({
        "dbType": "postgresql",
        "requestedName": "reporting",
        "managementPolicy": "Observe",
        "connectionLimit": 500,
    });
    create(&api, &database("reporting", spec)).await;
    let observed = wait_for(&api, "reporting", "observed", SHORT, is_ready).await;
    assert_eq!(db_name(&observed), other);
    assert_eq!(
        hooks
            .database(DbType::Postgresql, &other)
            .unwrap()
            .connection_limit,
        100,
        "Observe changes nothing"
    );
    assert_eq!(hooks.stats().effective(Call::Patch), 0);
    api.delete("reporting", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "reporting", "released", SHORT).await;
    assert!(hooks.database(DbType::Postgresql, &other).is_some());
    stack.finish_leaving_ways(&[&other]).await;
}

/// A key that may only read: Forbidden, and no database; the key's rights fixed, the same
/// object goes on and creates it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_key_is_forbidden_until_fixed() {
    let stack = ways_stack(&[]).await;
    let hooks = stack.ways().sim.hooks();
    let reader = format!("{}_reader", stack.ways().key);
    hooks
        .put_key(KeySpec::new(
            &reader,
            &stack.ways().customer,
            [Permission::Read],
        ))
        .unwrap();
    stack.put_token("ways-reader", &reader).await;
    let configs = stack.api::<ProviderConfig>();
    let config: ProviderConfig = object(
        "ProviderConfig",
        "reader",
        json!({
            "provider": "WaysCloud",
            "url": stack.ways().sim.url(),
            "credentialsSecretRef": {"name": "ways-reader"},
        }),
    );
    create(&configs, &config).await;
    wait_for(&configs, "reader", "Ready", SHORT, is_ready).await;

    let api = stack.api::<WaysDatabase>();
    let spec = json!({"dbType": "mariadb", "providerConfigRef": {"name": "reader"}});
    create(&api, &database("shop", spec)).await;
    let refused = wait_for(
        &api,
        "shop",
        "Forbidden",
        SHORT,
        not_ready_because("Forbidden"),
    )
    .await;
    assert!(
        ready(&refused).unwrap().2.contains("403"),
        "{:?}",
        ready(&refused)
    );
    assert!(hooks.databases().is_empty());

    hooks
        .put_key(KeySpec::full(&reader, &stack.ways().customer))
        .unwrap();
    let made = wait_for(
        &api,
        "shop",
        "Ready once the key may create",
        SHORT,
        is_ready,
    )
    .await;
    assert!(db_name(&made).contains("_mdb_shop"), "{}", db_name(&made));
    assert_eq!(hooks.stats().effective(Call::Create), 1);
    stack.finish().await;
}

/// Deleting deletes at the portal; Orphan leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_deletes_or_orphans() {
    let stack = ways_stack(&[]).await;
    let api = stack.api::<WaysDatabase>();
    let hooks = stack.ways().sim.hooks();
    create(&api, &database("gone", json!({"dbType": "postgresql"}))).await;
    let spec = json!({"dbType": "postgresql", "deletionPolicy": "Orphan"});
    create(&api, &database("kept", spec)).await;
    let gone = db_name(&wait_for(&api, "gone", "Ready", SHORT, is_ready).await);
    let kept = db_name(&wait_for(&api, "kept", "Ready", SHORT, is_ready).await);
    for name in ["gone", "kept"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
        wait_for_deletion(&api, name, "deleted", SHORT).await;
    }
    assert!(hooks.database(DbType::Postgresql, &gone).is_none());
    assert!(hooks.database(DbType::Postgresql, &kept).is_some());
    assert_eq!(hooks.stats().effective(Call::Delete), 1);
    stack.finish_leaving_ways(&[&kept]).await;
}

/// The create's answer lost and the operator killed right after: the database exists, nobody
/// saw its password. Still one database; the password is recovered by exactly one rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_a_lost_create_answer_makes_one_database_and_one_rotation() {
    let mut stack = ways_stack(&["--list-lag", "10s"]).await;
    let api = stack.api::<WaysDatabase>();
    let hooks = stack.ways().sim.hooks().clone();
    hooks.arm(Armed {
        on: Call::Create,
        fault: AfterEffect::LoseAnswer,
        count: 1,
    });
    let spec = json!({"dbType": "postgresql", "writeConnectionSecretToRef": {"name": "lost-db"}});
    create(&api, &database("lost", spec)).await;
    let deadline = tokio::time::Instant::now() + SHORT;
    while hooks.stats().effective(Call::Create) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no create reached the portal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill_operator().await;
    stack.start_operator();
    let made = wait_for(&api, "lost", "Ready with credentials", SHORT, |db| {
        is_ready(db) && credentials_ready(db)
    })
    .await;
    let name = db_name(&made);
    let stats = hooks.stats();
    assert_eq!(stats.fired.get("create:lose_answer"), Some(&1));
    assert_eq!(stats.effective(Call::Create), 1, "one database");
    assert_eq!(stats.effective(Call::Rotate), 1, "one rotation");
    assert_eq!(
        secret_text(&stack, "lost-db", "password").await,
        hooks.password(DbType::Postgresql, &name)
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "lost").await;
    assert!(events.contains("PasswordRecovered"), "{events}");
    stack.finish().await;
}

/// A rotation's answer lost: the portal holds a password nobody saw. The operator rotates again
/// and the Secret ends with the password the portal holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_rotation_answer_ends_with_the_portals_password() {
    let stack = ways_stack(&[]).await;
    let api = stack.api::<WaysDatabase>();
    let hooks = stack.ways().sim.hooks();
    let spec = json!({"dbType": "postgresql", "writeConnectionSecretToRef": {"name": "rot-db"}});
    create(&api, &database("rot", spec)).await;
    let name = db_name(&wait_for(&api, "rot", "Ready", SHORT, credentials_ready).await);
    hooks.arm(Armed {
        on: Call::Rotate,
        fault: AfterEffect::LoseAnswer,
        count: 1,
    });
    patch_spec(
        &api,
        "rot",
        json!({"credentials": {"rotationRequestedAt": "1"}}),
    )
    .await;
    wait_for(&api, "rot", "rotated", SHORT, |db| {
        credentials_ready(db)
            && db
                .status
                .as_ref()
                .and_then(|s| s.rotation_handled.as_deref())
                == Some("1")
    })
    .await;
    let stats = hooks.stats();
    assert_eq!(stats.fired.get("rotate:lose_answer"), Some(&1));
    assert_eq!(
        stats.effective(Call::Rotate),
        2,
        "at least once: twice here"
    );
    assert_eq!(
        secret_text(&stack, "rot-db", "password").await,
        hooks.password(DbType::Postgresql, &name)
    );
    let events = events_report(stack.client.clone(), Some(stack.ns.name()), "rot").await;
    assert!(events.contains("RotationRequested"), "{events}");
    stack.finish().await;
}
