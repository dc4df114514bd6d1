//! The PaaS scenario: one PaasProject and N PaasWebServices in it, with N/10 PaasDatabases,
//! N/20 PaasRedis and N/40 PaasBuckets, through a ProviderConfig whose `requestsPerMinute` is
//! below the portal's limit; then one resync window at rest, counted against the formula
//! (README, "What observing costs"); then the Kubernetes Secret that the first M services' env
//! names is changed.

use std::time::Duration;

use htx_operator::api::{
    PaasBucket, PaasDatabase, PaasProject, PaasRedis, PaasWebService, ProviderConfig,
};
use htx_operator::providers::paas::sim::{KeySpec, RunningSim, SimConfig, Simulator};
use htx_operator::reconcile::{HasManagedStatus, PortalKind};
use htx_operator::sim::stats::RequestCounts;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Bench, create_all, is_ready_status, print_calls, wait_until};

const KEY: &str = "ak_bench_key";
const KEY_SECRET: &str = "paas-key";
/// The Secret the first M services take their `SHARED` variable from.
const SHARED: &str = "shared-env";
const PROJECT: &str = "bench";
const RESYNC: Duration = Duration::from_secs(300);
const LONG: Duration = Duration::from_secs(3 * 3600);

/// One for every `step` services (at least one).
fn every(services: usize, step: usize) -> usize {
    services.div_ceil(step)
}

/// An object of kind `K` named `name` with `spec`, using the bench's ProviderConfig.
fn object<K: Resource<DynamicType = ()> + DeserializeOwned>(name: &str, mut spec: Value) -> K {
    spec["providerConfigRef"] = json!({"name": "paas"});
    serde_json::from_value(json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn web_service(i: usize, following: usize) -> PaasWebService {
    let env = if i < following {
        json!({"name": "SHARED", "valueFrom": {"secretKeyRef": {"name": SHARED, "key": "token"}}})
    } else {
        json!({"name": "NODE_ENV", "value": "production"})
    };
    object(
        &format!("web-{i:05}"),
        json!({
            "projectRef": {"name": PROJECT},
            "repository": format!("https://github.com/acme/web-{i:05}"),
            "port": 8080,
            "env": [env],
            "deploy": {"revision": "1"},
        }),
    )
}

fn in_project<K: Resource<DynamicType = ()> + DeserializeOwned>(
    name: String,
    parameters: Value,
) -> K {
    object(
        &name,
        json!({
            "projectRef": {"name": PROJECT},
            "parameters": parameters,
            "writeConnectionSecretToRef": {"name": name},
        }),
    )
}

/// The calls of one resync interval at rest: a list per kind and the ProviderConfig's probe,
/// and each service's env list and deployments read (a project without secrets, data stores
/// whose connection Secret is written and buckets with their key read nothing of their own).
fn resync_calls(services: usize) -> f64 {
    6.0 + 2.0 * services as f64
}

fn ready<K: PortalKind>(objects: &[K], count: usize) -> bool {
    let ready = objects
        .iter()
        .filter(|o| is_ready_status(o.status().map(HasManagedStatus::managed)))
        .count();
    ready >= count
}

/// Creates `count` objects of kind `K` from `make`, at once.
async fn apply<K>(
    bench: &Bench,
    count: usize,
    make: impl Fn(usize) -> K + Send + Sync + 'static,
) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: Clone + serde::Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let api: Api<K> = Api::namespaced(bench.client.clone(), &bench.namespace);
    create_all(&api, count, make).await;
    api
}

/// Deletes every object of kind `K` and waits until they are gone.
async fn delete_all<K>(api: &Api<K>)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let _ = api
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await;
    wait_until(api, LONG, <[K]>::is_empty).await;
}

pub async fn paas(services: usize, portal_limit: u32, following: usize) {
    let following = following.min(services);
    let budget = portal_limit * 5 / 6;
    let (databases, redis, buckets) = (
        every(services, 10),
        every(services, 20),
        every(services, 40),
    );
    let bench = Bench::start(0, 1_000_000, &format!("{}s", RESYNC.as_secs())).await;
    let sim = Simulator::start(
        SimConfig {
            keys: vec![KeySpec::new(KEY, "bench")],
            rate_per_minute: portal_limit,
            bucket_limit: buckets as u32 + 1,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let namespace = bench.namespace.clone();
    bench.put_secret(&namespace, KEY_SECRET, KEY).await;
    bench.put_secret(&namespace, SHARED, "one").await;
    let configs: Api<ProviderConfig> = Api::namespaced(bench.client.clone(), &namespace);
    let config: ProviderConfig = serde_json::from_value(json!({
        "apiVersion": ProviderConfig::api_version(&()),
        "kind": "ProviderConfig",
        "metadata": {"name": "paas"},
        "spec": {
            "provider": "Paas",
            "url": sim.url(),
            "credentialsSecretRef": {"name": KEY_SECRET, "key": "token"},
            "requestsPerMinute": budget,
        },
    }))
    .unwrap();
    configs
        .create(&PostParams::default(), &config)
        .await
        .unwrap();

    let started = Instant::now();
    let projects = apply(&bench, 1, |_| {
        object::<PaasProject>(PROJECT, json!({"description": "bench"}))
    })
    .await;
    let web = apply(&bench, services, move |i| web_service(i, following)).await;
    let dbs = apply(&bench, databases, |i| {
        in_project::<PaasDatabase>(
            format!("db-{i:05}"),
            json!({"engine": "postgresql", "version": "16", "plan": "starter", "storage_gb": 10}),
        )
    })
    .await;
    let caches = apply(&bench, redis, |i| {
        in_project::<PaasRedis>(
            format!("cache-{i:05}"),
            json!({"plan": "starter", "maxmemory_policy": "allkeys-lru"}),
        )
    })
    .await;
    let stores = apply(&bench, buckets, |i| {
        let name = format!("assets-{i:05}");
        object::<PaasBucket>(
            &name,
            json!({"public": false, "writeConnectionSecretToRef": {"name": name}}),
        )
    })
    .await;
    wait_until(&projects, LONG, |o| ready(o, 1)).await;
    wait_until(&web, LONG, |o| ready(o, services)).await;
    wait_until(&dbs, LONG, |o| ready(o, databases)).await;
    wait_until(&caches, LONG, |o| ready(o, redis)).await;
    wait_until(&stores, LONG, |o| ready(o, buckets)).await;
    let elapsed = started.elapsed();
    let stats = sim.hooks().stats();
    // What the design needs: each create; per service its env list, its one variable's create
    // and its deployments read; per data store its detail (the connection); per bucket its
    // key; one list per kind and the ProviderConfig's probe.
    let creates = 1 + services + databases + redis + buckets;
    let needed = creates + 3 * services + databases + redis + buckets + 5 + 1;
    println!(
        "paas converge: 1 project, {services} web services, {databases} databases, {redis} redis, {buckets} buckets; portal limit {portal_limit}/min, requestsPerMinute {budget}"
    );
    // The portal counts the creates of the objects and of the buckets' access keys.
    println!(
        "  portal creates      {} made, {} attempted (target {creates} objects + {buckets} access keys)",
        stats.creates.values().sum::<u64>(),
        stats.create_attempts.values().sum::<u64>()
    );
    println!(
        "  429 answers         {} (target 0)",
        stats.with_status(429)
    );
    print_calls(&stats.requests);
    println!(
        "  time to all Ready   {:.1} s; floor {needed} calls needed / budget = {:.1} s",
        elapsed.as_secs_f64(),
        needed as f64 * 60.0 / f64::from(budget)
    );
    println!(
        "  budget used         {:.1} % of {budget}/min over the run",
        100.0 * stats.requests.total() as f64 / (elapsed.as_secs_f64() / 60.0) / f64::from(budget)
    );

    sim.hooks().reset_stats();
    let window = Instant::now();
    tokio::time::sleep(RESYNC).await;
    let stats = sim.hooks().stats();
    let resyncs = window.elapsed().as_secs_f64() / RESYNC.as_secs_f64();
    println!(
        "paas at rest: one resync window of {:.0} s",
        window.elapsed().as_secs_f64()
    );
    print_calls(&stats.requests);
    println!(
        "  formula             lists (5 kinds + the probe) x {resyncs:.2} resyncs = {:.1}; env lists {services}; deployments reads {services}; in all {:.0}",
        6.0 * resyncs,
        resync_calls(services) * resyncs
    );
    println!(
        "  429 answers         {} (target 0)",
        stats.with_status(429)
    );

    follow_secret(&bench, &sim, &web, services, following).await;

    delete_all(&web).await;
    delete_all(&dbs).await;
    delete_all(&caches).await;
    delete_all(&stores).await;
    delete_all(&projects).await;
    delete_all(&configs).await;
    sim.shutdown().await;
    bench.finish().await;
}

/// Changes the Secret the first `following` services' `SHARED` variable comes from: the calls
/// and the time until the portal holds the new value for every one of them.
async fn follow_secret(
    bench: &Bench,
    sim: &RunningSim,
    web: &Api<PaasWebService>,
    services: usize,
    following: usize,
) {
    let ids: Vec<String> = web
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.spec.env.iter().any(|v| v.name == "SHARED"))
        .filter_map(|s| s.status?.managed.id)
        .collect();
    assert_eq!(ids.len(), following, "every following service has its id");
    sim.hooks().reset_stats();
    let started = Instant::now();
    bench.put_secret(&bench.namespace, SHARED, "two").await;
    let shows_it = |id: &String| {
        sim.hooks()
            .env(id)
            .is_some_and(|env| env.get("SHARED").map(String::as_str) == Some("two"))
    };
    while !ids.iter().all(shows_it) {
        assert!(
            started.elapsed() < LONG,
            "the new value did not reach every service"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    // The deployments read that ends each of those reconciles comes after the write.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let counted = started.elapsed();
    let stats = sim.hooks().stats();
    println!("paas env follows a Secret: {following} services name it");
    println!(
        "  time until all show the new value  {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  calls counted over {:.0} s; the resync at rest adds about {:.0} in that time",
        counted.as_secs_f64(),
        resync_calls(services) * counted.as_secs_f64() / RESYNC.as_secs_f64()
    );
    println!(
        "  env writes          {} (target {following}: one per service)",
        stats.env_updates
    );
    print_calls(&stats.requests);
    println!(
        "  429 answers         {} (target 0)",
        stats.with_status(429)
    );
}
