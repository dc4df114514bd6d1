//! Trust: the operator never takes what is not its own, never leaks the token, and keeps its
//! promises against a portal that behaves within its documents but less kindly than usual (lists
//! that lag, deletes that are accepted and abandoned, texts that repeat the token). One test per
//! finding of the "Trust" issue; each failed before its fix.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, Function};
use htx_operator::sim::{Faults, Product, Quota};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{
    READ_TOKEN, Stack, StackOptions, create, is_ready, not_ready_because, object, ready, wait_for,
    wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);

fn database(name: &str, extra: serde_json::Value) -> Database {
    let mut spec = json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    object("Database", name, spec)
}

fn function(name: &str, extra: serde_json::Value) -> Function {
    let mut spec = json!({"runtime": "nodejs20"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    object("Function", name, spec)
}

fn portal_names(stack: &Stack, product: Product) -> Vec<String> {
    stack
        .sim
        .hooks()
        .resources(product)
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Asks the operator to look at the object now.
async fn nudge<K>(api: &Api<K>, name: &str, value: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let patch = json!({"metadata": {"annotations": {
        "htx.vinacis.com/reconcile-requested-at": value
    }}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .expect("the annotation is set");
}

async fn event_notes(stack: &Stack) -> Vec<String> {
    stack
        .api::<Event>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|event| event.note)
        .collect()
}

/// Finding 1: a create the portal refused (402 quota, 403 scope) leaves no claim on the name, so a
/// database someone makes later under that name is `AlreadyExists`, and deleting the object
/// leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_create_leaves_no_claim_on_the_name() {
    let stack = Stack::start(StackOptions::default()).await;
    stack.put_token("read-only", READ_TOKEN).await;
    stack.sim.hooks().set_quota(Quota {
        databases: Some(0),
        ..Quota::default()
    });
    let api = stack.api::<Database>();
    create(&api, &database("payments", json!({}))).await;
    create(
        &api,
        &database("ledger", json!({"tokenSecretRef": {"name": "read-only"}})),
    )
    .await;
    wait_for(
        &api,
        "payments",
        "QuotaExceeded",
        SHORT,
        not_ready_because("QuotaExceeded"),
    )
    .await;
    wait_for(
        &api,
        "ledger",
        "Forbidden",
        SHORT,
        not_ready_because("Forbidden"),
    )
    .await;

    // Someone creates both names in the web UI.
    for name in ["payments", "ledger"] {
        stack
            .sim
            .hooks()
            .create_out_of_band(
                Product::Databases,
                json!({"name": name, "engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
            )
            .unwrap();
        nudge(&api, name, "after-the-ui").await;
    }
    for name in ["payments", "ledger"] {
        let db = wait_for(
            &api,
            name,
            "AlreadyExists, never mirrored as its own",
            SHORT,
            not_ready_because("AlreadyExists"),
        )
        .await;
        assert!(!is_ready(&db));
        api.delete(name, &DeleteParams::default()).await.unwrap();
        wait_for_deletion(&api, name, "the object to go", SHORT).await;
    }
    assert_eq!(
        portal_names(&stack, Product::Databases),
        ["ledger", "payments"],
        "deleting the objects left the web UI's databases alone"
    );
    stack
        .finish_leaving(Product::Databases, &["ledger", "payments"])
        .await;
}

/// Finding 4: a portal whose error texts repeat the token does not get it into conditions or
/// Events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_that_repeats_the_token_leaks_it_nowhere() {
    let stack = Stack::start(StackOptions::default()).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            echo_token: true,
            ..Faults::default()
        })
        .unwrap();
    let unknown = "htx_repeated_back_to_us_0001";
    stack.put_token("wrong-token", unknown).await;
    stack.sim.hooks().set_quota(Quota {
        databases: Some(0),
        ..Quota::default()
    });
    let api = stack.api::<Database>();
    create(
        &api,
        &database("echoed", json!({"tokenSecretRef": {"name": "wrong-token"}})),
    )
    .await;
    create(&api, &database("quota", json!({}))).await;
    let echoed = wait_for(
        &api,
        "echoed",
        "Unauthorized",
        SHORT,
        not_ready_because("Unauthorized"),
    )
    .await;
    let quota = wait_for(
        &api,
        "quota",
        "QuotaExceeded",
        SHORT,
        not_ready_because("QuotaExceeded"),
    )
    .await;

    let raw = reqwest::Client::new()
        .get(format!("{}/api/portal/databases", stack.sim.url()))
        .bearer_auth(unknown)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(unknown), "the portal repeats the token: {raw}");
    for (db, token) in [(&echoed, unknown), (&quota, stack.token.as_str())] {
        let (_, _, message) = ready(db).unwrap();
        assert!(
            message.contains("<redacted>"),
            "the portal's text is kept: {message}"
        );
        let status = serde_json::to_string(&db.status).unwrap();
        assert!(!status.contains(token), "the token is in status: {status}");
    }
    let notes = event_notes(&stack).await;
    assert!(
        notes.iter().any(|note| note.contains("<redacted>")),
        "{notes:?}"
    );
    for note in &notes {
        assert!(
            !note.contains(unknown) && !note.contains(&stack.token),
            "{note}"
        );
    }
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

/// Finding 5: lists that miss an existing resource (lagging, partial) never make the object
/// create again: one create attempt per name, no 409, every object Ready, and deleting them
/// deletes them all at the portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_that_miss_a_resource_never_cause_a_second_create() {
    let stack = Stack::start(StackOptions::default()).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 4_000,
            partial_list_rate: 0.3,
            seed: Some(5),
            ..Faults::default()
        })
        .unwrap();
    let databases = stack.api::<Database>();
    let functions = stack.api::<Function>();
    for i in 0..5 {
        create(&databases, &database(&format!("lagged-db-{i}"), json!({}))).await;
        create(&functions, &function(&format!("lagged-fn-{i}"), json!({}))).await;
    }
    support::all_ready(&databases, 5, SHORT).await;
    support::all_ready(&functions, 5, SHORT).await;
    let stats = stack.sim.hooks().stats();
    assert!(
        stats.attempted_more_than_once().is_empty(),
        "{:?}",
        stats.create_attempts
    );
    assert_eq!(stats.create_attempts.len(), 10);
    assert_eq!(stats.with_status(409), 0);
    stack.finish().await;
}

/// Finding 6: after a 409 on the adoption path the object takes the resource without asking for
/// it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_name_is_adopted_without_a_second_create() {
    let stack = Stack::start(StackOptions::default()).await;
    // The lists lag, so the resources made just now in the web UI are not listed yet.
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 5_000,
            ..Faults::default()
        })
        .unwrap();
    stack
        .sim
        .hooks()
        .create_out_of_band(
            Product::Databases,
            json!({"name": "shared-db", "engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
        )
        .unwrap();
    stack
        .sim
        .hooks()
        .create_out_of_band(
            Product::Functions,
            json!({"name": "shared-fn", "runtime": "nodejs20"}),
        )
        .unwrap();
    let databases = stack.api::<Database>();
    let functions = stack.api::<Function>();
    create(
        &databases,
        &database("shared-db", json!({"adoptExisting": true})),
    )
    .await;
    create(
        &functions,
        &function("shared-fn", json!({"adoptExisting": true})),
    )
    .await;
    wait_for(
        &databases,
        "shared-db",
        "adopted and Ready",
        SHORT,
        is_ready,
    )
    .await;
    wait_for(
        &functions,
        "shared-fn",
        "adopted and Ready",
        SHORT,
        is_ready,
    )
    .await;
    let stats = stack.sim.hooks().stats();
    assert_eq!(stats.attempts("databases", "shared-db"), 1);
    assert_eq!(stats.attempts("functions", "shared-fn"), 1);
    let notes = event_notes(&stack).await;
    assert!(
        notes.iter().filter(|n| n.starts_with("took over")).count() >= 2,
        "{notes:?}"
    );
    stack.finish().await;
}

/// Finding 7: the finalizer stays until the portal says the resource is gone; a delete it
/// accepted and then abandoned is asked for again, never left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_delete_is_confirmed_before_the_finalizer_comes_off() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    create(&api, &database("abandoned", json!({}))).await;
    wait_for(&api, "abandoned", "Ready", SHORT, is_ready).await;
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            async_deletes: true,
            abandon_delete_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    api.delete("abandoned", &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + SHORT;
    while stack.sim.hooks().stats().abandoned_deletes < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delete was abandoned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still = api
        .get("abandoned")
        .await
        .expect("the object waits for the portal");
    assert!(
        still
            .finalizers()
            .iter()
            .any(|f| f == "htx.vinacis.com/finalizer")
    );
    assert_eq!(portal_names(&stack, Product::Databases), ["abandoned"]);

    // The portal carries out the next one.
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            async_deletes: true,
            ..Faults::default()
        })
        .unwrap();
    wait_for_deletion(
        &api,
        "abandoned",
        "the object to go once the portal deleted it",
        SHORT,
    )
    .await;
    assert!(portal_names(&stack, Product::Databases).is_empty());
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}

/// Finding 8: the status written right before a portal call is refused when the object changed
/// since the reconcile read it, so a stale cache can never record an intent on an old state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_cannot_write_a_guarded_status() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let api = stack.api::<Database>();
    create(&api, &database("stale", json!({}))).await;
    let stale = api.get("stale").await.unwrap();
    nudge(&api, "stale", "changed-meanwhile").await;
    let status = htx_operator::api::DatabaseStatus::default();
    let refused = htx_operator::reconcile::write_status(
        &api,
        &stale,
        &status,
        stale.resource_version().as_deref(),
    )
    .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 409),
        "{refused:?}"
    );
    let fresh = api.get("stale").await.unwrap();
    htx_operator::reconcile::write_status(
        &api,
        &fresh,
        &status,
        fresh.resource_version().as_deref(),
    )
    .await
    .expect("the current copy may write");
    stack.finish().await;
}

/// Finding 3: `parameters` cannot rename what is created (nor set a typed field): the object
/// is refused before any portal call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_cannot_rename_what_is_created() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Function>();
    create(
        &api,
        &function(
            "renamed",
            json!({"parameters": {"name": "elsewhere", "memory_mb": 128}}),
        ),
    )
    .await;
    let refused = wait_for(
        &api,
        "renamed",
        "InvalidSpec",
        SHORT,
        not_ready_because("InvalidSpec"),
    )
    .await;
    let (_, _, message) = ready(&refused).unwrap();
    assert!(message.contains("'name'"), "{message}");
    let stats = stack.sim.hooks().stats();
    assert!(
        stats.create_attempts.is_empty(),
        "{:?}",
        stats.create_attempts
    );
    assert!(portal_names(&stack, Product::Functions).is_empty());
    stack.finish().await;
}
