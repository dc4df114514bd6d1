//! The WaysCloud scenario: N WaysDatabases converge within the operator's budget with no 429,
//! then one deep-resync window is counted against the cost formula (README, "What observing
//! costs").

use std::time::Duration;

use htx_operator::api::{WaysDatabase, WaysDatabaseSpec};
use htx_operator::providers::ways::sim::{Call, KeySpec, Permission, SimConfig, Simulator};
use htx_operator::sim::stats::RequestCounts;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use tokio::time::Instant;

use super::{Bench, create_all, is_ready_status, ms, print_calls, wait_until};

const KEY: &str = "wk_bench_key";
const RESYNC: Duration = Duration::from_secs(60);
const DEEP_RESYNC: Duration = Duration::from_secs(300);

/// Every fourth database has a firewall and every fifth a backup policy: the deep reads of
/// those are counted apart.
fn spec(i: usize) -> WaysDatabaseSpec {
    let mut spec = serde_json::json!({
        "dbType": if i.is_multiple_of(2) { "postgresql" } else { "mariadb" },
    });
    if i.is_multiple_of(4) {
        spec["firewall"] = serde_json::json!([{"cidr": "10.0.0.0/24"}]);
    }
    if i.is_multiple_of(5) {
        spec["backupPolicy"] =
            serde_json::json!({"enabled": true, "frequency": "daily", "retentionDays": 7});
    }
    serde_json::from_value(spec).unwrap()
}

pub async fn ways(count: usize, portal_limit: u32) {
    let budget = portal_limit * 5 / 6;
    let mut bench = Bench::start(0, 1_000_000, &format!("{}s", RESYNC.as_secs())).await;
    bench.kill_operator().await;
    let sim = Simulator::start(
        SimConfig {
            keys: vec![KeySpec {
                key: KEY.into(),
                customer: "bench".into(),
                permissions: Permission::ALL.into_iter().collect(),
            }],
            rate_per_minute: portal_limit,
            quota: count as u32 + 10,
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    bench
        .put_secret(&bench.namespace.clone(), "ways-key", KEY)
        .await;
    let default = format!(
        "WaysCloud:{}/ways-key,url={},rate={budget}",
        bench.namespace,
        sim.url()
    );
    bench.operator_args.extend([
        "--provider-default".into(),
        default,
        "--deep-resync".into(),
        format!("{}s", DEEP_RESYNC.as_secs()),
    ]);
    bench.start_operator();

    let api: Api<WaysDatabase> = Api::namespaced(bench.client.clone(), &bench.namespace);
    let started = Instant::now();
    create_all(&api, count, |i| {
        WaysDatabase::new(&format!("ways-{i:05}"), spec(i))
    })
    .await;
    wait_until(&api, Duration::from_secs(3 * 3600), |dbs| {
        dbs.iter()
            .filter(|db| is_ready_status(db.status.as_ref().map(|s| &s.managed)))
            .count()
            >= count
    })
    .await;
    let elapsed = started.elapsed();
    let stats = sim.hooks().stats();
    println!(
        "ways converge N={count}, portal limit {portal_limit}/min, operator budget {budget}/min"
    );
    println!(
        "  portal creates      {} made, {} attempted (target = N)",
        stats.effective(Call::Create),
        stats.create_attempts.values().sum::<u64>()
    );
    println!(
        "  429 answers         {} (target 0)",
        stats.requests.with_status(429)
    );
    print_calls(&stats.requests);
    let calls = stats.requests.total();
    println!(
        "  time to all Ready   {:.1} s; floor calls/budget {:.1} s",
        elapsed.as_secs_f64(),
        calls as f64 * 60.0 / f64::from(budget)
    );
    println!(
        "  budget used         {:.1} % of {budget}/min over the run",
        100.0 * calls as f64 / (elapsed.as_secs_f64() / 60.0) / f64::from(budget)
    );

    // One deep-resync window at rest: every database read once, lists once per type per resync.
    sim.hooks().reset_stats();
    let window = Instant::now();
    tokio::time::sleep(DEEP_RESYNC).await;
    let stats = sim.hooks().stats();
    let resyncs = window.elapsed().as_secs_f64() / RESYNC.as_secs_f64();
    let firewalls = (0..count).filter(|i| i.is_multiple_of(4)).count();
    let policies = (0..count).filter(|i| i.is_multiple_of(5)).count();
    println!(
        "ways at rest: one deep-resync window of {:.0} s (resync {} s)",
        ms(window.elapsed()) / 1000.0,
        RESYNC.as_secs()
    );
    print_calls(&stats.requests);
    println!(
        "  formula             lists 2 types x 1 key x {resyncs:.1} resyncs = {:.0}; info {count}; firewall {firewalls}; policy {policies}",
        2.0 * resyncs
    );
    println!(
        "  429 answers         {} (target 0)",
        stats.requests.with_status(429)
    );

    let _ = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    wait_until(&api, Duration::from_secs(3600), |dbs| dbs.is_empty()).await;
    sim.shutdown().await;
    bench.finish().await;
}
