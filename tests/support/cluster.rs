//! Finding (or bringing up) the Kubernetes cluster the tests run against.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Set it to the kubeconfig of an existing cluster (kind, k3d, a real one, or one that
/// `hack/local-cluster.sh up` started) and the tests use that cluster as it is.
pub const KUBECONFIG_ENV: &str = "HTX_E2E_KUBECONFIG";

/// The user `hack/local-cluster.sh` gives a token but no RBAC binding; impersonated
/// when a cluster has no `kubeconfig-unprivileged` beside its kubeconfig.
pub const UNPRIVILEGED_USER: &str = "htx-tester";

/// The root of this repository.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the tests bring up their own control plane when `HTX_E2E_KUBECONFIG` is unset.
pub fn cluster_dir() -> PathBuf {
    repo_root().join(".e2e").join("cluster")
}

/// The admin kubeconfig of the cluster under test.
///
/// `HTX_E2E_KUBECONFIG` if set; otherwise `hack/local-cluster.sh up <repo>/.e2e/cluster`
/// (idempotent, under a lock file so that parallel test processes share one control
/// plane) and its `kubeconfig`. Blocks: the first run on a machine builds Kubernetes.
/// The control plane it starts is left running for the next test process; stop it
/// with `hack/local-cluster.sh down .e2e/cluster` (`hack/test.sh` does).
pub fn kubeconfig_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "{KUBECONFIG_ENV}={} is not a file (unset it to let the tests start a local control plane)",
                p.display()
            );
            return p;
        }
        bring_up("local-cluster.sh", &cluster_dir())
    })
    .clone()
}

/// The kubeconfig of the identity without any RBAC binding, when the cluster has one
/// (`kubeconfig-unprivileged` beside the admin kubeconfig, as `hack/local-cluster.sh`
/// writes it).
pub fn unprivileged_kubeconfig_path() -> Option<PathBuf> {
    let admin = kubeconfig_path();
    let p = admin.parent()?.join("kubeconfig-unprivileged");
    p.is_file().then_some(p)
}

/// `hack/<script> up <dir>` (a script that writes `<dir>/kubeconfig`), once at a time across
/// test processes; the path of that kubeconfig.
pub fn bring_up(script: &str, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    // One `up` at a time across the test processes of a run (nextest runs every test in
    // its own process). The script is idempotent: the first one starts the control
    // plane, the others find it healthy and return at once.
    let lock_path = dir.with_extension("lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock_path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", lock_path.display()));

    let script = repo_root().join("hack").join(script);
    let output = Command::new("bash")
        .arg(&script)
        .arg("up")
        .arg(dir)
        .env_remove(KUBECONFIG_ENV)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        // Progress lines (a first build takes minutes) go straight to the terminal.
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    drop(lock);
    assert!(
        output.status.success(),
        "`{} up {}` failed ({}); see its output above and the logs in {}",
        script.display(),
        dir.display(),
        output.status,
        dir.display()
    );
    let kubeconfig = dir.join("kubeconfig");
    assert!(
        kubeconfig.is_file(),
        "{} missing after `{} up`",
        kubeconfig.display(),
        script.display()
    );
    kubeconfig
}

/// A client from a kubeconfig file (its current context).
pub async fn client_from(path: &Path) -> Client {
    let config = config_from(path).await;
    Client::try_from(config)
        .unwrap_or_else(|e| panic!("cannot build a client from {}: {e}", path.display()))
}

async fn config_from(path: &Path) -> Config {
    let kubeconfig = Kubeconfig::read_from(path)
        .unwrap_or_else(|e| panic!("cannot read kubeconfig {}: {e}", path.display()));
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {}: {e}", path.display()))
}

async fn kubeconfig_path_async() -> PathBuf {
    tokio::task::spawn_blocking(kubeconfig_path)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// An admin client for the cluster under test (see [`kubeconfig_path`]).
pub async fn client() -> Client {
    client_from(&kubeconfig_path_async().await).await
}

/// A client for an identity without RBAC bindings: the cluster's
/// `kubeconfig-unprivileged` if it has one, else the admin impersonating
/// [`UNPRIVILEGED_USER`].
pub async fn unprivileged_client() -> Client {
    let admin = kubeconfig_path_async().await;
    if let Some(p) = unprivileged_kubeconfig_path() {
        return client_from(&p).await;
    }
    let mut config = config_from(&admin).await;
    config.auth_info.impersonate = Some(UNPRIVILEGED_USER.to_string());
    config.auth_info.impersonate_groups = Some(vec!["system:authenticated".to_string()]);
    Client::try_from(config).expect("impersonating client")
}
