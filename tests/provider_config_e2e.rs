//! ProviderConfig: a portal and credentials that objects of its namespace name instead of a
//! token Secret. Ready once its credentials authenticated; objects wait for it; it stays while
//! an object still needs it to delete its portal resource.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, Function, ProviderConfig};
use htx_operator::providers::htx::sim::Product;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use serde_json::json;
use support::{
    DATABASES_TOKEN, Stack, StackOptions, create, is_ready, not_ready_because, object, ready,
    wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);

fn config(name: &str, secret: &str) -> ProviderConfig {
    object(
        "ProviderConfig",
        name,
        json!({"provider": "HTX", "credentialsSecretRef": {"name": secret}}),
    )
}

/// `spec` naming the ProviderConfig `config`.
fn via(config: &str, mut spec: serde_json::Value) -> serde_json::Value {
    spec["providerConfigRef"] = json!({"name": config});
    spec
}

fn portal_has(stack: &Stack, product: Product, name: &str) -> bool {
    stack
        .sim
        .hooks()
        .resources(product)
        .iter()
        .any(|r| r["name"] == name)
}

/// The objects use the ProviderConfig's credentials, not the operator's default: its token here
/// writes databases only, so a Function naming it is refused by the portal while a Database is
/// made; a bad token makes it not Ready, and an object naming it says so and goes on once fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_use_the_credentials_of_the_provider_config_they_name() {
    let stack = Stack::start(StackOptions::default()).await;
    let configs = stack.api::<ProviderConfig>();
    let databases = stack.api::<Database>();
    let functions = stack.api::<Function>();

    // Named before it exists: the object waits for it.
    let db_spec = via(
        "team",
        json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
    );
    create(&databases, &object("Database", "team-db", db_spec)).await;
    wait_for(
        &databases,
        "team-db",
        "ProviderConfigMissing",
        SHORT,
        not_ready_because("ProviderConfigMissing"),
    )
    .await;

    stack
        .put_token("team-htx", "htx_not_a_token_of_this_portal")
        .await;
    create(&configs, &config("team", "team-htx")).await;
    let refused = wait_for(
        &configs,
        "team",
        "Unauthorized",
        SHORT,
        not_ready_because("Unauthorized"),
    )
    .await;
    assert!(
        refused
            .finalizers()
            .iter()
            .any(|f| f == "htx.vinacis.com/finalizer")
    );
    wait_for(
        &databases,
        "team-db",
        "ProviderConfigNotReady",
        SHORT,
        not_ready_because("ProviderConfigNotReady"),
    )
    .await;

    // Fixed: the ProviderConfig is Ready and the waiting object goes on by itself.
    stack.put_token("team-htx", DATABASES_TOKEN).await;
    let ready_config = wait_for(&configs, "team", "Ready", SHORT, is_ready).await;
    assert_eq!(ready(&ready_config).unwrap().1, "Authenticated");
    let status = ready_config.status.unwrap();
    assert_eq!(status.url.as_deref(), Some(stack.sim.url().as_str()));
    wait_for(&databases, "team-db", "Ready", SHORT, is_ready).await;
    assert!(portal_has(&stack, Product::Databases, "team-db"));

    let fn_spec = via("team", json!({"runtime": "nodejs20"}));
    create(&functions, &object("Function", "team-fn", fn_spec)).await;
    let forbidden = wait_for(
        &functions,
        "team-fn",
        "Forbidden",
        SHORT,
        not_ready_because("Forbidden"),
    )
    .await;
    assert!(
        !portal_has(&stack, Product::Functions, "team-fn"),
        "{:?}",
        ready(&forbidden)
    );

    // A ProviderConfig of another portal is refused by name.
    let ways: ProviderConfig = object(
        "ProviderConfig",
        "ways",
        json!({"provider": "WaysCloud", "credentialsSecretRef": {"name": "team-htx"}}),
    );
    create(&configs, &ways).await;
    let db_spec = via(
        "ways",
        json!({"engine": "postgresql", "sku": "db-s-1vcpu-2gb"}),
    );
    create(&databases, &object("Database", "wrong-portal", db_spec)).await;
    let wrong = wait_for(
        &databases,
        "wrong-portal",
        "InvalidSpec",
        SHORT,
        not_ready_because("InvalidSpec"),
    )
    .await;
    assert!(ready(&wrong).unwrap().2.contains("is for WaysCloud"));
    stack.finish().await;
}

/// A ProviderConfig being deleted stays while an object still needs it to delete its portal
/// resource, and so does its Secret; then both go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_config_outlives_the_objects_that_need_it() {
    let stack = Stack::start(StackOptions::default()).await;
    let configs = stack.api::<ProviderConfig>();
    let databases = stack.api::<Database>();
    stack.put_token("team-htx", DATABASES_TOKEN).await;
    create(&configs, &config("team", "team-htx")).await;
    wait_for(&configs, "team", "Ready", SHORT, is_ready).await;
    let spec = via("team", json!({"engine": "mysql", "sku": "db-s-1vcpu-1gb"}));
    create(&databases, &object("Database", "kept", spec)).await;
    wait_for(&databases, "kept", "Ready", SHORT, is_ready).await;

    configs
        .delete("team", &DeleteParams::default())
        .await
        .unwrap();
    let in_use = wait_for(&configs, "team", "InUse", SHORT, |c: &ProviderConfig| {
        c.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Deleting" && c.reason == "InUse")
        })
    })
    .await;
    assert!(in_use.metadata.deletion_timestamp.is_some());
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = stack.api();
    let secret = secrets.get("team-htx").await.unwrap();
    assert!(
        !secret.finalizers().is_empty(),
        "its Secret is kept with it"
    );

    databases
        .delete("kept", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&databases, "kept", "the Database deleted", SHORT).await;
    assert!(
        !portal_has(&stack, Product::Databases, "kept"),
        "deleted at the portal with the ProviderConfig's credentials"
    );
    wait_for_deletion(&configs, "team", "the ProviderConfig gone", SHORT).await;
    let secret = secrets.get("team-htx").await.unwrap();
    assert!(secret.finalizers().is_empty(), "its Secret is let go");
    stack.finish().await;
}
