//! Operator processes run the way a test wants: with another identity (a ServiceAccount's
//! kubeconfig), with other flags, several at once; plus their `/metrics` and `/readyz`, the Helm
//! chart installed by its SDK, and a kubeconfig for a ServiceAccount.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{PodSpec, ServiceAccount};
use kube::Api;
use kube::api::PostParams;
use kube::config::Kubeconfig;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::{Stack, TOKEN_SECRET, kubeconfig_path, repo_root};

/// One `htx-operator run` process with its own log file.
pub struct OperatorProcess {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl OperatorProcess {
    /// Starts `htx-operator` with exactly `args` (after `run`), talking to the cluster as
    /// `kubeconfig`. Its log (debug, text) goes to a file named after the test namespace and `name`.
    pub fn spawn(stack: &Stack, name: &str, kubeconfig: &Path, args: &[String]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_htx-operator"));
        command
            .arg("run")
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env(
                "RUST_LOG",
                "debug,hyper=info,tower=info,rustls=info,h2=info",
            )
            .env("HTX_LOG_FORMAT", "text")
            .env("NO_COLOR", "1")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE");
        Self::spawn_command(stack, name, command)
    }

    /// Starts `command`, an operator run some other way (in a container, say), with its output
    /// in the log file of `name`.
    pub fn spawn_command(stack: &Stack, name: &str, mut command: Command) -> Self {
        let log = std::env::temp_dir().join(format!("{}-{name}.log", stack.ns.name()));
        let file = std::fs::File::create(&log).expect("the operator log opens");
        let child = command
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{command:?} starts: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The flags the test stack's own operator gets: the simulator, the default token Secret,
    /// only the test namespace, any free port for the endpoints.
    pub fn stack_args(stack: &Stack) -> Vec<String> {
        vec![
            format!("--portal-url={}", stack.sim.url()),
            format!("--token-secret={}/{TOKEN_SECRET}", stack.ns.name()),
            format!("--namespace={}", stack.ns.name()),
            "--metrics-addr=127.0.0.1:0".into(),
            "--poll=1s".into(),
        ]
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Waits until the log has a line containing `text`.
    pub async fn wait_for_log(&self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "operator {} did not log '{text}' within {timeout:?}; its log ({}):\n{}",
                self.name,
                self.log.display(),
                tail(&self.log())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The address the endpoints listen on, from the log line the operator writes at start
    /// (`addr=…` in text logs, `"addr":"…"` in JSON ones).
    pub async fn endpoints(&self) -> SocketAddr {
        const MESSAGE: &str = "serving /healthz, /readyz and /metrics";
        self.wait_for_log(MESSAGE, Duration::from_secs(30)).await;
        let log = self.log();
        let line = log.lines().find(|line| line.contains(MESSAGE)).unwrap();
        let addr = ["addr=", "\"addr\":\""]
            .iter()
            .find_map(|key| line.split(key).nth(1))
            .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '"').next())
            .unwrap_or_default();
        addr.parse()
            .unwrap_or_else(|_| panic!("cannot parse the endpoints' address in '{line}'"))
    }

    /// `GET path` on the endpoints: (status, body).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{path}", self.endpoints().await);
        let response = reqwest::get(&url)
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn metrics(&self) -> Metrics {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200, "{text}");
        Metrics(text)
    }

    /// Waits until `/readyz` answers 200, and returns its text.
    pub async fn wait_ready(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, text) = self.get("/readyz").await;
            if status == 200 {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "operator {} not ready within {timeout:?}: {text}\n{}",
                self.name,
                tail(&self.log())
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL: no shutdown, no last writes, no Lease release.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("the operator is killed");
        }
    }

    /// SIGTERM, then waits for the process to end.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("the operator runs");
        let pid = child.id().expect("the operator runs") as i32;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        match self.wait_exit(timeout).await {
            Some(status) => status,
            None => panic!(
                "operator {} ignored SIGTERM for {timeout:?}; its log:\n{}",
                self.name,
                self.log()
            ),
        }
    }

    /// The exit status once the process ended by itself, `None` if it still runs after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let status = tokio::time::timeout(timeout, child.wait()).await.ok()?;
        self.child = None;
        Some(status.expect("waiting for the operator"))
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A `/metrics` scrape.
pub struct Metrics(pub String);

impl Metrics {
    /// The value of the sample whose name and labels are exactly `series`, e.g.
    /// `htx_reconciles_total{kind="Database",result="success"}`; 0 when absent.
    pub fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                (name == series).then(|| value.parse().ok()).flatten()
            })
            .unwrap_or(0.0)
    }

    /// The sum over every sample of `name` whose labels contain all of `labels` (`k="v"` each).
    pub fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .lines()
            .filter(|line| {
                line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} "))
            })
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    }
}

/// A token of ServiceAccount `namespace/name` (a TokenRequest, valid for an hour), as the
/// kubelet mounts it into the ServiceAccount's pods.
pub async fn service_account_token(client: &kube::Client, namespace: &str, name: &str) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for ServiceAccount {namespace}/{name}: {e}"))
        .status
        .expect("a TokenRequest answers with a token")
        .token
}

/// A kubeconfig that authenticates as ServiceAccount `namespace/name` (a TokenRequest token),
/// against the cluster of the tests' admin kubeconfig. Written next to the test logs.
pub async fn service_account_kubeconfig(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> PathBuf {
    let token = service_account_token(client, namespace, name).await;
    let admin = Kubeconfig::read_from(kubeconfig_path()).expect("the admin kubeconfig reads");
    let context_name = admin.current_context.clone().expect("a current context");
    let context = admin
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .expect("the current context exists");
    let cluster = admin
        .clusters
        .iter()
        .find(|c| c.name == context.cluster)
        .and_then(|c| c.cluster.clone())
        .expect("the context's cluster exists");
    let mut lines = vec![
        "apiVersion: v1".to_owned(),
        "kind: Config".to_owned(),
        "clusters:".to_owned(),
        "- name: test".to_owned(),
        "  cluster:".to_owned(),
        format!("    server: {}", cluster.server.expect("a server")),
    ];
    if let Some(data) = cluster.certificate_authority_data {
        lines.push(format!("    certificate-authority-data: {data}"));
    }
    if let Some(file) = cluster.certificate_authority {
        lines.push(format!("    certificate-authority: {file}"));
    }
    if cluster.insecure_skip_tls_verify == Some(true) {
        lines.push("    insecure-skip-tls-verify: true".to_owned());
    }
    lines.extend([
        "users:".to_owned(),
        format!("- name: {name}"),
        "  user:".to_owned(),
        format!("    token: {token}"),
        "contexts:".to_owned(),
        "- name: test".to_owned(),
        "  context:".to_owned(),
        "    cluster: test".to_owned(),
        format!("    user: {name}"),
        format!("    namespace: {namespace}"),
        "current-context: test".to_owned(),
    ]);
    let path = std::env::temp_dir().join(format!("{namespace}-{name}.kubeconfig"));
    std::fs::write(&path, lines.join("\n") + "\n").expect("the kubeconfig is written");
    path
}

/// The Helm chart installed by Helm 4's SDK (`hack/helm.py install`), uninstalled on drop (its
/// ClusterRole and binding outlive the namespace otherwise).
pub struct HelmRelease {
    pub name: String,
    pub namespace: String,
    installed: bool,
}

/// The Python with Helm's SDK (`hack/python-env.sh` prepares it once).
fn python() -> PathBuf {
    let output = std::process::Command::new("bash")
        .arg(repo_root().join("hack/python-env.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("hack/python-env.sh runs");
    assert!(output.status.success(), "hack/python-env.sh failed");
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

impl HelmRelease {
    /// `helm install NAME charts/htx-operator -n NAMESPACE --skip-crds --set-json …` for each
    /// `values` entry (`key=json`). The tests install the CRDs themselves ([`super::install_crds`]:
    /// without their validation rules before Kubernetes 1.25, where Helm cannot apply them).
    pub fn install(name: &str, namespace: &str, values: &[String]) -> Self {
        let mut command = std::process::Command::new(python());
        command
            .current_dir(repo_root())
            .arg("hack/helm.py")
            .args(["install", name, "--namespace", namespace, "--skip-crds"])
            .arg("--kubeconfig")
            .arg(kubeconfig_path());
        for value in values {
            command.args(["--set-json", value]);
        }
        let output = command.output().expect("hack/helm.py runs");
        assert!(
            output.status.success(),
            "helm install {name} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            installed: true,
        }
    }

    /// `helm uninstall`; panics when it fails.
    pub fn uninstall(mut self) {
        self.installed = false;
        let output = self.run_uninstall().expect("hack/helm.py runs");
        assert!(
            output.status.success(),
            "helm uninstall {} failed: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn run_uninstall(&self) -> std::io::Result<std::process::Output> {
        std::process::Command::new(python())
            .current_dir(repo_root())
            .arg("hack/helm.py")
            .args(["uninstall", &self.name, "--namespace", &self.namespace])
            .arg("--kubeconfig")
            .arg(kubeconfig_path())
            .output()
    }

    /// The chart's full name for this release (ServiceAccount, roles, Deployment).
    pub fn fullname(&self) -> String {
        format!("{}-htx-operator", self.name)
    }

    /// The operator container's arguments (after `run`) as the chart rendered them, with the
    /// portal at `portal_url` and the endpoints on any free loopback port.
    pub async fn operator_args(&self, client: &kube::Client, portal_url: &str) -> Vec<String> {
        let pod = self.pod_spec(client).await;
        let args = pod.containers[0]
            .args
            .clone()
            .expect("the container has args");
        assert_eq!(args[0], "run");
        args[1..]
            .iter()
            .map(|arg| {
                if arg.starts_with("--portal-url=") {
                    format!("--portal-url={portal_url}")
                } else if arg.starts_with("--metrics-addr=") {
                    "--metrics-addr=127.0.0.1:0".to_owned()
                } else {
                    arg.clone()
                }
            })
            .collect()
    }

    /// The pod of the release's Deployment, as the chart rendered it.
    pub async fn pod_spec(&self, client: &kube::Client) -> PodSpec {
        Api::<Deployment>::namespaced(client.clone(), &self.namespace)
            .get(&self.fullname())
            .await
            .expect("the chart's Deployment exists")
            .spec
            .and_then(|spec| spec.template.spec)
            .expect("the Deployment has a pod template")
    }
}

impl Drop for HelmRelease {
    /// A test that failed half-way still removes the release's cluster-wide objects.
    fn drop(&mut self) {
        if !self.installed {
            return;
        }
        let output = self.run_uninstall();
        if !output.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("helm uninstall {} failed: {output:?}", self.name);
        }
    }
}
