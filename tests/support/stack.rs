//! The whole product for one end-to-end test: the CRDs, a namespace, an in-process portal
//! simulator, the token Secret and the operator as its own process (as it runs without a
//! kubelet), watching only that namespace.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use htx_operator::api::crds_without_rules;
use htx_operator::providers::htx::sim::{
    Product, RunningSim, Scope, SimConfig, Simulator, TokenSpec,
};
use htx_operator::providers::paas::sim as paas;
use htx_operator::providers::ways::sim as ways;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use tokio::process::{Child, Command};

use super::{TestNamespace, client_from, kubeconfig_path, unique_name, wait_for};

/// The tokens every stack's simulator knows. Each test gets its own simulator, so these only
/// need to be unique per stack where a test looks for them in logs.
pub const READ_TOKEN: &str = "htx_e2e_read";
/// Tokens scoped to one product.
pub const DATABASES_TOKEN: &str = "htx_e2e_databases";
pub const FUNCTIONS_TOKEN: &str = "htx_e2e_functions";
/// The Secret holding the WaysCloud key the operator uses by default (key `token`).
pub const WAYS_KEY_SECRET: &str = "ways-key";

/// The Secret holding the PaaS key the operator uses by default (key `token`).
pub const PAAS_KEY_SECRET: &str = "paas-key";

/// A PaaS simulator beside the HTX one, and the full key of the stack's account.
pub struct PaasPortal {
    pub sim: paas::RunningSim,
    pub key: String,
    pub account: String,
}

/// A WaysCloud simulator beside the HTX one, and the full key of the stack's customer.
pub struct WaysPortal {
    pub sim: ways::RunningSim,
    pub key: String,
    pub customer: String,
}

pub struct Stack {
    pub client: Client,
    pub ns: TestNamespace,
    /// More namespaces the operator watches (see [`Stack::add_namespace`]).
    pub others: Vec<TestNamespace>,
    pub sim: RunningSim,
    /// The full-scope token in the default token Secret.
    pub token: String,
    /// With [`StackOptions::ways`]: the WaysCloud portal, its key the operator's default.
    pub ways: Option<WaysPortal>,
    /// With [`StackOptions::paas`]: the PaaS portal, its key the operator's default.
    pub paas: Option<PaasPortal>,
    operator: Option<Child>,
    operator_args: Vec<String>,
    kubeconfig: PathBuf,
    log: PathBuf,
}

/// What differs between tests.
pub struct StackOptions {
    pub sim: SimConfig,
    /// Another cluster than the shared test cluster (see [`super::kubeconfig_path`]).
    pub kubeconfig: Option<PathBuf>,
    /// `htx-operator run` flags besides the portal, token Secret, namespace and metrics address.
    pub operator_args: Vec<String>,
    /// A WaysCloud simulator too (its keys: the stack adds its own full one).
    pub ways: Option<ways::SimConfig>,
    /// A PaaS simulator too (its keys: the stack adds its own full one).
    pub paas: Option<paas::SimConfig>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            sim: SimConfig {
                rate_per_minute: 120,
                provision_delay: Duration::from_millis(500),
                backup_delay: Duration::from_millis(500),
                ..SimConfig::default()
            },
            operator_args: vec!["--poll".into(), "1s".into()],
            kubeconfig: None,
            ways: None,
            paas: None,
        }
    }
}

/// The default token Secret's name, in the test namespace.
pub const TOKEN_SECRET: &str = "portal-token";

impl Stack {
    pub async fn start(options: StackOptions) -> Self {
        let mut stack = Self::start_without_operator(options).await;
        stack.start_operator();
        stack
    }

    /// Everything but the operator process, for tests that run it their own way (another
    /// identity, several replicas: see `support::OperatorProcess`).
    pub async fn start_without_operator(options: StackOptions) -> Self {
        let kubeconfig = options.kubeconfig.unwrap_or_else(kubeconfig_path);
        let client = client_from(&kubeconfig).await;
        // Without their validation rules, whatever the cluster's version: these tests test the
        // operator's own checks, which clusters before 1.25 rely on and which the rules would
        // pre-empt on newer ones (1.20 refuses the rules anyway). tests/admission.rs tests them.
        install_crds(&client, crds_without_rules()).await;
        let ns = TestNamespace::new(&client).await;
        let token = format!("htx_{}", unique_name("full").replace('-', "_"));
        let mut sim_config = options.sim;
        sim_config.tokens.push(TokenSpec::new(&token, Scope::Full));
        sim_config
            .tokens
            .push(TokenSpec::new(READ_TOKEN, Scope::Read));
        sim_config
            .tokens
            .push(TokenSpec::new(DATABASES_TOKEN, Scope::Databases));
        sim_config
            .tokens
            .push(TokenSpec::new(FUNCTIONS_TOKEN, Scope::Functions));
        let sim = Simulator::start(sim_config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the simulator starts");
        let ways = match options.ways {
            Some(config) => Some(WaysPortal::start(config).await),
            None => None,
        };
        let paas = match options.paas {
            Some(config) => Some(PaasPortal::start(config).await),
            None => None,
        };
        let stack = Self {
            log: std::env::temp_dir().join(format!("{}-operator.log", ns.name())),
            client,
            ns,
            others: Vec::new(),
            sim,
            token,
            ways,
            paas,
            operator: None,
            operator_args: options.operator_args,
            kubeconfig,
        };
        stack.put_token(TOKEN_SECRET, &stack.token.clone()).await;
        if let Some(ways) = &stack.ways {
            stack.put_token(WAYS_KEY_SECRET, &ways.key).await;
        }
        if let Some(paas) = &stack.paas {
            stack.put_token(PAAS_KEY_SECRET, &paas.key).await;
        }
        stack
    }

    /// The PaaS portal of a stack started with [`StackOptions::paas`].
    pub fn paas(&self) -> &PaasPortal {
        self.paas
            .as_ref()
            .expect("the stack was started with a PaaS simulator")
    }

    /// The WaysCloud portal of a stack started with [`StackOptions::ways`].
    pub fn ways(&self) -> &WaysPortal {
        self.ways
            .as_ref()
            .expect("the stack was started with a WaysCloud simulator")
    }

    /// Writes `token` into the Secret `name` (key `token`) in the test namespace.
    pub async fn put_token(&self, name: &str, token: &str) {
        self.put_token_in(self.ns.name(), name, token).await;
    }

    /// Writes `token` into the Secret `name` (key `token`) in `namespace`.
    pub async fn put_token_in(&self, namespace: &str, name: &str, token: &str) {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
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
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(patch),
            )
            .await
            .expect("the token Secret is written");
    }

    /// Another namespace for the operator to watch (a second tenant), before it starts; its
    /// objects are deleted and it goes with the stack.
    pub async fn add_namespace(&mut self) -> usize {
        assert!(
            self.operator.is_none(),
            "add namespaces before the operator starts"
        );
        self.others.push(TestNamespace::new(&self.client).await);
        self.others.len() - 1
    }

    /// Replaces the `htx-operator run` flags besides the portal, token Secret, namespaces and
    /// metrics address, for the next [`Stack::start_operator`].
    pub fn set_operator_args(&mut self, args: Vec<String>) {
        self.operator_args = args;
    }

    /// Starts the operator process (again, after [`Stack::kill_operator`]).
    pub fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "the operator is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the operator log opens");
        let child = Command::new(env!("CARGO_BIN_EXE_htx-operator"))
            .arg("run")
            .args(["--portal-url", &self.sim.url()])
            .args([
                "--token-secret",
                &format!("{}/{TOKEN_SECRET}", self.ns.name()),
            ])
            .args(["--namespace", self.ns.name()])
            .args(
                self.others
                    .iter()
                    .flat_map(|other| ["--namespace", other.name()]),
            )
            .args(["--metrics-addr", "127.0.0.1:0"])
            .args(self.ways.iter().flat_map(|ways| {
                let default = format!(
                    "WaysCloud:{}/{WAYS_KEY_SECRET},url={}",
                    self.ns.name(),
                    ways.sim.url()
                );
                ["--provider-default".to_owned(), default]
            }))
            .args(self.paas.iter().flat_map(|paas| {
                let default = format!(
                    "Paas:{}/{PAAS_KEY_SECRET},url={}",
                    self.ns.name(),
                    paas.sim.url()
                );
                ["--provider-default".to_owned(), default]
            }))
            .args(&self.operator_args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "RUST_LOG",
                "debug,hyper=info,tower=info,rustls=info,h2=info",
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("the operator starts");
        self.operator = Some(child);
    }

    /// Kills the operator at once (SIGKILL): no shutdown, no last writes.
    pub async fn kill_operator(&mut self) {
        if let Some(mut child) = self.operator.take() {
            child.kill().await.expect("the operator is killed");
        }
    }

    /// Waits until the portal has accepted a create whose answer it holds (see the simulator's
    /// `hold_creates`), kills the operator before it hears back, then lets the portal answer
    /// (to nobody). The portal resource exists; the operator's status does not know it.
    pub async fn kill_operator_once_a_create_is_held(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.sim.hooks().held() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the create never reached the portal"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill_operator().await;
        self.sim.hooks().hold_creates(false);
    }

    /// The operator's `/metrics` text (its address comes from its log: it binds a free port).
    pub async fn metrics(&self) -> String {
        let log = self.operator_log();
        let addr = log
            .lines()
            .rev()
            .find(|line| line.contains("serving /healthz, /readyz and /metrics"))
            .and_then(|line| line.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the operator logged its metrics address");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .and_then(|response| response.error_for_status())
            .expect("the operator serves /metrics")
            .text()
            .await
            .unwrap()
    }

    /// The value of one sample of the operator's metrics, 0 when absent.
    pub async fn metric(&self, sample: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(sample)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Everything the operator process logged so far.
    pub fn operator_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        self.ns.api()
    }

    /// Runs kubectl against the test cluster in the test namespace; returns (success, output).
    pub async fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(["--namespace", self.ns.name()])
            .args(args)
            .output()
            .await
            .expect("kubectl runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    /// Deletes the test's objects while the operator still runs (so their finalizers come
    /// off), checks that nothing is left at the portal and that no token reached the log, stops
    /// the operator, deletes the namespace.
    pub async fn finish(self) {
        self.finish_leaving(Product::Databases, &[]).await;
    }

    /// [`Stack::finish`] for a test that left portal resources on purpose (orphaned, made out of
    /// band): exactly `kept` of `product` may remain, and nothing else anywhere.
    pub async fn finish_leaving(self, product: Product, kept: &[&str]) {
        self.finish_with(product, kept, &[]).await;
    }

    /// [`Stack::finish`] for a test that left these WaysCloud databases on purpose.
    pub async fn finish_leaving_ways(self, kept: &[&str]) {
        self.finish_with(Product::Databases, &[], kept).await;
    }

    async fn finish_with(mut self, product: Product, kept: &[&str], ways_kept: &[&str]) {
        let namespaces: Vec<String> = std::iter::once(&self.ns)
            .chain(&self.others)
            .map(|ns| ns.name().to_owned())
            .collect();
        for namespace in &namespaces {
            self.delete_all::<htx_operator::api::BackupSchedule>(namespace)
                .await;
            self.delete_all::<htx_operator::api::Backup>(namespace)
                .await;
            self.delete_all::<htx_operator::api::Database>(namespace)
                .await;
            self.delete_all::<htx_operator::api::Function>(namespace)
                .await;
            self.delete_all::<htx_operator::api::Proxy>(namespace).await;
            // Before their databases: a snapshot is deleted with its database's credentials.
            self.delete_all::<htx_operator::api::WaysRestore>(namespace)
                .await;
            self.delete_all::<htx_operator::api::WaysSnapshot>(namespace)
                .await;
            self.delete_all::<htx_operator::api::WaysDatabase>(namespace)
                .await;
            self.delete_all::<htx_operator::api::PaasWebService>(namespace)
                .await;
            self.delete_all::<htx_operator::api::PaasBucket>(namespace)
                .await;
            self.delete_all::<htx_operator::api::PaasDatabase>(namespace)
                .await;
            self.delete_all::<htx_operator::api::PaasRedis>(namespace)
                .await;
            // Projects last: the API cannot delete them (they are orphaned), and what lives in
            // them goes first.
            self.delete_all::<htx_operator::api::PaasProject>(namespace)
                .await;
        }
        if let Some(paas) = &self.paas {
            let left: Vec<String> = [paas::Kind::WebServices, paas::Kind::Databases]
                .into_iter()
                .chain([paas::Kind::Redis, paas::Kind::Buckets])
                .flat_map(|kind| paas.sim.hooks().resources(kind))
                .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            assert!(
                left.is_empty(),
                "PaaS resources left after every object was deleted: {left:?}"
            );
        }
        if let Some(ways) = &self.ways {
            let left: Vec<String> = ways
                .sim
                .hooks()
                .databases()
                .into_iter()
                .map(|db| db.db_name)
                .filter(|name| !ways_kept.contains(&name.as_str()))
                .collect();
            assert!(
                left.is_empty(),
                "WaysCloud databases left after every object was deleted: {left:?}"
            );
        }
        for each in Product::ALL {
            let mut left: Vec<String> = self
                .sim
                .hooks()
                .resources(each)
                .iter()
                .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
                .collect();
            left.sort();
            let mut expected: Vec<String> = if each == product {
                kept.iter().map(|name| (*name).to_owned()).collect()
            } else {
                Vec::new()
            };
            expected.sort();
            assert_eq!(
                left,
                expected,
                "{} left at the portal after every object was deleted",
                each.as_str()
            );
        }
        let log = self.operator_log();
        let ways_key = self.ways.as_ref().map_or("", |ways| ways.key.as_str());
        let paas_key = self.paas.as_ref().map_or("", |paas| paas.key.as_str());
        let tokens = [
            self.token.as_str(),
            READ_TOKEN,
            DATABASES_TOKEN,
            FUNCTIONS_TOKEN,
        ]
        .into_iter()
        .chain((!ways_key.is_empty()).then_some(ways_key))
        .chain((!paas_key.is_empty()).then_some(paas_key));
        assert!(
            tokens.into_iter().all(|token| !log.contains(token)),
            "a portal token appears in the operator's log {}",
            self.log.display()
        );
        self.kill_operator().await;
        for other in std::mem::take(&mut self.others) {
            other.cleanup().await;
        }
        self.ns.cleanup().await;
    }
}

impl Stack {
    /// Deletes every object of kind `K` in `namespace` and waits until they are gone.
    async fn delete_all<K>(&self, namespace: &str)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        match api
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
        {
            Ok(_) => {}
            // The test deleted the namespace itself.
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) => panic!("cannot delete the {}s: {e}", K::kind(&())),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = api
                .list(&ListParams::default())
                .await
                .unwrap_or_else(|e| panic!("cannot list the {}s: {e}", K::kind(&())));
            if left.items.is_empty() {
                return;
            }
            let names: Vec<String> = left.items.iter().map(|o| o.name_any()).collect();
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}s still there a minute after they were deleted: {names:?} (operator log: {})",
                K::kind(&()),
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Applies these CRDs (server-side, idempotent) and waits until they are served.
pub async fn install_crds(client: &Client, crds: Vec<CustomResourceDefinition>) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd.name_any();
        let mut patch = serde_json::to_value(&crd).unwrap();
        patch["apiVersion"] = "apiextensions.k8s.io/v1".into();
        patch["kind"] = "CustomResourceDefinition".into();
        api.patch(
            &name,
            &PatchParams::apply("e2e").force(),
            &Patch::Apply(patch),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot apply CRD {name}: {e}"));
        wait_for(
            &api,
            &name,
            "the CRD is established",
            Duration::from_secs(30),
            |crd| {
                crd.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
            },
        )
        .await;
    }
}

impl WaysPortal {
    async fn start(mut config: ways::SimConfig) -> Self {
        let customer = unique_name("c").replace('-', "");
        let key = format!("wk_{}", unique_name("full").replace('-', "_"));
        config.keys.push(ways::KeySpec::full(&key, &customer));
        let sim = ways::Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the WaysCloud simulator starts");
        Self { sim, key, customer }
    }
}

impl PaasPortal {
    async fn start(mut config: paas::SimConfig) -> Self {
        let account = unique_name("acct");
        let key = format!("ak_live_{}", unique_name("full").replace('-', "_"));
        config.keys.push(paas::KeySpec::new(&key, &account));
        let sim = paas::Simulator::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .expect("the PaaS simulator starts");
        Self { sim, key, account }
    }
}
