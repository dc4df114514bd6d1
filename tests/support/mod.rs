//! Test harness for integration tests against a real Kubernetes API server.
//!
//! ```ignore
//! mod support;
//! use support::{client, wait_for, TestNamespace};
//!
//! let client = client().await;                      // HTX_E2E_KUBECONFIG, or a local control plane
//! let ns = TestNamespace::new(&client).await;       // htx-e2e-<random>, deleted on drop
//! let cms: Api<ConfigMap> = ns.api();
//! let cm = wait_for(&cms, "x", "configmap x has data", Duration::from_secs(30), |cm| cm.data.is_some()).await;
//! ns.cleanup().await;
//! ```
//!
//! The cluster: `HTX_E2E_KUBECONFIG` if set (kind, k3d, a real cluster), otherwise
//! `hack/local-cluster.sh up <repo>/.e2e/cluster`, shared by every test process of the
//! run and left running afterwards (`hack/local-cluster.sh down .e2e/cluster` stops it).
#![allow(dead_code)]

mod cluster;
mod container;
mod current;
mod lifecycle;
mod namespace;
mod objects;
mod operator;
mod stack;
mod wait;

#[allow(unused_imports)]
pub use cluster::{
    KUBECONFIG_ENV, UNPRIVILEGED_USER, client, client_from, cluster_dir, kubeconfig_path,
    repo_root, unprivileged_client, unprivileged_kubeconfig_path,
};
#[allow(unused_imports)]
pub use container::{IMAGE_ENV, Image, PodContainer, PodIdentity, TempDir};
#[allow(unused_imports)]
pub use current::{
    CURRENT_KUBECONFIG_ENV, current_client, current_dir, current_kubeconfig_path, current_kubectl,
};
#[allow(unused_imports)]
pub use lifecycle::database_lifecycle;
#[allow(unused_imports)]
pub use namespace::{KEEP_NAMESPACES_ENV, TEST_NAMESPACE_LABEL, TestNamespace, unique_name};
#[allow(unused_imports)]
pub use objects::{
    create, create_databases, is_ready, not_ready_because, object, patch_spec, ready,
};
#[allow(unused_imports)]
pub use operator::{
    HelmRelease, Metrics, OperatorProcess, service_account_kubeconfig, service_account_token,
};
#[allow(unused_imports)]
pub use stack::{
    DATABASES_TOKEN, FUNCTIONS_TOKEN, PAAS_KEY_SECRET, READ_TOKEN, Stack, StackOptions,
    TOKEN_SECRET, WAYS_KEY_SECRET, install_crds,
};
#[allow(unused_imports)]
pub use wait::{all_ready, events_report, wait_for, wait_for_deletion};
