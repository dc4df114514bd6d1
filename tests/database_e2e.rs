//! Databases end to end: the real API server, the operator as a process, the portal simulator.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::providers::htx::sim::{Faults, Kind, Product, Quota};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::DynamicObject;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{READ_TOKEN, Stack, StackOptions, TOKEN_SECRET, wait_for, wait_for_deletion};

const SHORT: Duration = Duration::from_secs(60);

fn database(name: &str, extra: serde_json::Value) -> Database {
    let mut spec = json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let spec: DatabaseSpec = serde_json::from_value(spec).expect("a valid spec");
    Database::new(name, spec)
}

async fn apply(api: &Api<Database>, db: &Database) {
    api.create(&PostParams::default(), db)
        .await
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", db.name_any()));
}

fn condition(db: &Database, type_: &str) -> Option<(String, String)> {
    db.status
        .as_ref()?
        .managed
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

fn is_ready(db: &Database) -> bool {
    condition(db, "Ready").is_some_and(|(status, _)| status == "True")
}

fn ready_reason(reason: &'static str) -> impl Fn(&Database) -> bool {
    move |db| condition(db, "Ready").is_some_and(|(status, r)| status == "False" && r == reason)
}

fn portal_names(stack: &Stack) -> Vec<String> {
    stack
        .sim
        .hooks()
        .databases()
        .iter()
        .map(|db| db["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_becomes_ready_and_delete_removes_it_at_the_portal() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    apply(
        &api,
        &database(
            "orders",
            json!({"writeConnectionSecretToRef": {"name": "orders-conn"}}),
        ),
    )
    .await;
    let (ok, output) = stack
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            "database/orders",
            "--timeout=60s",
        ])
        .await;
    assert!(ok, "kubectl wait: {output}");
    let db = api.get("orders").await.unwrap();
    let status = db.status.as_ref().unwrap();
    assert!(
        status
            .managed
            .id
            .as_deref()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(status.managed.state.as_deref(), Some("online"));
    assert_eq!(status.managed.observed_generation, db.metadata.generation);
    assert_eq!(condition(&db, "Synced").unwrap().0, "True");

    let secret = stack.api::<Secret>().get("orders-conn").await.unwrap();
    let data = secret.data.unwrap();
    assert!(data.contains_key("host") && data.contains_key("password"));
    assert_eq!(
        secret.metadata.owner_references.unwrap()[0].uid,
        db.metadata.uid.clone().unwrap()
    );

    let (_, described) = stack.kubectl(&["describe", "database", "orders"]).await;
    assert!(described.contains("Created"), "{described}");

    api.delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "orders", "the Database to go", SHORT).await;
    assert!(
        portal_names(&stack).is_empty(),
        "the portal database is deleted"
    );
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Databases), 1);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_leaves_the_portal_database() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    apply(
        &api,
        &database("keepme", json!({"deletionPolicy": "Orphan"})),
    )
    .await;
    wait_for(&api, "keepme", "Ready", SHORT, is_ready).await;
    api.delete("keepme", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "keepme", "the Database to go", SHORT).await;
    assert_eq!(portal_names(&stack), ["keepme"]);
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Databases), 0);
    stack.finish_leaving(Product::Databases, &["keepme"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_create_and_the_status_write_creates_once() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    stack.sim.hooks().hold_creates(true);
    apply(&api, &database("exactly-once", json!({}))).await;
    stack.kill_operator_once_a_create_is_held().await;
    let before = api.get("exactly-once").await.unwrap();
    assert!(
        before.status.as_ref().unwrap().managed.id.is_none(),
        "no id was written"
    );

    stack.start_operator();
    let db = wait_for(
        &api,
        "exactly-once",
        "Ready after the restart",
        SHORT,
        is_ready,
    )
    .await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 1);
    assert_eq!(portal_names(&stack), ["exactly-once"]);
    assert_eq!(
        db.status.unwrap().managed.id.as_deref(),
        stack.sim.hooks().databases()[0]["id"].as_str()
    );
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_is_reported_or_adopted() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    for name in ["taken", "inherited"] {
        stack
            .sim
            .hooks()
            .create_out_of_band(
                Product::Databases,
                json!({"name": name, "engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
            )
            .unwrap();
    }
    apply(&api, &database("taken", json!({}))).await;
    apply(&api, &database("inherited", json!({"adoptExisting": true}))).await;
    wait_for(
        &api,
        "taken",
        "AlreadyExists",
        SHORT,
        ready_reason("AlreadyExists"),
    )
    .await;
    let adopted = wait_for(&api, "inherited", "adopted and Ready", SHORT, is_ready).await;
    assert!(adopted.status.unwrap().managed.id.is_some());
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 0);

    // Deleting the one that never owned its name leaves the portal database alone.
    api.delete("taken", &DeleteParams::default()).await.unwrap();
    wait_for_deletion(&api, "taken", "the Database to go", SHORT).await;
    assert!(portal_names(&stack).contains(&"taken".to_owned()));
    stack.finish_leaving(Product::Databases, &["taken"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mirrors_and_never_deletes() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    stack
        .sim
        .hooks()
        .create_out_of_band(
            Product::Databases,
            json!({"name": "legacy", "engine": "mysql", "sku": "db-s-2vcpu-4gb"}),
        )
        .unwrap();
    let spec = json!({"managementPolicy": "Observe", "engine": "mysql", "sku": "db-s-2vcpu-4gb"});
    apply(&api, &database("legacy", spec)).await;
    let db = wait_for(&api, "legacy", "mirrored", SHORT, is_ready).await;
    assert!(db.finalizers().is_empty(), "Observe needs no finalizer");
    assert_eq!(db.status.unwrap().sku.as_deref(), Some("db-s-2vcpu-4gb"));
    api.delete("legacy", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "legacy", "the Database to go", SHORT).await;
    assert_eq!(portal_names(&stack), ["legacy"]);
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 0);
    stack.finish_leaving(Product::Databases, &["legacy"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sku_drift_is_reported_and_an_out_of_band_delete_is_repaired() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    apply(&api, &database("drifty", json!({}))).await;
    wait_for(&api, "drifty", "Ready", SHORT, is_ready).await;

    let patch = json!({"spec": {"sku": "db-s-4vcpu-8gb"}});
    api.patch("drifty", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let drifted = wait_for(
        &api,
        "drifty",
        "Synced=False UpdateNotSupported",
        SHORT,
        |db| condition(db, "Synced").is_some_and(|(_, r)| r == "UpdateNotSupported"),
    )
    .await;
    assert!(is_ready(&drifted), "still usable while drifted");
    assert_eq!(
        stack.sim.hooks().deletes_count(Kind::Databases),
        0,
        "never re-created for drift"
    );

    let id_before = drifted.status.unwrap().managed.id;
    stack
        .sim
        .hooks()
        .delete_out_of_band(Product::Databases, "drifty")
        .unwrap();
    let annotate =
        json!({"metadata": {"annotations": {"htx.vinacis.com/reconcile-requested-at": "now"}}});
    api.patch("drifty", &PatchParams::default(), &Patch::Merge(annotate))
        .await
        .unwrap();
    let repaired = wait_for(&api, "drifty", "re-created with a new id", SHORT, |db| {
        is_ready(db) && db.status.as_ref().unwrap().managed.id != id_before
    })
    .await;
    assert!(repaired.status.unwrap().managed.id.is_some());
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 2);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_quota_and_rotation_recover_without_a_restart() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();

    stack.put_token(TOKEN_SECRET, READ_TOKEN).await;
    apply(&api, &database("scoped", json!({}))).await;
    let refused = wait_for(
        &api,
        "scoped",
        "Forbidden",
        SHORT,
        ready_reason("Forbidden"),
    )
    .await;
    let message = &refused.status.unwrap().managed.conditions[0].message;
    assert!(message.contains("scope"), "{message}");
    let token = stack.token.clone();
    stack.put_token(TOKEN_SECRET, &token).await;
    wait_for(
        &api,
        "scoped",
        "Ready after the token changed",
        SHORT,
        is_ready,
    )
    .await;

    stack.sim.hooks().set_quota(Quota {
        databases: Some(1),
        ..Quota::default()
    });
    apply(&api, &database("over-quota", json!({}))).await;
    wait_for(
        &api,
        "over-quota",
        "QuotaExceeded",
        SHORT,
        ready_reason("QuotaExceeded"),
    )
    .await;
    stack.sim.hooks().set_quota(Quota::default());
    wait_for(
        &api,
        "over-quota",
        "Ready once the quota allows",
        Duration::from_secs(90),
        is_ready,
    )
    .await;

    stack
        .sim
        .hooks()
        .rotate_token(&token, "htx_e2e_rotated")
        .unwrap();
    let annotate =
        json!({"metadata": {"annotations": {"htx.vinacis.com/reconcile-requested-at": "1"}}});
    api.patch("scoped", &PatchParams::default(), &Patch::Merge(annotate))
        .await
        .unwrap();
    wait_for(
        &api,
        "scoped",
        "Unauthorized after the portal rotated",
        SHORT,
        |db| condition(db, "Synced").is_some_and(|(_, r)| r == "Unauthorized"),
    )
    .await;
    stack.put_token(TOKEN_SECRET, "htx_e2e_rotated").await;
    wait_for(
        &api,
        "scoped",
        "Synced with the rotated token",
        SHORT,
        |db| condition(db, "Synced").is_some_and(|(s, _)| s == "True"),
    )
    .await;
    assert!(!stack.operator_log().contains("htx_e2e_rotated"));
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_by_the_schema_or_reported() {
    let stack = Stack::start(StackOptions::default()).await;
    let resource = kube::discovery::ApiResource::erase::<Database>(&());
    let raw: Api<DynamicObject> =
        Api::namespaced_with(stack.client.clone(), stack.ns.name(), &resource);
    for (field, value) in [("engine", "oracle"), ("sku", "Big Server")] {
        let mut object = serde_json::to_value(database("refused", json!({}))).unwrap();
        object["spec"][field] = value.into();
        let object: DynamicObject = serde_json::from_value(object).unwrap();
        match raw.create(&PostParams::default(), &object).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422);
                assert!(status.message.contains(field), "{}", status.message);
            }
            other => panic!("{field}={value} must be refused by the schema: {other:?}"),
        }
    }

    // A valid Kubernetes name that is not a valid portal name: reported, never a crash loop.
    let api = stack.api::<Database>();
    apply(&api, &database("db.with.dots", json!({}))).await;
    let reported = wait_for(
        &api,
        "db.with.dots",
        "InvalidName",
        SHORT,
        ready_reason("InvalidName"),
    )
    .await;
    let message = &reported.status.unwrap().managed.conditions[0].message;
    assert!(message.contains("spec.externalName"), "{message}");
    let (_, described) = stack
        .kubectl(&["describe", "database", "db.with.dots"])
        .await;
    assert!(
        described.contains("InvalidName"),
        "an Event explains it: {described}"
    );
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 0);
    stack.finish().await;
}

/// The Warning Events about the object `name`, as (reason, series count: 1 when none).
async fn warnings_about(stack: &Stack, name: &str) -> Vec<(String, i32)> {
    let events = stack
        .ns
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap();
    events
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            let count = e.series.as_ref().map_or(1, |s| s.count);
            (e.reason.unwrap_or_default(), count)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_repeats_is_one_event_with_a_count() {
    let stack = Stack::start(StackOptions::default()).await;
    let down = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    stack.sim.hooks().set_faults(down).unwrap();
    let api = stack.api::<Database>();
    apply(&api, &database("unlucky", json!({}))).await;

    let deadline = tokio::time::Instant::now() + SHORT;
    let warnings = loop {
        let warnings = warnings_about(&stack, "unlucky").await;
        if warnings.iter().any(|(_, count)| *count >= 3) {
            break warnings;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no Warning repeated three times: {warnings:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        warnings.len(),
        1,
        "repeats are counted on one Event: {warnings:?}"
    );
    assert_eq!(warnings[0].0, "PortalError");

    stack.sim.hooks().clear_faults();
    wait_for(
        &api,
        "unlucky",
        "Ready once the portal answers",
        SHORT,
        is_ready,
    )
    .await;
    stack.finish().await;
}
