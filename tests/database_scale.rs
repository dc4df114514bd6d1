//! 200 Databases at once: exactly 200 creates, no 429, all Ready; then a resync of all of them
//! costs about one list call per resync interval, not one call per object.

mod support;

use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec};
use htx_operator::providers::htx::sim::{Kind, SimConfig};
use kube::ResourceExt;
use kube::api::ListParams;
use support::{Stack, StackOptions, all_ready, create_databases};

const COUNT: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_at_once_create_exactly_once_within_the_rate_limit() {
    // The portal's limit and the operator's budget, scaled 5× from 120/100 per minute to keep
    // the test short: the operator must stay under the portal's limit all the same.
    let stack = Stack::start(StackOptions {
        sim: SimConfig {
            rate_per_minute: 600,
            provision_delay: Duration::from_secs(1),
            ..SimConfig::default()
        },
        operator_args: [
            "--rate-per-minute",
            "500",
            "--resync",
            "10s",
            "--poll",
            "2s",
        ]
        .map(String::from)
        .to_vec(),
        ..StackOptions::default()
    })
    .await;
    let api = stack.api::<Database>();
    let spec: DatabaseSpec =
        serde_json::from_value(serde_json::json!({"engine": "mysql", "sku": "db-s-1vcpu-1gb"}))
            .unwrap();
    create_databases(&api, &spec, "bulk", COUNT).await;
    all_ready(&api, COUNT, Duration::from_secs(240)).await;
    let stats = stack.sim.hooks().stats();
    assert_eq!(
        stats.creates.get(Kind::Databases),
        COUNT as u64,
        "exactly one create each"
    );
    let throttled = stats.with_status(429);
    assert_eq!(
        throttled, 0,
        "the operator never made the portal answer 429"
    );

    // A resync of everything: every object is reconciled again, the portal sees list calls,
    // not per-object reads, and the API server sees no status writes (nothing changed).
    const RECONCILED: &str = r#"htx_reconciles_total{kind="Database",result="success"}"#;
    stack.sim.hooks().reset_stats();
    let reconciled_before = stack.metric(RECONCILED).await;
    let resource_versions = || async {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        list.iter()
            .map(|db| db.resource_version())
            .collect::<Vec<_>>()
    };
    let statuses_before = resource_versions().await;
    // Every Database is looked at again: wait for that many reconciles (one resync wave).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while stack.metric(RECONCILED).await - reconciled_before < COUNT as f64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no resync wave in a minute at a 10 s resync"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let statuses_after = resource_versions().await;
    assert_eq!(
        statuses_before, statuses_after,
        "a resync that finds nothing new writes nothing"
    );
    let stats = stack.sim.hooks().stats();
    let lists = stats.route_total("GET", "/api/portal/databases");
    let gets = stats.route_total("GET", "/api/portal/databases/{name}");
    assert!(
        (1..=2).contains(&lists),
        "{lists} list calls for one resync of every Database: one per interval (two if the wave straddles one)"
    );
    assert_eq!(gets, 0, "no per-object reads");
    assert_eq!(stats.creates.get(Kind::Databases), 0);
    stack.finish().await;
}
