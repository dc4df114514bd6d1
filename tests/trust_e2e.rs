//! Trust: the operator never takes what is not its own, never leaks the token, and keeps its
//! promises against a portal that behaves within its documents but less kindly than usual (lists
//! that lag, deletes that are accepted and abandoned, texts that repeat the token). One test per
//! finding of the "Trust" issue; each failed before its fix.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, Function};
use htx_operator::providers::htx::sim::{Faults, Product, Quota};
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

/// Finding 2: with the operator's default token, a tenant cannot take over, observe, or back up a
/// portal database another namespace's object binds, and learns nothing of where that object is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_cannot_reach_each_others_resources() {
    let mut stack = Stack::start_without_operator(StackOptions::default()).await;
    let other = stack.add_namespace().await;
    stack.start_operator();
    let owner = stack.api::<Database>();
    create(&owner, &database("payments", json!({}))).await;
    wait_for(&owner, "payments", "Ready", SHORT, is_ready).await;

    let tenant = &stack.others[other];
    let databases = tenant.api::<Database>();
    create(
        &databases,
        &database("payments", json!({"adoptExisting": true})),
    )
    .await;
    create(
        &databases,
        &database(
            "mirror",
            json!({"externalName": "payments", "managementPolicy": "Observe",
                   "writeConnectionSecretToRef": {"name": "stolen"}}),
        ),
    )
    .await;
    let backups = tenant.api::<htx_operator::api::Backup>();
    create(
        &backups,
        &object::<htx_operator::api::Backup>(
            "Backup",
            "their-backup",
            json!({"databaseName": "payments"}),
        ),
    )
    .await;
    for name in ["payments", "mirror"] {
        let refused = wait_for(
            &databases,
            name,
            "AlreadyBound",
            SHORT,
            not_ready_because("AlreadyBound"),
        )
        .await;
        let (_, _, message) = ready(&refused).unwrap();
        assert!(!message.contains(stack.ns.name()), "{message}");
    }
    wait_for(
        &backups,
        "their-backup",
        "AlreadyBound",
        SHORT,
        not_ready_because("AlreadyBound"),
    )
    .await;
    assert!(
        tenant
            .api::<k8s_openapi::api::core::v1::Secret>()
            .get_opt("stolen")
            .await
            .unwrap()
            .is_none(),
        "no copy of the password reached the other namespace"
    );
    assert_eq!(stack.sim.hooks().backups("payments").unwrap().len(), 0);
    assert_eq!(
        stack.sim.hooks().stats().create_attempts.len(),
        1,
        "only the owner's create"
    );
    let still = wait_for(&owner, "payments", "still Ready", SHORT, is_ready).await;
    assert!(still.status.unwrap().managed.id.is_some());
    stack.finish().await;
}

/// Finding 2: the default token serves only the namespaces it is given; elsewhere an object
/// names a token Secret of its own namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_token_serves_only_the_namespaces_it_is_given() {
    let mut stack = Stack::start_without_operator(StackOptions::default()).await;
    let other = stack.add_namespace().await;
    let mut args = StackOptions::default().operator_args;
    args.extend([
        "--default-token-namespace".to_owned(),
        stack.ns.name().to_owned(),
    ]);
    stack.set_operator_args(args);
    stack.start_operator();
    let tenant = &stack.others[other];
    let databases = tenant.api::<Database>();
    create(&databases, &database("without-token", json!({}))).await;
    wait_for(
        &databases,
        "without-token",
        "NoCredentials",
        SHORT,
        not_ready_because("NoCredentials"),
    )
    .await;
    stack
        .put_token_in(tenant.name(), "own-token", &stack.token)
        .await;
    create(
        &databases,
        &database(
            "with-token",
            json!({"tokenSecretRef": {"name": "own-token"}}),
        ),
    )
    .await;
    wait_for(&databases, "with-token", "Ready", SHORT, is_ready).await;
    let served = stack.api::<Database>();
    create(&served, &database("served", json!({}))).await;
    wait_for(&served, "served", "Ready", SHORT, is_ready).await;
    assert_eq!(stack.sim.hooks().stats().create_attempts.len(), 2);
    stack.finish().await;
}

/// Stores a Database its Rust type cannot read, as one stored under an older or looser CRD: the
/// CRD accepts an engine the type does not know for as long as it takes to create it.
async fn store_unreadable_database(stack: &Stack, name: &str) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, PostParams};
    let crds: Api<CustomResourceDefinition> = Api::all(stack.client.clone());
    let widen: json_patch::Patch = serde_json::from_value(json!([{
        "op": "add",
        "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/engine/enum/-",
        "value": "cockroachdb"
    }]))
    .unwrap();
    let resource = ApiResource::erase::<Database>(&());
    let objects: Api<DynamicObject> =
        Api::namespaced_with(stack.client.clone(), stack.ns.name(), &resource);
    let mut odd = DynamicObject::new(name, &resource);
    odd.data = json!({"spec": {"engine": "cockroachdb", "sku": "db-s-1vcpu-2gb"}});
    // Other tests apply the CRD as it is meanwhile: widen again until the create goes through.
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        crds.patch(
            "databases.htx.vinacis.com",
            &PatchParams::default(),
            &Patch::<()>::Json(widen.clone()),
        )
        .await
        .expect("the CRD is widened");
        match objects.create(&PostParams::default(), &odd).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 422 => {}
            Err(other) => panic!("cannot store the unreadable object: {other}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the CRD never accepted it"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    support::install_crds(&stack.client, htx_operator::api::crds_without_rules()).await;
}

/// Finding 9: one object the kind cannot read never stops the watch of its kind: the others are
/// created and deleted as usual, and the unreadable one says why on itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_its_kind_cannot_read_does_not_stop_the_watch() {
    use kube::api::{ApiResource, DynamicObject};
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Database>();
    create(&api, &database("before", json!({}))).await;
    wait_for(&api, "before", "Ready", SHORT, is_ready).await;
    store_unreadable_database(&stack, "odd").await;

    create(&api, &database("after", json!({}))).await;
    wait_for(&api, "after", "Ready", SHORT, is_ready).await;
    api.delete("before", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "before", "a deletion seen by the watch", SHORT).await;
    assert_eq!(portal_names(&stack, Product::Databases), ["after"]);

    let resource = ApiResource::erase::<Database>(&());
    let objects: Api<DynamicObject> =
        Api::namespaced_with(stack.client.clone(), stack.ns.name(), &resource);
    let odd = wait_for(
        &objects,
        "odd",
        "InvalidObject",
        SHORT,
        |odd: &DynamicObject| odd.data["status"]["conditions"][0]["reason"] == "InvalidObject",
    )
    .await;
    let message = odd.data["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("cockroachdb"), "{message}");
    objects
        .delete("odd", &DeleteParams::default())
        .await
        .unwrap();
    stack.finish().await;
}

/// Waits until the namespace is gone (its objects deleted, finalizers and all).
async fn wait_for_namespace_gone(stack: &Stack, name: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(stack.client.clone());
    wait_for_deletion(
        &namespaces,
        name,
        "the namespace to finish deleting",
        Duration::from_secs(120),
    )
    .await;
}

/// A tenant namespace of the stack with a token Secret of its own and a Database and a Function
/// using it, Ready.
async fn tenant_with_its_own_token(stack: &mut Stack, prefix: &str) -> usize {
    let tenant = stack.add_namespace().await;
    let name = stack.others[tenant].name().to_owned();
    stack
        .put_token_in(&name, "tenant-token", &stack.token)
        .await;
    let own = json!({"tokenSecretRef": {"name": "tenant-token"}});
    let databases = stack.others[tenant].api::<Database>();
    let functions = stack.others[tenant].api::<Function>();
    for i in 0..3 {
        create(
            &databases,
            &database(&format!("{prefix}-db-{i}"), own.clone()),
        )
        .await;
    }
    create(&functions, &function(&format!("{prefix}-fn"), own.clone())).await;
    tenant
}

async fn wait_tenant_ready(stack: &Stack, tenant: usize) {
    support::all_ready(&stack.others[tenant].api::<Database>(), 3, SHORT).await;
    support::all_ready(&stack.others[tenant].api::<Function>(), 1, SHORT).await;
}

/// Finding 15: deleting a namespace whose objects use a token Secret of that same namespace
/// deletes their portal resources and finishes, whatever goes first; also when the operator is
/// restarted in the middle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_with_its_token_secret_inside_deletes_its_portal_resources() {
    let mut stack = Stack::start_without_operator(StackOptions::default()).await;
    let whole = tenant_with_its_own_token(&mut stack, "whole").await;
    let secret_first = tenant_with_its_own_token(&mut stack, "secret-first").await;
    stack.start_operator();
    wait_tenant_ready(&stack, whole).await;
    wait_tenant_ready(&stack, secret_first).await;

    // kubectl delete -f dir/ with the Secret first in the directory: the Secret waits for them.
    let tenant = &stack.others[secret_first];
    tenant
        .api::<k8s_openapi::api::core::v1::Secret>()
        .delete("tenant-token", &DeleteParams::default())
        .await
        .unwrap();
    for kind_delete in [
        tenant
            .api::<Database>()
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .map(drop),
        tenant
            .api::<Function>()
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .map(drop),
    ] {
        kind_delete.unwrap();
    }
    for i in 0..3 {
        wait_for_deletion(
            &tenant.api::<Database>(),
            &format!("secret-first-db-{i}"),
            "deleted",
            SHORT,
        )
        .await;
    }
    let secret = tenant
        .api::<k8s_openapi::api::core::v1::Secret>()
        .get_opt("tenant-token")
        .await
        .unwrap();
    wait_for_deletion(
        &tenant.api::<k8s_openapi::api::core::v1::Secret>(),
        "tenant-token",
        "the token Secret to go once nothing needs it",
        SHORT,
    )
    .await;
    assert!(
        secret.is_none_or(|s| s.metadata.deletion_timestamp.is_some()),
        "the Secret was on its way out"
    );

    // The whole namespace at once, the operator killed and started again in the middle.
    let namespace = stack.others[whole].name().to_owned();
    Api::<k8s_openapi::api::core::v1::Namespace>::all(stack.client.clone())
        .delete(&namespace, &DeleteParams::default())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + SHORT;
    while stack
        .sim
        .hooks()
        .deletes_count(htx_operator::providers::htx::sim::Kind::Databases)
        < 4
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no deletion reached the portal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stack.kill_operator().await;
    stack.start_operator();
    wait_for_namespace_gone(&stack, &namespace).await;
    assert!(portal_names(&stack, Product::Databases).is_empty());
    assert!(portal_names(&stack, Product::Functions).is_empty());
    stack.finish().await;
}

/// Finding 14: a token Secret fixed a moment after the failure is a change: the object is woken
/// within the Secret poll (5 s), not at the end of its backoff (15 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_fixed_right_after_the_failure_is_used_at_once() {
    let stack = Stack::start(StackOptions::default()).await;
    stack
        .put_token("team-token", "htx_not_valid_yet_0001")
        .await;
    let api = stack.api::<Database>();
    create(
        &api,
        &database(
            "quick-fix",
            json!({"tokenSecretRef": {"name": "team-token"}}),
        ),
    )
    .await;
    wait_for(
        &api,
        "quick-fix",
        "Unauthorized",
        SHORT,
        not_ready_because("Unauthorized"),
    )
    .await;
    stack.put_token("team-token", &stack.token).await;
    wait_for(
        &api,
        "quick-fix",
        "Ready well before the 15 s backoff ends",
        Duration::from_secs(12),
        is_ready,
    )
    .await;
    stack.finish().await;
}

/// Finding 11: a plain http portal URL of another machine is refused before anything starts.
#[tokio::test]
async fn a_plain_http_portal_elsewhere_is_refused_at_start() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_htx-operator"))
        .args(["run", "--portal-url", "http://portal.example.com"])
        .args(["--token-secret", "htx-system/portal-token"])
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
}

fn backups_asked(stack: &Stack) -> u64 {
    stack
        .sim
        .hooks()
        .stats()
        .route_total("POST", "/api/portal/databases/{name}/backups")
}

/// Finding 12: a backup request whose answer was lost is looked for, not asked again, while the
/// portal's list lags behind; one that never shows up stops at OutcomeUnknown, still asked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_backup_answer_is_never_asked_twice() {
    use htx_operator::api::{Backup, BackupPhase};
    use htx_operator::providers::htx::sim::{AfterEffect, Armed, Call};
    let mut options = StackOptions::default();
    options
        .operator_args
        .extend(["--list-lag".to_owned(), "4s".to_owned()]);
    let stack = Stack::start(options).await;
    let databases = stack.api::<Database>();
    create(&databases, &database("shop", json!({}))).await;
    wait_for(&databases, "shop", "Ready", SHORT, is_ready).await;
    let backups = stack.api::<Backup>();
    let lose_the_answer = Armed {
        on: Call::Create,
        fault: AfterEffect::LoseAnswer,
        count: 1,
    };

    // The answer is lost and the list shows the new backup only 2 s later.
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            list_lag_ms: 2_000,
            ..Faults::default()
        })
        .unwrap();
    stack.sim.hooks().arm(lose_the_answer);
    create(
        &backups,
        &object::<Backup>(
            "Backup",
            "found-later",
            json!({"databaseRef": {"name": "shop"}}),
        ),
    )
    .await;
    let found = wait_for(&backups, "found-later", "Completed", SHORT, |b: &Backup| {
        b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Completed)
    })
    .await;
    assert_eq!(stack.sim.hooks().stats().fired("create", "lose_answer"), 1);
    assert_eq!(backups_asked(&stack), 1);
    assert_eq!(stack.sim.hooks().backups("shop").unwrap().len(), 1);
    assert!(found.status.unwrap().backup_id.is_some());

    // The answer is lost and the list never shows it: OutcomeUnknown after --list-lag.
    stack
        .sim
        .hooks()
        .set_faults(Faults {
            partial_list_rate: 1.0,
            ..Faults::default()
        })
        .unwrap();
    stack.sim.hooks().arm(lose_the_answer);
    create(
        &backups,
        &object::<Backup>(
            "Backup",
            "never-listed",
            json!({"databaseRef": {"name": "shop"}}),
        ),
    )
    .await;
    let unknown = wait_for(
        &backups,
        "never-listed",
        "OutcomeUnknown",
        SHORT,
        |b: &Backup| b.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::OutcomeUnknown),
    )
    .await;
    let (_, reason, message) = ready(&unknown).unwrap();
    assert_eq!(reason, "OutcomeUnknown");
    assert!(
        message.contains("create a new one to ask again"),
        "{message}"
    );
    assert_eq!(backups_asked(&stack), 2, "each Backup asked once");
    assert_eq!(stack.sim.hooks().backups("shop").unwrap().len(), 2);
    stack.sim.hooks().clear_faults();
    stack.finish().await;
}
