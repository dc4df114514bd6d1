//! Functions and proxies end to end, and tokens scoped to one product.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, Function, Proxy};
use htx_operator::providers::htx::sim::{Kind, Product};
use k8s_openapi::api::core::v1::Secret;
use kube::api::DeleteParams;
use serde_json::json;
use support::{
    DATABASES_TOKEN, FUNCTIONS_TOKEN, Stack, StackOptions, create, is_ready, object, ready,
    wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_is_created_mirrored_and_deleted() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Function>();
    let spec =
        json!({"runtime": "nodejs20", "parameters": {"memory_mb": 256, "handler": "index.main"}});
    create(&api, &object("Function", "thumbnails", spec)).await;
    let function = wait_for(&api, "thumbnails", "Ready", SHORT, is_ready).await;
    let status = function.status.unwrap();
    assert!(status.url.is_some_and(|url| url.contains("thumbnails")));
    assert_eq!(status.runtime.as_deref(), Some("nodejs20"));
    let at_portal = &stack.sim.hooks().functions()[0];
    assert_eq!(
        at_portal["memory_mb"], 256,
        "parameters reach the portal verbatim"
    );

    api.delete("thumbnails", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "thumbnails", "the Function to go", SHORT).await;
    assert!(stack.sim.hooks().functions().is_empty());
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Functions), 1);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_writes_its_credentials_and_orphan_keeps_it() {
    let stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Proxy>();
    let spec =
        json!({"deletionPolicy": "Orphan", "writeConnectionSecretToRef": {"name": "egress-socks"}});
    create(&api, &object("Proxy", "egress", spec)).await;
    let proxy = wait_for(&api, "egress", "Ready", SHORT, is_ready).await;
    let status = proxy.status.unwrap();
    assert!(status.host.is_some() && status.port.is_some());

    let secret = stack.api::<Secret>().get("egress-socks").await.unwrap();
    let data = secret.data.unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    assert!(text("url").starts_with("socks5://"), "{}", text("url"));
    assert!(text("url").ends_with(&format!("@{}:{}", text("host"), text("port"))));
    assert!(!text("password").is_empty());

    api.delete("egress", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "egress", "the Proxy to go", SHORT).await;
    assert_eq!(
        stack.sim.hooks().proxies().len(),
        1,
        "Orphan keeps it at the portal"
    );
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Proxies), 0);
    stack.finish_leaving(Product::Proxies, &["egress"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_scoped_token_writes_only_its_product() {
    let stack = Stack::start(StackOptions::default()).await;
    stack.put_token("functions-token", FUNCTIONS_TOKEN).await;
    stack.put_token("databases-token", DATABASES_TOKEN).await;

    let databases = stack.api::<Database>();
    let spec = json!({"engine": "mysql", "sku": "db-s-1vcpu-1gb", "tokenSecretRef": {"name": "functions-token"}});
    create(&databases, &object("Database", "wrong-scope-db", spec)).await;
    let refused = wait_for(
        &databases,
        "wrong-scope-db",
        "Forbidden",
        SHORT,
        |db: &Database| ready(db).is_some_and(|(_, reason, _)| reason == "Forbidden"),
    )
    .await;
    let message = serde_json::to_value(&refused).unwrap()["status"]["conditions"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("functions"),
        "the message names the scope: {message}"
    );

    let functions = stack.api::<Function>();
    let spec = json!({"runtime": "python3.12", "tokenSecretRef": {"name": "databases-token"}});
    create(&functions, &object("Function", "wrong-scope-fn", spec)).await;
    wait_for(
        &functions,
        "wrong-scope-fn",
        "Forbidden",
        SHORT,
        |f: &Function| ready(f).is_some_and(|(_, reason, _)| reason == "Forbidden"),
    )
    .await;

    let spec = json!({"runtime": "python3.12", "tokenSecretRef": {"name": "functions-token"}});
    create(&functions, &object("Function", "right-scope-fn", spec)).await;
    wait_for(&functions, "right-scope-fn", "Ready", SHORT, is_ready).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 0);
    assert_eq!(stack.sim.hooks().creates_count(Kind::Functions), 1);
    stack.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_create_and_the_status_write_creates_one_proxy() {
    let mut stack = Stack::start(StackOptions::default()).await;
    let api = stack.api::<Proxy>();
    stack.sim.hooks().hold_creates(true);
    create(&api, &object("Proxy", "once", json!({}))).await;
    stack.kill_operator_once_a_create_is_held().await;
    stack.start_operator();
    wait_for(&api, "once", "Ready after the restart", SHORT, is_ready).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Proxies), 1);
    stack.finish().await;
}
