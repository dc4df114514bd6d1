//! Benchmarks at scale against a real API server and the portal simulator, printing numbers.
//!
//! ```text
//! cargo bench --bench scale -- converge  [N=1000] [PORTAL_LIMIT=120]
//! cargo bench --bench scale -- overhead  [N=1000]
//! cargo bench --bench scale -- paas      [N=200] [PORTAL_LIMIT=180] [M=50]
//! cargo bench --bench scale -- steady    [N=1000]
//! cargo bench --bench scale -- reaction  [N=10000]
//! cargo bench --bench scale -- restart   [N=1000]
//! cargo bench --bench scale -- tenants   [NAMESPACES=1000] [PER_NAMESPACE=10]
//! cargo bench --bench scale -- ways      [N=1000] [PORTAL_LIMIT=600]
//! ```
//! The cluster: `HTX_E2E_KUBECONFIG`, else `hack/local-cluster.sh up .e2e/bench` (left running;
//! `hack/local-cluster.sh down .e2e/bench` stops it). Each run uses a namespace of its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec, ManagedStatus, crds_without_rules};
use htx_operator::providers::htx::sim::{Kind, RunningSim, Scope, SimConfig, Simulator, TokenSpec};
use htx_operator::sim::stats::{RequestCount, RequestCounts};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

#[path = "scale/paas.rs"]
mod paas;
#[path = "scale/ways.rs"]
mod ways;

const TOKEN: &str = "htx_bench_token";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let scenario = args.first().map(String::as_str).unwrap_or("steady");
    let number = |index: usize, default: usize| {
        args.get(index)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    println!("machine: {} cores; date: {}", cores(), Timestamp::now());
    match scenario {
        "converge" => converge(number(1, 1000), number(2, 120) as u32).await,
        "overhead" => overhead(number(1, 1000)).await,
        "steady" => steady(number(1, 1000)).await,
        "reaction" => reaction(number(1, 10_000)).await,
        "restart" => restart(number(1, 1000)).await,
        "tenants" => tenants(number(1, 1000), number(2, 10)).await,
        "ways" => ways::ways(number(1, 1000), number(2, 600) as u32).await,
        "paas" => paas::paas(number(1, 200), number(2, 180) as u32, number(3, 50)).await,
        other => panic!(
            "unknown scenario {other}: converge, overhead, steady, reaction, restart, tenants, ways, paas"
        ),
    }
}

/// N Databases at the portal's real limit: every create once, no 429, and how much of the
/// budget the operator used (time to all Ready against the floor N ÷ budget).
async fn converge(count: usize, portal_limit: u32) {
    let budget = portal_limit * 5 / 6;
    let bench = Bench::start(portal_limit, budget, "10m").await;
    let started = Instant::now();
    bench.create_databases(count, "conv").await;
    bench
        .wait_all_ready(count, Duration::from_secs(3 * 3600))
        .await;
    let elapsed = started.elapsed();
    let stats = bench.sim.hooks().stats();
    let throttled = stats.with_status(429);
    let portal_calls = stats.total();
    let floor = Duration::from_secs_f64(count as f64 * 60.0 / f64::from(budget));
    println!("converge N={count}, portal limit {portal_limit}/min, operator budget {budget}/min");
    println!(
        "  portal creates      {} made, {} attempted (target = N)",
        stats.creates.get(Kind::Databases),
        stats.create_attempts.values().sum::<u64>()
    );
    println!("  429 answers         {throttled} (target 0)");
    print_calls(&stats.requests);
    println!(
        "  time to all Ready   {:.1} s; floor N/budget {:.1} s",
        elapsed.as_secs_f64(),
        floor.as_secs_f64()
    );
    println!(
        "  budget used         {:.1} % of {budget}/min over the run (target >= 90 %)",
        100.0 * portal_calls as f64 / (elapsed.as_secs_f64() / 60.0) / f64::from(budget)
    );
    bench.finish().await;
}

/// N Databases with the limit lifted: what the operator itself costs per object.
async fn overhead(count: usize) {
    let bench = Bench::start(0, 1_000_000, "10m").await;
    let cpu_before = bench.operator_cpu_seconds();
    let started = Instant::now();
    bench.create_databases(count, "fast").await;
    bench.wait_all_ready(count, Duration::from_secs(3600)).await;
    let elapsed = started.elapsed();
    let cpu = bench.operator_cpu_seconds() - cpu_before;
    println!("overhead N={count}, limit lifted");
    println!(
        "  time to all Ready   {:.1} s ({:.2} ms per object)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / count as f64
    );
    println!(
        "  operator CPU        {cpu:.2} s ({:.3} ms per object)",
        cpu * 1000.0 / count as f64
    );
    println!("  operator RSS        {:.1} MiB", bench.operator_rss_mib());
    bench.finish().await;
}

/// N Ready Databases standing: portal calls per resync interval, memory, API server requests.
async fn steady(count: usize) {
    let resync = Duration::from_secs(30);
    let bench = Bench::start(0, 1_000_000, "30s").await;
    let idle_rss = bench.operator_rss_mib();
    bench.create_databases(count, "steady").await;
    bench.wait_all_ready(count, Duration::from_secs(3600)).await;
    // Let the creation wave settle into the resync rhythm, then measure three intervals.
    tokio::time::sleep(resync).await;
    bench.sim.hooks().reset_stats();
    let api_before = bench.apiserver_requests().await;
    let operator_before = bench.operator_kube_requests().await;
    let measured = Instant::now();
    let mut peak_rss: f64 = 0.0;
    while measured.elapsed() < resync * 3 {
        peak_rss = peak_rss.max(bench.operator_rss_mib());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let per_minute = |requests: f64| requests / (measured.elapsed().as_secs_f64() / 60.0);
    let api_requests = per_minute(bench.apiserver_requests().await - api_before);
    let operator_requests = per_minute(bench.operator_kube_requests().await - operator_before);
    let stats = bench.sim.hooks().stats();
    println!(
        "steady state, N={count} Ready, resync {} s, measured over 3 intervals",
        resync.as_secs()
    );
    println!("  idle operator RSS   {idle_rss:.1} MiB (before any object; target <= 20)");
    println!(
        "  operator RSS        {:.1} MiB at the end, {peak_rss:.1} MiB at most (target <= 64 at N=10,000)",
        bench.operator_rss_mib()
    );
    println!(
        "  portal calls        {} per interval (lists: {}; target <= 1 per product and token)",
        stats.total() as f64 / 3.0,
        stats.route_total("GET", "/api/portal/databases") as f64 / 3.0
    );
    println!(
        "  API server requests {operator_requests:.1} per minute from the operator ({api_requests:.0} from all clients)"
    );
    bench.finish().await;
}

/// With N standing, how long from creating one Database to its portal create call.
async fn reaction(count: usize) {
    let bench = Bench::start(0, 1_000_000, "60s").await;
    bench.create_databases(count, "stand").await;
    bench.wait_all_ready(count, Duration::from_secs(3600)).await;
    let mut delays = Vec::new();
    for i in 0..20 {
        let name = format!("react-{i:02}");
        let created = Instant::now();
        bench.create_database(&name).await;
        loop {
            let at_portal = bench
                .sim
                .hooks()
                .databases()
                .iter()
                .any(|db| db["name"] == name.as_str());
            if at_portal {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        delays.push(created.elapsed());
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    delays.sort();
    println!("reaction with N={count} standing, resync 60 s (runs during the samples), 20 samples");
    println!(
        "  p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (target p95 <= 1000)",
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 95 / 100]),
        ms(*delays.last().unwrap())
    );
    bench.finish().await;
}

/// After a restart with N Ready: portal calls made and time until every status is fresh again.
/// While the operator is down the portal puts every database into maintenance: an object is
/// reconciled again when its own status shows it.
async fn restart(count: usize) {
    let mut bench = Bench::start(0, 1_000_000, "60s").await;
    bench.create_databases(count, "rest").await;
    bench.wait_all_ready(count, Duration::from_secs(3600)).await;
    bench.kill_operator().await;
    for db in bench.sim.hooks().databases() {
        let name = db["name"].as_str().unwrap();
        bench
            .sim
            .hooks()
            .set_status(
                htx_operator::providers::htx::sim::Product::Databases,
                name,
                "maintenance",
            )
            .unwrap();
    }
    bench.sim.hooks().reset_stats();
    let started = Instant::now();
    bench.start_operator();
    bench
        .wait_all(count, Duration::from_secs(3600), |db| {
            db.status
                .as_ref()
                .is_some_and(|s| s.managed.state.as_deref() == Some("maintenance"))
        })
        .await;
    let stats = bench.sim.hooks().stats();
    println!("restart with N={count} Ready");
    println!(
        "  time until every object shows the portal's state again  {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  operator RSS after the restart    {:.1} MiB (no creation burst behind it)",
        bench.operator_rss_mib()
    );
    print_calls(&stats.requests);
    bench.finish().await;
}

/// Tenants: `namespaces` namespaces, each with a token Secret of its own (a token of a portal
/// account of its own) and `per_namespace` Databases using it. A resync costs one list per token; then every
/// token is rotated twice and half the namespaces are deleted, and the operator's memory is
/// measured once what nothing can use any more was dropped (idle limiters after 15 minutes).
async fn tenants(namespaces: usize, per_namespace: usize) {
    const LIST_ROUTE: &str = "/api/portal/databases";
    let resync = Duration::from_secs(60);
    let mut bench = Bench::start(0, 1_000_000, "60s").await;
    bench.watch_every_namespace().await;
    let idle = bench.operator_rss_mib();
    let total = namespaces * per_namespace;
    // Each figure is printed as soon as it is measured: the run is long.
    println!(
        "tenants: {namespaces} namespaces, each with its own token and {per_namespace} Databases ({total} in all), resync {} s",
        resync.as_secs()
    );
    println!("  idle operator RSS                  {idle:.1} MiB");
    let prefix = format!("tenant-{}", std::process::id());
    let names: Vec<String> = (0..namespaces)
        .map(|i| format!("{prefix}-{i:04}"))
        .collect();
    let token =
        |namespace: &str, round: usize| format!("htx_{}_r{round}", namespace.replace('-', "_"));
    let started = Instant::now();
    for namespace in &names {
        bench
            .add_tenant(namespace, &token(namespace, 0), per_namespace)
            .await;
    }
    bench
        .wait_all_ready(total, Duration::from_secs(3 * 3600))
        .await;
    println!(
        "  every Database Ready               {:.0} s after the first namespace",
        started.elapsed().as_secs_f64()
    );

    tokio::time::sleep(resync).await;
    bench.sim.hooks().reset_stats();
    let measured = Instant::now();
    let mut settled_rss: f64 = 0.0;
    while measured.elapsed() < resync {
        settled_rss = settled_rss.max(bench.operator_rss_mib());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lists = bench.sim.hooks().stats().route_total("GET", LIST_ROUTE);
    println!(
        "  list calls in one resync interval  {lists} ({:.2} per token; target 1)",
        lists as f64 / namespaces as f64
    );
    println!(
        "  RSS with every tenant Ready        {settled_rss:.1} MiB at most over the interval ({:.1} KiB per tenant)",
        (settled_rss - idle) * 1024.0 / namespaces as f64
    );

    for round in 1..=2 {
        for namespace in &names {
            bench
                .rotate(
                    namespace,
                    &token(namespace, round - 1),
                    &token(namespace, round),
                )
                .await;
        }
        tokio::time::sleep(resync).await;
    }
    let rotated_rss = bench.operator_rss_mib();
    let unauthorized = bench.sim.hooks().stats().with_status(401);
    println!(
        "  RSS after every token rotated twice {rotated_rss:.1} MiB ({:.1} KiB per token rotated away, before they are dropped; {unauthorized} answers 401)",
        (rotated_rss - settled_rss) * 1024.0 / (2 * namespaces) as f64
    );

    let deleted: Vec<&String> = names.iter().step_by(2).collect();
    for namespace in &deleted {
        let _ = Api::<Namespace>::all(bench.client.clone())
            .delete(namespace, &DeleteParams::default())
            .await;
    }
    bench
        .wait_at_most(
            total - deleted.len() * per_namespace,
            Duration::from_secs(3600),
        )
        .await;
    // The limiters of the tokens rotated away are dropped after 15 idle minutes.
    tokio::time::sleep(Duration::from_secs(17 * 60)).await;
    let end_rss = bench.operator_rss_mib();
    println!(
        "  RSS after half the namespaces went and 17 min  {end_rss:.1} MiB ({:+.1} % of the settled RSS; target within 10 %)",
        100.0 * (end_rss - settled_rss) / settled_rss
    );
    for namespace in names.iter().skip(1).step_by(2) {
        let _ = Api::<Namespace>::all(bench.client.clone())
            .delete(namespace, &DeleteParams::default())
            .await;
    }
    bench.wait_at_most(0, Duration::from_secs(3600)).await;
    bench.finish().await;
}

/// Every portal call the simulator counted, by method and route.
fn print_calls(requests: &[RequestCount]) {
    println!("  portal calls        {} in all:", requests.total());
    let mut by_route: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for request in requests {
        *by_route
            .entry((&request.method, &request.route))
            .or_default() += request.count;
    }
    for ((method, route), count) in by_route {
        println!("    {method:6} {route:48} {count}");
    }
}

/// The sum of the Prometheus samples in `text` whose line starts with `prefix`.
fn sum_of_samples(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn is_ready(db: &Database) -> bool {
    is_ready_status(db.status.as_ref().map(|s| &s.managed))
}

fn is_ready_status(status: Option<&ManagedStatus>) -> bool {
    status.is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

struct Bench {
    client: Client,
    kubeconfig: PathBuf,
    namespace: String,
    sim: RunningSim,
    operator: Option<Child>,
    operator_args: Vec<String>,
    metrics: String,
}

impl Bench {
    async fn start(portal_limit: u32, budget: u32, resync: &str) -> Self {
        let kubeconfig = cluster().await;
        let config = Config::from_custom_kubeconfig(
            Kubeconfig::read_from(&kubeconfig).unwrap(),
            &KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        let client = Client::try_from(config).unwrap();
        let crd_api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(client.clone());
        for crd in crds_without_rules() {
            let mut patch = serde_json::to_value(&crd).unwrap();
            patch["apiVersion"] = "apiextensions.k8s.io/v1".into();
            patch["kind"] = "CustomResourceDefinition".into();
            crd_api
                .patch(
                    &crd.name_any(),
                    &PatchParams::apply("bench").force(),
                    &Patch::Apply(patch),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let namespace = format!("bench-{}", std::process::id());
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("portal-token".into()),
                ..ObjectMeta::default()
            },
            data: Some([("token".to_owned(), ByteString(TOKEN.as_bytes().to_vec()))].into()),
            ..Secret::default()
        };
        Api::<Secret>::namespaced(client.clone(), &namespace)
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        let sim = Simulator::start(
            SimConfig {
                tokens: vec![TokenSpec::new(TOKEN, Scope::Full)],
                rate_per_minute: portal_limit,
                provision_delay: Duration::from_secs(1),
                ..SimConfig::default()
            },
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let metrics = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let operator_args = vec![
            "run".into(),
            "--portal-url".into(),
            sim.url(),
            "--token-secret".into(),
            format!("{namespace}/portal-token"),
            "--namespace".into(),
            namespace.clone(),
            "--metrics-addr".into(),
            metrics.clone(),
            "--rate-per-minute".into(),
            budget.to_string(),
            "--resync".into(),
            resync.into(),
            "--poll".into(),
            "2s".into(),
        ];
        let mut bench = Self {
            client,
            kubeconfig,
            namespace,
            sim,
            operator: None,
            operator_args,
            metrics,
        };
        bench.start_operator();
        tokio::time::sleep(Duration::from_secs(1)).await;
        bench
    }

    fn api(&self) -> Api<Database> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Runs the operator over every namespace instead of the bench's own.
    async fn watch_every_namespace(&mut self) {
        self.kill_operator().await;
        let at = self
            .operator_args
            .iter()
            .position(|arg| arg == "--namespace")
            .expect("the bench starts with one namespace");
        self.operator_args.drain(at..at + 2);
        self.start_operator();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    /// A namespace with a token Secret (`tenant-token`, a token of a portal account of its own)
    /// and `count` Databases using it.
    async fn add_tenant(&self, namespace: &str, token: &str, count: usize) {
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        self.sim
            .hooks()
            .add_token(TokenSpec::new(token, Scope::Full).in_account(namespace))
            .unwrap();
        self.put_token(namespace, token).await;
        let api: Api<Database> = Api::namespaced(self.client.clone(), namespace);
        let spec: DatabaseSpec = serde_json::from_value(serde_json::json!({
            "engine": "postgresql", "sku": "db-s-1vcpu-1gb",
            "tokenSecretRef": {"name": "tenant-token"}
        }))
        .unwrap();
        // Each tenant is a portal account of its own, but portal names are unique across accounts.
        for i in 0..count {
            let db = Database::new(&format!("{namespace}-db-{i:02}"), spec.clone());
            api.create(&PostParams::default(), &db).await.unwrap();
        }
    }

    /// A rotation as a tenant does it: the new token is issued, the Secret updated, the old
    /// token revoked.
    async fn rotate(&self, namespace: &str, old: &str, new: &str) {
        self.sim
            .hooks()
            .add_token(TokenSpec::new(new, Scope::Full).in_account(namespace))
            .unwrap();
        self.put_token(namespace, new).await;
        self.sim.hooks().revoke_token(old).unwrap();
    }

    async fn put_token(&self, namespace: &str, token: &str) {
        self.put_secret(namespace, "tenant-token", token).await;
    }

    /// Writes `token` into the Secret `name` (key `token`) in `namespace`.
    async fn put_secret(&self, namespace: &str, name: &str, token: &str) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some([("token".to_owned(), ByteString(token.as_bytes().to_vec()))].into()),
            ..Secret::default()
        };
        let mut patch = serde_json::to_value(&secret).unwrap();
        patch["apiVersion"] = "v1".into();
        patch["kind"] = "Secret".into();
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply("bench").force(),
                &Patch::Apply(patch),
            )
            .await
            .unwrap();
    }

    fn start_operator(&mut self) {
        let log =
            std::fs::File::create(std::env::temp_dir().join(format!("{}.log", self.namespace)))
                .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_htx-operator"))
            .args(&self.operator_args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.operator = Some(child);
    }

    async fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            child.kill().await.unwrap();
        }
    }

    fn operator_pid(&self) -> u32 {
        self.operator
            .as_ref()
            .and_then(Child::id)
            .expect("the operator runs")
    }

    fn operator_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.operator_pid())).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        kib / 1024.0
    }

    fn operator_cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.operator_pid())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    }

    /// The sum of the running operator's samples whose name and labels start with `prefix`
    /// (0 while its metrics are not served yet).
    async fn operator_metric(&self, prefix: &str) -> f64 {
        let Ok(response) = reqwest::get(format!("http://{}/metrics", self.metrics)).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        sum_of_samples(&text, prefix)
    }

    /// Requests the operator sent to the API server, from its metrics.
    async fn operator_kube_requests(&self) -> f64 {
        self.operator_metric("htx_kube_requests_total{").await
    }

    /// Every request the API server has served, from its own counters.
    async fn apiserver_requests(&self) -> f64 {
        let text = self
            .client
            .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
            .unwrap();
        sum_of_samples(&text, "apiserver_request_total{")
    }

    async fn create_database(&self, name: &str) {
        let spec: DatabaseSpec = serde_json::from_value(serde_json::json!({
            "engine": "postgresql", "sku": "db-s-1vcpu-1gb"
        }))
        .unwrap();
        self.api()
            .create(&PostParams::default(), &Database::new(name, spec))
            .await
            .unwrap();
    }

    async fn create_databases(&self, count: usize, prefix: &str) {
        let spec: DatabaseSpec = serde_json::from_value(serde_json::json!({
            "engine": "postgresql", "sku": "db-s-1vcpu-1gb"
        }))
        .unwrap();
        let prefix = prefix.to_owned();
        create_all(&self.api(), count, move |i| {
            Database::new(&format!("{prefix}-{i:05}"), spec.clone())
        })
        .await;
    }

    async fn wait_all_ready(&self, count: usize, timeout: Duration) {
        self.wait_all(count, timeout, is_ready).await;
    }

    /// Waits until `count` Databases of the bench (any namespace) satisfy `cond`.
    async fn wait_all(&self, count: usize, timeout: Duration, cond: impl Fn(&Database) -> bool) {
        let everywhere: Api<Database> = Api::all(self.client.clone());
        wait_until(&everywhere, timeout, |dbs| {
            dbs.iter().filter(|db| cond(db)).count() >= count
        })
        .await;
    }

    /// Waits until at most `count` Databases of the bench (any namespace) are left.
    async fn wait_at_most(&self, count: usize, timeout: Duration) {
        let everywhere: Api<Database> = Api::all(self.client.clone());
        wait_until(&everywhere, timeout, |dbs| dbs.len() <= count).await;
    }

    /// Deletes everything (the operator still running, so finalizers come off) and the namespace.
    async fn finish(mut self) {
        let api = self.api();
        // A collection delete of 10,000 can time out part way: ask again until none is left.
        loop {
            let _ = api
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await;
            if api
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .is_empty()
            {
                break;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        self.kill_operator().await;
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.namespace, &DeleteParams::default())
            .await;
    }
}

/// Creates `make(0..count)` through `api`, 16 at a time, as a burst of `kubectl apply` would.
async fn create_all<K>(
    api: &Api<K>,
    count: usize,
    make: impl Fn(usize) -> K + Send + Sync + 'static,
) where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
    K: Send + Sync + 'static,
{
    let make = std::sync::Arc::new(make);
    let mut workers = Vec::new();
    for worker in 0..16 {
        let api = api.clone();
        let make = make.clone();
        workers.push(tokio::spawn(async move {
            for i in (worker..count).step_by(16) {
                api.create(&PostParams::default(), &make(i)).await.unwrap();
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
}

/// Lists `api` every 2 s until `done` holds for the list.
async fn wait_until<K>(api: &Api<K>, timeout: Duration, done: impl Fn(&[K]) -> bool)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let deadline = Instant::now() + timeout;
    loop {
        let list = api.list(&ListParams::default()).await.unwrap().items;
        if done(&list) {
            return;
        }
        let names: Vec<String> = list.iter().take(3).map(|o| o.name_any()).collect();
        assert!(
            Instant::now() < deadline,
            "not done in time: {} listed, e.g. {names:?}",
            list.len()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The kubeconfig of the cluster to run on.
async fn cluster() -> PathBuf {
    if let Some(path) = std::env::var_os("HTX_E2E_KUBECONFIG") {
        return PathBuf::from(path);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(".e2e/bench");
    let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/local-cluster.sh"))
        .arg("up")
        .arg(&dir)
        .status()
        .await
        .unwrap();
    assert!(status.success(), "hack/local-cluster.sh up failed");
    dir.join("kubeconfig")
}
