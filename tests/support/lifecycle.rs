//! What every way of running the operator must manage: a Database from create to delete.

use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::providers::htx::sim::Kind;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

use super::{OperatorProcess, Stack, is_ready, wait_for, wait_for_deletion};

const TIMEOUT: Duration = Duration::from_secs(90);

/// Create → Ready with its connection Secret and Events → delete, all done by `operator`, which
/// was refused nothing and logged no token.
pub async fn database_lifecycle(stack: &Stack, operator: &OperatorProcess) {
    let api = stack.api::<Database>();
    let spec: DatabaseSpec = serde_json::from_value(json!({
        "engine": "postgresql",
        "sku": "db-s-1vcpu-2gb",
        "writeConnectionSecretToRef": {"name": "orders-conn"}
    }))
    .unwrap();
    api.create(&PostParams::default(), &Database::new("orders", spec))
        .await
        .unwrap();
    let db = wait_for(&api, "orders", "Ready", TIMEOUT, is_ready).await;
    let secret = stack.api::<Secret>().get("orders-conn").await.unwrap();
    assert!(secret.data.unwrap().contains_key("password"));
    assert_eq!(
        secret.metadata.owner_references.unwrap()[0].uid,
        db.metadata.uid.unwrap()
    );
    let (_, described) = stack.kubectl(&["describe", "database", "orders"]).await;
    assert!(described.contains("Created"), "an Event: {described}");

    api.delete("orders", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "orders", "the Database to go", TIMEOUT).await;
    assert_eq!(stack.sim.hooks().creates_count(Kind::Databases), 1);
    assert_eq!(stack.sim.hooks().deletes_count(Kind::Databases), 1);

    let log = operator.log();
    assert!(
        !log.contains("is forbidden") && !log.contains("Forbidden"),
        "the operator was refused something: {}",
        operator.log_path().display()
    );
    assert!(!log.contains(&stack.token), "the token is in the log");
}
