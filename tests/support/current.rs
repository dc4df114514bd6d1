//! The current API server of `hack/current-apiserver.sh` (Kubernetes' apiextensions-apiserver,
//! 1.36 today): CRDs and custom resources, and nothing else (no Namespaces, Secrets, Events,
//! RBAC). The CRDs' validation rules, columns and server-side apply are tested there; the operator
//! is tested on the 1.20 control plane.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use kube::Client;

use super::cluster::{bring_up, client_from, repo_root};

/// Set it to the kubeconfig of a running current API server (`hack/current-apiserver.sh env`
/// prints it) and the tests use it as it is.
pub const CURRENT_KUBECONFIG_ENV: &str = "HTX_CURRENT_KUBECONFIG";

/// Where the tests bring the server up when `HTX_CURRENT_KUBECONFIG` is unset; it is left
/// running for the next test process (`hack/current-apiserver.sh down .e2e/current` stops it).
pub fn current_dir() -> PathBuf {
    repo_root().join(".e2e").join("current")
}

/// The kubeconfig of the current API server (group `system:masters`).
pub fn current_kubeconfig_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os(CURRENT_KUBECONFIG_ENV).filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "{CURRENT_KUBECONFIG_ENV}={} is not a file (unset it to let the tests start one)",
                p.display()
            );
            return p;
        }
        bring_up("current-apiserver.sh", &current_dir())
    })
    .clone()
}

/// An admin client of the current API server.
pub async fn current_client() -> Client {
    let path = tokio::task::spawn_blocking(current_kubeconfig_path)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    client_from(&path).await
}

/// The kubectl on PATH (a current one) against the current API server, with `stdin` as its
/// input; (success, stdout, stderr).
pub fn current_kubectl(args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(current_kubeconfig_path())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut input = child.stdin.take().expect("kubectl's stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .expect("kubectl reads its input");
    drop(input);
    let output = child.wait_with_output().expect("kubectl finishes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
