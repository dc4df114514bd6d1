//! The operator's image (`hack/image.sh`), and a pod of the chart run from it with runc the way
//! a kubelet runs it: the pod's user, security context and memory limit, the ServiceAccount
//! token where in-cluster configuration reads it, and the host's network (the API server and
//! the portal simulator listen on loopback). runc and umoci need root.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec};
use serde_json::{Value, json};
use tokio::process::Command as AsyncCommand;

use super::{OperatorProcess, Stack, kubeconfig_path, repo_root, unique_name, wait_for};

/// Set it to an OCI layout that `hack/image.sh` built and the tests use that image; otherwise
/// each test builds its own (`hack/test.sh` builds it once and sets this).
pub const IMAGE_ENV: &str = "HTX_E2E_IMAGE";

/// An OCI image layout with one image in it.
pub struct Image {
    pub layout: PathBuf,
    _built: Option<TempDir>,
}

impl Image {
    /// The image of `HTX_E2E_IMAGE`, or one built now from this checkout.
    pub fn get() -> Self {
        match std::env::var_os(IMAGE_ENV).filter(|p| !p.is_empty()) {
            Some(layout) => Self {
                layout: PathBuf::from(layout),
                _built: None,
            },
            None => Self::build(),
        }
    }

    /// `hack/image.sh` into a temporary directory (removed on drop).
    pub fn build() -> Self {
        let dir = TempDir::new("image");
        let layout = dir.0.join("layout");
        let mut command = Command::new(repo_root().join("hack/image.sh"));
        // What cargo sets for this test (CARGO_MANIFEST_DIR, CARGO_PKG_NAME …) must not reach
        // the build scripts of the nested cargo: ring's watch them, and would build again.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CARGO_") && key != "CARGO_HOME" {
                command.env_remove(key);
            }
        }
        let status = command
            .arg(&layout)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("hack/image.sh runs");
        assert!(status.success(), "hack/image.sh failed");
        Self {
            layout,
            _built: Some(dir),
        }
    }

    /// The `docker load`-able archive written beside the layout.
    pub fn archive(&self) -> PathBuf {
        self.layout.with_extension("tar")
    }

    pub fn index(&self) -> Value {
        read_json(&self.layout.join("index.json"))
    }

    /// The image manifest's digest, `sha256:…`.
    pub fn digest(&self) -> String {
        let index = self.index();
        let manifests = index["manifests"]
            .as_array()
            .expect("index.json lists manifests");
        assert_eq!(manifests.len(), 1, "one image in {}", self.layout.display());
        manifests[0]["digest"].as_str().unwrap().to_owned()
    }

    /// The tag (`org.opencontainers.image.ref.name`).
    pub fn tag(&self) -> String {
        self.index()["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("the image is tagged")
            .to_owned()
    }

    pub fn blob(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.layout.join("blobs/sha256").join(hex)
    }

    pub fn manifest(&self) -> Value {
        read_json(&self.blob(&self.digest()))
    }

    /// The image configuration (user, entrypoint, environment, layers).
    pub fn config(&self) -> Value {
        read_json(&self.blob(self.manifest()["config"]["digest"].as_str().unwrap()))
    }

    /// `umoci unpack`: the image's root filesystem and the runtime configuration that the
    /// image's configuration gives, in the bundle directory `bundle`.
    pub fn unpack(&self, bundle: &Path) {
        run(Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{}", self.layout.display(), self.tag()))
            .arg(bundle));
    }
}

/// A directory under the system's temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(unique_name(&format!("htx-e2e-{what}")));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `command`, panicking with its output when it fails; returns its stdout.
fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e} (hack/test.sh installs umoci and runc)"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Where the runc state of the tests' containers lives (not the machine's default).
fn runc_root() -> PathBuf {
    std::env::temp_dir().join("htx-e2e-runc")
}

/// What a pod of the chart gets besides its spec: its name and namespace, and its
/// ServiceAccount's token.
pub struct PodIdentity<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub token: &'a str,
}

/// The first container of a pod, running in the image under runc; deleted on drop.
pub struct PodContainer {
    pub operator: OperatorProcess,
    id: String,
    _dir: TempDir,
}

impl PodContainer {
    /// Runs the first container of `pod` from `image` with `args` in place of the container's
    /// own (a test points them at its simulator), as `identity`.
    pub async fn run(
        stack: &Stack,
        image: &Image,
        pod: &PodSpec,
        args: &[String],
        identity: PodIdentity<'_>,
    ) -> Self {
        let dir = TempDir::new("pod");
        let bundle = dir.0.join("bundle");
        image.unpack(&bundle);
        let secrets = dir.0.join("serviceaccount");
        std::fs::create_dir(&secrets).unwrap();
        let ca = root_ca(stack).await;
        for (file, content) in [
            ("token", identity.token),
            ("ca.crt", ca.as_str()),
            ("namespace", identity.namespace),
        ] {
            std::fs::write(secrets.join(file), content).unwrap();
        }
        let mut config = read_json(&bundle.join("config.json"));
        kubelet_config(&mut config, &image.config(), pod, args, &identity, &secrets);
        std::fs::write(
            bundle.join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();

        let id = unique_name("htx-e2e");
        let mut command = AsyncCommand::new("runc");
        command
            .arg("--root")
            .arg(runc_root())
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(&id);
        let operator = OperatorProcess::spawn_command(stack, identity.name, command);
        Self {
            operator,
            id,
            _dir: dir,
        }
    }

    /// The container's main process, as the host sees it (`runc state`).
    pub fn pid(&self) -> u32 {
        let state: Value = serde_json::from_str(&run(Command::new("runc")
            .arg("--root")
            .arg(runc_root())
            .args(["state", &self.id])))
        .expect("runc state answers JSON");
        state["pid"].as_u64().expect("the container runs") as u32
    }

    /// `/proc/PID/FILE` of the container's main process.
    pub fn proc(&self, file: &str) -> String {
        let path = format!("/proc/{}/{file}", self.pid());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

impl Drop for PodContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(runc_root())
            .args(["delete", "--force", &self.id])
            .output();
    }
}

/// The cluster's CA certificate as pods get it (the ConfigMap kube-root-ca.crt that
/// kube-controller-manager publishes in every namespace).
async fn root_ca(stack: &Stack) -> String {
    let configmap = wait_for(
        &stack.api::<ConfigMap>(),
        "kube-root-ca.crt",
        "kube-controller-manager publishes the cluster's CA",
        std::time::Duration::from_secs(60),
        |_| true,
    )
    .await;
    configmap
        .data
        .and_then(|mut data| data.remove("ca.crt"))
        .expect("kube-root-ca.crt has ca.crt")
}

/// Turns the runtime configuration that umoci derived from the image into the one a kubelet
/// would give the pod's first container.
fn kubelet_config(
    config: &mut Value,
    image: &Value,
    pod: &PodSpec,
    args: &[String],
    identity: &PodIdentity,
    secrets: &Path,
) {
    let container = &pod.containers[0];
    let security = SecurityContext::of(pod, container);
    assert!(
        container.command.is_none(),
        "the image's entrypoint runs the operator"
    );
    let process = &mut config["process"];
    process["terminal"] = json!(false);
    let mut argv = image["config"]["Entrypoint"].as_array().unwrap().clone();
    argv.extend(args.iter().map(|arg| json!(arg)));
    process["args"] = json!(argv);
    process["env"] = json!(environment(image, container, identity));
    process["user"] = json!({"uid": security.user, "gid": security.group});
    let capabilities: Vec<&String> = security.capabilities.iter().collect();
    process["capabilities"] = json!({
        "bounding": capabilities, "effective": capabilities, "permitted": capabilities,
        "inheritable": [], "ambient": [],
    });
    process["noNewPrivileges"] = json!(!security.privilege_escalation);
    config["root"]["readonly"] = json!(security.read_only_root);
    config["hostname"] = json!(identity.name);

    // The host's network: no network namespace of its own.
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "network");
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({
        "destination": "/var/run/secrets/kubernetes.io/serviceaccount",
        "type": "bind", "source": secrets, "options": ["rbind", "ro"],
    }));
    mounts.push(json!({
        "destination": "/etc/hosts",
        "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"],
    }));
    if let Some(limit) = memory_limit(container) {
        config["linux"]["resources"]["memory"] = json!({"limit": limit});
    }
}

/// The container's environment as a kubelet builds it: the image's, the Kubernetes service's
/// address (here the test cluster's API server), then the container's own.
fn environment(image: &Value, container: &Container, identity: &PodIdentity) -> Vec<String> {
    let server = kube::config::Kubeconfig::read_from(kubeconfig_path())
        .ok()
        .and_then(|config| config.clusters.into_iter().next())
        .and_then(|cluster| cluster.cluster)
        .and_then(|cluster| cluster.server)
        .expect("the test kubeconfig names its server");
    let authority = server
        .strip_prefix("https://")
        .expect("the API server is served over https");
    let (host, port) = authority
        .trim_end_matches('/')
        .rsplit_once(':')
        .expect("the server URL has a port");
    let mut env: Vec<String> = image["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    env.push(format!("HOSTNAME={}", identity.name));
    env.push(format!("KUBERNETES_SERVICE_HOST={host}"));
    env.push(format!("KUBERNETES_SERVICE_PORT={port}"));
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) => value.clone(),
            (None, Some(from)) => match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                Some("metadata.name") => identity.name.to_owned(),
                Some("metadata.namespace") => identity.namespace.to_owned(),
                other => panic!("env {} from {other:?}: not supported here", var.name),
            },
            (None, None) => String::new(),
        };
        env.push(format!("{}={value}", var.name));
    }
    env
}

/// The pod's and the container's security context, merged as a kubelet does (the container's
/// settings win).
struct SecurityContext {
    user: i64,
    group: i64,
    read_only_root: bool,
    privilege_escalation: bool,
    capabilities: Vec<String>,
}

impl SecurityContext {
    fn of(pod: &PodSpec, container: &Container) -> Self {
        let pod_context = pod.security_context.clone().unwrap_or_default();
        let context = container.security_context.clone().unwrap_or_default();
        let user = context
            .run_as_user
            .or(pod_context.run_as_user)
            .expect("the chart sets runAsUser (the image's user is a name-less number anyway)");
        let run_as_non_root = context
            .run_as_non_root
            .or(pod_context.run_as_non_root)
            .unwrap_or(false);
        assert!(!run_as_non_root || user != 0, "runAsNonRoot with user 0");
        // Only the restricted profile's "drop everything, add what you need" is translated.
        let capabilities = context.capabilities.unwrap_or_default();
        assert_eq!(
            capabilities.drop.unwrap_or_default(),
            ["ALL"],
            "the chart drops every capability"
        );
        let added = capabilities.add.unwrap_or_default();
        Self {
            user,
            group: context
                .run_as_group
                .or(pod_context.run_as_group)
                .unwrap_or(user),
            read_only_root: context.read_only_root_filesystem.unwrap_or(false),
            privilege_escalation: context.allow_privilege_escalation.unwrap_or(true),
            capabilities: added.iter().map(|c| format!("CAP_{c}")).collect(),
        }
    }
}

/// The container's memory limit in bytes (`resources.limits.memory`: `256Mi`, `1Gi`, `500M` …).
fn memory_limit(container: &Container) -> Option<u64> {
    let quantity = container
        .resources
        .as_ref()?
        .limits
        .as_ref()?
        .get("memory")?
        .0
        .clone();
    let split = quantity
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => panic!("memory limit {quantity}: unit {other} not supported here"),
    };
    Some(number.parse::<u64>().expect("a whole number") * factor)
}
