//! `/metrics` and `/readyz` of a running operator, scraped while it manages Databases on the real
//! API server; and a real 429 from the simulator counted by the portal client.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::http::{ApiToken, Budget, ClientSettings, PortalClient};
use htx_operator::providers::htx::client::{self as htx, Htx};
use htx_operator::providers::htx::sim::{Scope, SimConfig, Simulator, TokenSpec};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;
use support::{
    Metrics, OperatorProcess, Stack, StackOptions, kubeconfig_path, wait_for, wait_for_deletion,
};

const SHORT: Duration = Duration::from_secs(60);

fn is_ready(db: &Database) -> bool {
    db.status.as_ref().is_some_and(|s| {
        s.managed
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

async fn create(api: &Api<Database>, name: &str) {
    let spec: DatabaseSpec = serde_json::from_value(json!({
        "engine": "postgresql",
        "sku": "db-s-1vcpu-2gb",
        "writeConnectionSecretToRef": {"name": format!("{name}-conn")}
    }))
    .unwrap();
    api.create(&PostParams::default(), &Database::new(name, spec))
        .await
        .unwrap_or_else(|e| panic!("cannot create {name}: {e}"));
}

const LIST: &str = r#"route="/api/portal/databases",method="GET""#;
const CREATE: &str = r#"route="/api/portal/databases",method="POST""#;
const DELETE: &str = r#"route="/api/portal/databases/{name}",method="DELETE""#;

fn managed(metrics: &Metrics, ready: &str) -> f64 {
    metrics.value(&format!(
        r#"htx_managed_objects{{kind="Database",ready="{ready}"}}"#
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_move_with_a_database_lifecycle() {
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let operator = OperatorProcess::spawn(
        &stack,
        "operator",
        &kubeconfig_path(),
        &OperatorProcess::stack_args(&stack),
    );
    assert_eq!(operator.get("/healthz").await.0, 200);
    assert!(
        operator
            .wait_ready(SHORT)
            .await
            .contains("controllers running")
    );

    let before = operator.metrics().await;
    assert_eq!(before.value("htx_leader"), 1.0);
    assert_eq!(managed(&before, "True"), 0.0);
    assert_eq!(before.sum("htx_portal_requests_total", &[]), 0.0);

    let api = stack.api::<Database>();
    for name in ["metered", "counted"] {
        create(&api, name).await;
    }
    for name in ["metered", "counted"] {
        wait_for(&api, name, "Ready", SHORT, is_ready).await;
    }
    let ready = operator.metrics().await;
    assert_eq!(managed(&ready, "True"), 2.0, "{}", ready.0);
    assert_eq!(managed(&ready, "False") + managed(&ready, "Unknown"), 0.0);
    assert!(
        ready.value(r#"htx_reconciles_total{kind="Database",result="success"}"#) >= 4.0,
        "finalizer, create, observe until ready, for each: {}",
        ready.0
    );
    assert!(ready.value(r#"htx_reconcile_duration_seconds_count{kind="Database"}"#) >= 4.0);
    assert_eq!(
        ready.sum("htx_portal_requests_total", &[CREATE, r#"code="201""#]),
        2.0,
        "one create each"
    );
    assert!(ready.sum("htx_portal_requests_total", &[LIST, r#"code="200""#]) >= 1.0);
    let requests = ready.sum("htx_portal_requests_total", &[]);
    let waits = ready.sum("htx_portal_limiter_wait_seconds_count", &[]);
    assert_eq!(
        waits, requests,
        "every request went through the limiter once"
    );
    assert!(ready.value(r#"htx_portal_limiter_wait_seconds_count{priority="write"}"#) >= 2.0);
    assert!(ready.sum("htx_portal_request_duration_seconds_count", &[CREATE]) >= 2.0);
    // Requests to the API server: a watch per kind, and for each Database at least the finalizer
    // and status patches and the connection Secret.
    assert!(
        ready.value(r#"htx_kube_requests_total{verb="watch"}"#) >= 5.0,
        "{}",
        ready.0
    );
    assert!(
        ready.value(r#"htx_kube_requests_total{verb="patch"}"#) >= 6.0,
        "{}",
        ready.0
    );

    // Bounded labels: no object names, no namespace, no token, no error text.
    for unbounded in ["metered", "counted", stack.ns.name(), stack.token.as_str()] {
        assert!(
            !ready.0.contains(unbounded),
            "'{unbounded}' appears in /metrics"
        );
    }

    api.delete("metered", &DeleteParams::default())
        .await
        .unwrap();
    wait_for_deletion(&api, "metered", "the Database to go", SHORT).await;
    let after = operator.metrics().await;
    assert_eq!(
        after.sum("htx_portal_requests_total", &[DELETE, r#"code="200""#]),
        1.0
    );
    assert_eq!(
        managed(&after, "True"),
        1.0,
        "the deleted one is no longer counted"
    );
    assert!(
        after.value(r#"htx_reconciles_total{kind="Database",result="success"}"#)
            > ready.value(r#"htx_reconciles_total{kind="Database",result="success"}"#)
    );
    stack.finish().await;
    drop(operator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_counted_by_route() {
    let sim = Simulator::start(
        SimConfig {
            rate_per_minute: 2,
            tokens: vec![TokenSpec::new("htx_metrics_429", Scope::Full)],
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("the simulator starts");
    // The client's own budget is far above the portal's, so the portal answers 429.
    let portal = htx::portal(&sim.url(), Budget::per_minute(600), false).unwrap();
    let client = Htx(PortalClient::new(ClientSettings::default())
        .unwrap()
        .session(&portal, ApiToken::new("htx_metrics_429").unwrap()));
    let metrics = htx_operator::metrics::global();
    let series = r#"htx_portal_rate_limited_total{route="/api/portal/databases",method="GET"}"#;
    let before = Metrics(metrics.encode()).value(series);
    client.list_databases().await.expect("first");
    client.list_databases().await.expect("second");
    // The third is answered 429; the client then waits Retry-After (tens of seconds) to retry,
    // which this test does not need to see.
    let third = tokio::spawn(async move { client.list_databases().await });
    let deadline = tokio::time::Instant::now() + SHORT;
    while Metrics(metrics.encode()).value(series) < before + 1.0 {
        assert!(tokio::time::Instant::now() < deadline, "no 429 counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    third.abort();
    let text = Metrics(metrics.encode());
    assert!(
        text.sum(
            "htx_portal_requests_total",
            &[r#"route="/api/portal/databases",method="GET",code="429""#]
        ) >= 1.0
    );
}
