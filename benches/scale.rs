//! Benchmarks at scale against a real API server and the portal simulator, printing numbers.
//!
//! ```text
//! cargo bench --bench scale -- converge  [N=1000] [PORTAL_LIMIT=120]
//! cargo bench --bench scale -- overhead  [N=1000]
//! cargo bench --bench scale -- steady    [N=1000]
//! cargo bench --bench scale -- reaction  [N=10000]
//! cargo bench --bench scale -- restart   [N=1000]
//! ```
//! The cluster: `HTX_E2E_KUBECONFIG`, else `hack/local-cluster.sh up .e2e/bench` (left running;
//! `hack/local-cluster.sh down .e2e/bench` stops it). Each run uses a namespace of its own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use htx_operator::api::{Database, DatabaseSpec, crds};
use htx_operator::sim::{Kind, RunningSim, Scope, SimConfig, Simulator, TokenSpec};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

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
        other => panic!("unknown scenario {other}: converge, overhead, steady, reaction, restart"),
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
        "  portal creates      {} (target = N)",
        stats.creates.get(Kind::Databases)
    );
    println!("  429 answers         {throttled} (target 0)");
    println!(
        "  portal calls        {portal_calls} ({} besides creates)",
        portal_calls - count as u64
    );
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
async fn restart(count: usize) {
    let mut bench = Bench::start(0, 1_000_000, "60s").await;
    bench.create_databases(count, "rest").await;
    bench.wait_all_ready(count, Duration::from_secs(3600)).await;
    bench.kill_operator().await;
    bench.sim.hooks().reset_stats();
    let started = Instant::now();
    bench.start_operator();
    // Fresh again: every object reconciled against the portal by the new process.
    while bench.reconciles().await < count as f64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = bench.sim.hooks().stats();
    println!("restart with N={count} Ready");
    println!(
        "  time until every object is reconciled again  {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  operator RSS after the restart    {:.1} MiB (no creation burst behind it)",
        bench.operator_rss_mib()
    );
    println!(
        "  portal calls made                 {} ({} creates)",
        stats.total(),
        stats.creates.get(Kind::Databases)
    );
    bench.finish().await;
}

/// The sum of the Prometheus samples in `text` whose line starts with `prefix`.
fn sum_of_samples(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
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
        for crd in crds() {
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

    /// Successful Database reconciles of the running operator process, from its metrics.
    async fn reconciles(&self) -> f64 {
        self.operator_metric(r#"htx_reconciles_total{kind="Database",result="success"}"#)
            .await
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
        let api = self.api();
        let spec: DatabaseSpec = serde_json::from_value(serde_json::json!({
            "engine": "postgresql", "sku": "db-s-1vcpu-1gb"
        }))
        .unwrap();
        let mut waves = Vec::new();
        for worker in 0..16 {
            let api = api.clone();
            let spec = spec.clone();
            let prefix = prefix.to_owned();
            waves.push(tokio::spawn(async move {
                for i in (worker..count).step_by(16) {
                    let db = Database::new(&format!("{prefix}-{i:05}"), spec.clone());
                    api.create(&PostParams::default(), &db).await.unwrap();
                }
            }));
        }
        for wave in waves {
            wave.await.unwrap();
        }
    }

    async fn wait_all_ready(&self, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let list = self.api().list(&ListParams::default()).await.unwrap().items;
            let ready = list
                .iter()
                .filter(|db| {
                    db.status.as_ref().is_some_and(|s| {
                        s.managed
                            .conditions
                            .iter()
                            .any(|c| c.type_ == "Ready" && c.status == "True")
                    })
                })
                .count();
            if ready >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {ready} of {count} Ready in time"
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
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
