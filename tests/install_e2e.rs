//! The Helm chart's RBAC is enough, and no more: the chart is installed (Helm 4's SDK), and the
//! operator runs as a process with the chart's ServiceAccount identity and the chart's own
//! arguments (no kubelet here to run the Deployment), managing a Database end to end and then
//! every other kind (Function, Proxy, Backup, BackupSchedule). The same identity is then refused
//! what the operator must not do.

mod support;

use std::time::Duration;

use htx_operator::api::{
    Backup, BackupPhase, BackupSchedule, Database, Function, PaasBucket, PaasDatabase, PaasProject,
    PaasRedis, PaasWebService, ProviderConfig, Proxy, WaysDatabase, WaysRestore, WaysSnapshot,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{
    HelmRelease, OperatorProcess, PAAS_KEY_SECRET, Stack, StackOptions, TOKEN_SECRET,
    TestNamespace, WAYS_KEY_SECRET, client_from, database_lifecycle, service_account_kubeconfig,
    wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(90);

/// True when the object's status has the condition `Ready=True` (any kind).
fn ready_json<K: serde::Serialize>(object: &K) -> bool {
    let value = serde_json::to_value(object).unwrap();
    value["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn completed(backup: &Backup) -> bool {
    backup.status.as_ref().and_then(|s| s.phase) == Some(BackupPhase::Completed)
}

/// The Secrets the examples name: the ProviderConfigs' HTX token and WaysCloud key, and the
/// value of the PaaS project's secret.
async fn put_example_credentials(stack: &Stack) {
    let secrets = Api::<Secret>::namespaced(stack.client.clone(), stack.ns.name());
    for (name, key, value) in [
        ("team-a-htx", "token", stack.token.as_str()),
        ("ways-key", "apiKey", stack.ways().key.as_str()),
        ("stripe", "key", "sk_test_example"),
    ] {
        let patch = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                           "stringData": {key: value}});
        secrets
            .patch(name, &PatchParams::apply("test"), &Patch::Apply(patch))
            .await
            .unwrap();
    }
}

/// Every example of examples/ applied as a user would, and a BackupSchedule that fires every
/// two seconds: every kind of both providers reaches its goal under `operator`'s identity.
async fn every_kind(stack: &Stack, operator: &OperatorProcess) {
    put_example_credentials(stack).await;
    let examples = support::repo_root().join("examples");
    let (ok, output) = stack
        .kubectl(&["apply", "-f", examples.to_str().unwrap()])
        .await;
    assert!(ok, "kubectl apply -f examples/: {output}");
    wait_for(
        &stack.api::<Database>(),
        "analytics",
        "Ready",
        SHORT,
        ready_json,
    )
    .await;
    wait_for(
        &stack.api::<Function>(),
        "thumbnails",
        "Ready",
        SHORT,
        ready_json,
    )
    .await;
    wait_for(&stack.api::<Proxy>(), "egress", "Ready", SHORT, ready_json).await;
    let configs = stack.api::<ProviderConfig>();
    for name in ["team-a-htx", "wayscloud"] {
        wait_for(&configs, name, "Ready", SHORT, ready_json).await;
    }
    let orders = stack.api::<WaysDatabase>();
    wait_for(&orders, "orders", "Ready", SHORT, ready_json).await;
    let shop = stack.api::<PaasProject>();
    wait_for(&shop, "shop", "Ready", SHORT, ready_json).await;
    let shop_db = stack.api::<PaasDatabase>();
    wait_for(&shop_db, "shop-db", "Ready", SHORT, ready_json).await;
    let shop_cache = stack.api::<PaasRedis>();
    wait_for(&shop_cache, "shop-cache", "Ready", SHORT, ready_json).await;
    let shop_api = stack.api::<PaasWebService>();
    wait_for(&shop_api, "shop-api", "Ready", SHORT, ready_json).await;
    let shop_assets = stack.api::<PaasBucket>();
    wait_for(&shop_assets, "shop-assets", "Ready", SHORT, ready_json).await;
    let backups = stack.api::<Backup>();
    wait_for(&backups, "analytics-first", "Completed", SHORT, completed).await;
    for secret in [
        "analytics-connection",
        "thumbnails-endpoint",
        "egress-socks",
        "orders-db",
        "shop-db",
        "shop-cache",
        "shop-assets",
    ] {
        stack
            .api::<Secret>()
            .get(secret)
            .await
            .unwrap_or_else(|e| panic!("{secret}: {e}"));
    }

    let schedule: BackupSchedule = serde_json::from_value(json!({
        "apiVersion": "htx.vinacis.com/v1alpha1",
        "kind": "BackupSchedule",
        "metadata": {"name": "every-2s"},
        "spec": {"schedule": "*/2 * * * * *", "databaseRef": {"name": "analytics"},
                 "successfulBackupsHistoryLimit": 1}
    }))
    .unwrap();
    stack
        .api::<BackupSchedule>()
        .create(&PostParams::default(), &schedule)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + SHORT;
    loop {
        let scheduled = backups.list(&ListParams::default()).await.unwrap().items;
        let done = scheduled.iter().any(|b| {
            completed(b)
                && b.metadata
                    .owner_references
                    .as_ref()
                    .is_some_and(|o| o.iter().any(|o| o.name == "every-2s"))
        });
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the schedule made no completed Backup: {:?}\n{}",
            scheduled
                .iter()
                .map(|b| (&b.metadata.name, b.status.as_ref().and_then(|s| s.phase)))
                .collect::<Vec<_>>(),
            operator.log_path().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for(
        &stack.api::<BackupSchedule>(),
        "every-2s",
        "Ready",
        SHORT,
        ready_json,
    )
    .await;
    let log = operator.log();
    assert!(
        !log.contains("is forbidden") && !log.contains("Forbidden"),
        "the operator was refused something: {}",
        operator.log_path().display()
    );
}

/// Deletes every object of kind `K` and waits until they are gone, while the operator (and its
/// RBAC) still runs to take its finalizers off.
async fn delete_all<K>(stack: &Stack)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api = stack.api::<K>();
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|o| o.meta().name.clone())
        .collect();
    for name in &names {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in &names {
        wait_for_deletion(&api, name, "deleted by the operator", SHORT).await;
    }
}

fn assert_forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>, what: &str) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

fn release_name(namespace: &str) -> String {
    // Test namespaces are unique, so the release (and its ClusterRole) is too.
    namespace.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_is_enough_for_a_database_and_no_more() {
    let stack = Stack::start_without_operator(StackOptions {
        ways: Some(Default::default()),
        paas: Some(Default::default()),
        ..StackOptions::default()
    })
    .await;
    let ns = stack.ns.name().to_owned();
    let ways_default = json!({"secretName": WAYS_KEY_SECRET, "key": "token",
                              "url": stack.ways().sim.url(), "ratePerMinute": 60});
    let paas_default = json!({"secretName": PAAS_KEY_SECRET, "key": "token",
                              "url": stack.paas().sim.url(), "ratePerMinute": 60});
    let release = HelmRelease::install(
        &release_name(&ns),
        &ns,
        &[
            format!("portal.tokenSecret.name=\"{TOKEN_SECRET}\""),
            format!("providers.wayscloud={ways_default}"),
            format!("providers.paas={paas_default}"),
        ],
    );
    let kubeconfig = service_account_kubeconfig(&stack.client, &ns, &release.fullname()).await;
    let mut args = release.operator_args(&stack.client, &stack.sim.url()).await;
    assert!(args.contains(&"--leader-election".to_owned()));
    // The ClusterRole allows every namespace, but in this shared cluster the operator must keep
    // to its own test namespace.
    args.push(format!("--namespace={ns}"));
    let operator = OperatorProcess::spawn(&stack, "chart-sa", &kubeconfig, &args);
    assert!(operator.wait_ready(SHORT).await.contains("leader"));
    let lease = Api::<Lease>::namespaced(stack.client.clone(), &ns)
        .get(&format!("{}-leader", release.fullname()))
        .await
        .expect("the operator took the chart's Lease");
    assert!(lease.spec.unwrap().holder_identity.is_some());

    database_lifecycle(&stack, &operator).await;
    every_kind(&stack, &operator).await;

    let sa = client_from(&kubeconfig).await;
    assert_forbidden(
        Api::<Secret>::all(sa.clone())
            .list(&ListParams::default())
            .await,
        "list Secrets cluster-wide",
    );
    assert_forbidden(
        Api::<Secret>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await,
        "list Secrets in its namespace",
    );
    assert_forbidden(
        Api::<Secret>::namespaced(sa.clone(), &ns)
            .delete(TOKEN_SECRET, &DeleteParams::default())
            .await,
        "delete a Secret",
    );
    assert_forbidden(
        Api::<ConfigMap>::namespaced(sa.clone(), &ns)
            .list(&ListParams::default())
            .await,
        "list ConfigMaps",
    );
    assert_forbidden(
        Api::<Database>::namespaced(sa.clone(), &ns)
            .delete("anything", &DeleteParams::default())
            .await,
        "delete a Database (only users do)",
    );
    assert_forbidden(
        Api::<Lease>::namespaced(sa.clone(), "default")
            .get("kube-controller-manager")
            .await,
        "read a Lease of another namespace",
    );
    assert_forbidden(
        Api::<Deployment>::namespaced(sa.clone(), &ns)
            .get(&release.fullname())
            .await,
        "read Deployments",
    );
    // What it may do, it may: read a Secret by name.
    Api::<Secret>::namespaced(sa, &ns)
        .get(TOKEN_SECRET)
        .await
        .expect("a Secret is read by name");

    // The finalizers come off while the operator still has its permissions.
    delete_all::<Database>(&stack).await;
    delete_all::<Function>(&stack).await;
    delete_all::<Proxy>(&stack).await;
    // Before their database: a snapshot is deleted with its database's credentials.
    delete_all::<WaysRestore>(&stack).await;
    delete_all::<WaysSnapshot>(&stack).await;
    delete_all::<WaysDatabase>(&stack).await;
    delete_all::<PaasWebService>(&stack).await;
    delete_all::<PaasBucket>(&stack).await;
    delete_all::<PaasDatabase>(&stack).await;
    delete_all::<PaasRedis>(&stack).await;
    delete_all::<PaasProject>(&stack).await;
    delete_all::<ProviderConfig>(&stack).await;
    assert_eq!(
        stack.sim.hooks().databases(),
        Vec::<serde_json::Value>::new()
    );
    release.uninstall();
    // The example restore made a database of its own at WaysCloud: an action's result, no
    // object's to delete.
    let restored = format!("cust_{}_pg_orders_copy", stack.ways().customer);
    stack.finish_leaving_ways(&[&restored]).await;
    drop(operator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_namespaces_get_roles_and_nothing_cluster_wide() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let watched = stack.ns.name().to_owned();
    let home = TestNamespace::new(&stack.client).await;
    let release = HelmRelease::install(
        &release_name(home.name()),
        home.name(),
        &[
            format!("watchNamespaces=[\"{watched}\"]"),
            // The quick start: the chart creates the default token Secret in its namespace.
            format!(
                "portal.tokenSecret={}",
                json!({"name": "portal-token", "token": stack.token})
            ),
        ],
    );
    let kubeconfig =
        service_account_kubeconfig(&stack.client, home.name(), &release.fullname()).await;
    let args = release.operator_args(&stack.client, &stack.sim.url()).await;
    assert!(args.contains(&format!("--namespace={watched}")), "{args:?}");
    assert!(args.contains(&format!("--token-secret={}/portal-token", home.name())));
    let operator = OperatorProcess::spawn(&stack, "chart-sa-namespaced", &kubeconfig, &args);
    assert!(operator.wait_ready(SHORT).await.contains("leader"));

    database_lifecycle(&stack, &operator).await;

    let sa = client_from(&kubeconfig).await;
    assert_forbidden(
        Api::<Database>::all(sa.clone())
            .list(&ListParams::default())
            .await,
        "list Databases cluster-wide",
    );
    assert_forbidden(
        Api::<Database>::namespaced(sa.clone(), home.name())
            .list(&ListParams::default())
            .await,
        "list Databases outside the watched namespaces",
    );
    assert_forbidden(
        Api::<Secret>::namespaced(sa.clone(), "default")
            .get("anything")
            .await,
        "read a Secret outside the watched namespaces",
    );
    let other = Secret {
        metadata: ObjectMeta {
            name: Some("not-the-token".into()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    Api::<Secret>::namespaced(stack.client.clone(), home.name())
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    assert_forbidden(
        Api::<Secret>::namespaced(sa.clone(), home.name())
            .get("not-the-token")
            .await,
        "read another Secret of its own namespace",
    );
    Api::<Secret>::namespaced(sa.clone(), home.name())
        .get("portal-token")
        .await
        .expect("the default token Secret is read by name");
    Api::<Database>::namespaced(sa, &watched)
        .list(&ListParams::default())
        .await
        .expect("the watched namespace is readable");

    release.uninstall();
    stack.finish().await;
    home.cleanup().await;
    drop(operator);
}
